"""People's conversations, recorded: one JSON file per finished conversation, read back and replayed.

``difficult-customer play --record DIR`` and ``serve --record DIR`` call :func:`save_recording`
each time a person finishes a conversation (never for a policy's replay): the setting
(persona, switches, turn limit), the conversation's seed, the moves and the rewards they
earned, the outcome and the return, when (UTC) and with which version of the project. No
host name, user name or address is written: nothing that identifies the player.

:func:`read_recordings` reads a folder of them and replays each conversation as
``CustomerEnv.reset(seed=seed)`` stepped with its moves would go: a file that is not a recording
of this format, or whose replay disagrees with it (other rewards, or a conversation not over
after its moves), is skipped with the reason; the others are kept. :func:`replay` gives, per
setting, the :class:`~difficult_customer.envs.rollout.Rollout` of its recordings (row ``i`` is
``recordings[i]``, ``rollout.seeds[i]`` its seed), from which a dataset can be written.

Usage::

    path = save_recording(session, "recordings")       # once session.done, for a person's game
    recordings, skipped = read_recordings("recordings")
    for group in replay(recordings):
        group.setting.persona, group.rollout.seeds, group.rollout.observations(0)
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from difficult_customer.agents.base import PolicyContext
from difficult_customer.customer_models import PERSONA_NAMES, Move, Outcome
from difficult_customer.customer_models.switches import SWITCHES
from difficult_customer.envs.rollout import Rollout, rollout
from difficult_customer.experiments.library.io import atomic_write_json
from difficult_customer.experiments.teaching.session import MAX_SEED, MAX_TURNS_LIMIT, Session

FORMAT_NAME = "difficult-customer/recording"
"""The ``format`` field of every recording file."""
FORMAT_VERSION = 1
"""The ``format_version`` field this module writes and reads."""
_ENDINGS = tuple(o.name for o in Outcome if o is not Outcome.ongoing)


@dataclass(frozen=True)
class Recording:
    """One finished conversation played by a person.

    Attributes:
        persona: the customer setting, e.g. ``"mixture"`` (the persona drawn is hidden in it).
        ablate: switch ids turned off (``("C4",)``), sorted.
        max_turns: the turn limit.
        seed: the conversation's seed: ``CustomerEnv.reset(seed=seed)`` gives the same conversation.
        moves: the move ids played (0 listen ... 5 follow_up), in order.
        rewards: the reward each move earned.
        return_: the conversation's return (the sum of ``rewards``).
        outcome: how it ended (``info["outcome"]`` of the env: ``solved``, ``timed_out``, ...).
        recorded_at: when it was saved, UTC, ISO 8601.
        project_version: the version of difficult-customer that recorded it.
        format: :data:`FORMAT_NAME`.
        format_version: :data:`FORMAT_VERSION`.
    """

    persona: str
    ablate: tuple[str, ...]
    max_turns: int
    seed: int
    moves: tuple[int, ...]
    rewards: tuple[float, ...]
    return_: float
    outcome: str
    recorded_at: str
    project_version: str
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION

    @property
    def setting(self) -> Setting:
        """The setting the conversation was played in (what :func:`replay` groups by)."""
        return Setting(self.persona, self.ablate, self.max_turns)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of the file (fields in :data:`FIELDS` order; ``return_`` as ``return``)."""
        data = asdict(self)
        data["return"] = data.pop("return_")
        data["ablate"], data["moves"], data["rewards"] = list(self.ablate), list(self.moves), list(self.rewards)
        return {name: data[name] for name in FIELDS}

    @classmethod
    def from_dict(cls, data: Any) -> Recording:
        """A recording from a file's JSON object, every field checked.

        Raises:
            ValueError: naming the first bad field, its value and what is allowed.
        """
        if not isinstance(data, dict):
            raise ValueError(f"the file holds a JSON {type(data).__name__}; allowed: a JSON object of a recording")
        missing = [name for name in FIELDS if name not in data]
        unknown = sorted(set(data) - set(FIELDS))
        if data.get("format") != FORMAT_NAME:
            raise ValueError(f"format {data.get('format')!r}; allowed: {FORMAT_NAME!r}")
        if data.get("format_version") != FORMAT_VERSION or isinstance(data.get("format_version"), bool):
            raise ValueError(f"format_version {data.get('format_version')!r}; allowed: {FORMAT_VERSION}")
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}; a recording has: {', '.join(FIELDS)}")
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
        persona = data["persona"]
        if not isinstance(persona, str) or persona not in PERSONA_NAMES:
            raise ValueError(f"persona {persona!r} is unknown; allowed: {', '.join(PERSONA_NAMES)}")
        ablate = data["ablate"]
        if not isinstance(ablate, list) or not all(isinstance(a, str) for a in ablate):
            raise ValueError(f"ablate {ablate!r}; allowed: a list of switch ids ({', '.join(SWITCHES)})")
        bad = [a for a in ablate if a not in SWITCHES]
        if bad:
            raise ValueError(f"ablate: switch {bad[0]!r} is unknown; allowed: {', '.join(SWITCHES)}")
        max_turns = _integer(data["max_turns"], "max_turns", 1, MAX_TURNS_LIMIT)
        seed = _integer(data["seed"], "seed", 0, MAX_SEED)
        moves = data["moves"]
        if not isinstance(moves, list):
            raise ValueError(f"moves {moves!r:.80}; allowed: a list of move ids 0-{len(Move) - 1}")
        for turn, move in enumerate(moves):
            _integer(move, f"moves[{turn}]", 0, len(Move) - 1, f" ({', '.join(f'{m.value} {m.name}' for m in Move)})")
        if not 1 <= len(moves) <= max_turns:
            raise ValueError(f"{len(moves)} moves with max_turns {max_turns}; allowed: 1 to {max_turns} moves")
        rewards = data["rewards"]
        if not isinstance(rewards, list) or not all(_is_number(r) for r in rewards):
            raise ValueError(f"rewards {rewards!r:.80}; allowed: a list of finite numbers, one per move")
        if len(rewards) != len(moves):
            raise ValueError(f"{len(rewards)} rewards for {len(moves)} moves; allowed: one reward per move")
        total = data["return"]
        if not _is_number(total) or not math.isclose(total, math.fsum(rewards), rel_tol=1e-9, abs_tol=1e-9):
            raise ValueError(f"return {total!r}; allowed: the sum of the rewards ({math.fsum(rewards)!r})")
        outcome = data["outcome"]
        if outcome not in _ENDINGS:
            raise ValueError(f"outcome {outcome!r}; allowed: {', '.join(_ENDINGS)}")
        recorded_at = data["recorded_at"]
        try:
            datetime.fromisoformat(recorded_at)
        except (TypeError, ValueError):
            raise ValueError(f"recorded_at {recorded_at!r}; allowed: an ISO 8601 time") from None
        version = data["project_version"]
        if not isinstance(version, str) or not version:
            raise ValueError(f"project_version {version!r}; allowed: a version string such as '0.1.0'")
        ablate, moves, rewards = tuple(sorted(set(ablate))), tuple(moves), tuple(float(r) for r in rewards)
        return cls(persona, ablate, max_turns, seed, moves, rewards, float(total), outcome, recorded_at, version)


FIELDS: tuple[str, ...] = ("format", "format_version", *(f.name.rstrip("_") for f in fields(Recording)[:-2]))
"""The fields of a recording file, in the order written (``return`` is :attr:`Recording.return_`)."""


class Setting(NamedTuple):
    """A conversation's setting: everything but the seed that fixes its random course."""

    persona: str
    ablate: tuple[str, ...]
    max_turns: int


class Skipped(NamedTuple):
    """A file :func:`read_recordings` left out, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class ReplayGroup(NamedTuple):
    """The recordings of one setting, replayed (also unpacks as ``setting, rollout, recordings``).

    Row ``i`` of ``rollout`` is ``recordings[i]``: ``rollout.seeds[i] == recordings[i].seed``.
    """

    setting: Setting
    rollout: Rollout
    recordings: list[Recording]


def _integer(value: Any, name: str, low: int, high: int, names: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}={value!r:.40}; allowed: an integer from {low} to {high}{names}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def project_version() -> str:
    """The installed version of difficult-customer (``"unknown"`` when it is not installed)."""
    try:
        return metadata.version("difficult-customer")
    except metadata.PackageNotFoundError:
        return "unknown"


def recording_of(session: Session) -> Recording:
    """The :class:`Recording` of a person's finished conversation.

    Raises:
        ValueError: for a conversation that is not over, or one a policy played.
    """
    if session.policy is not None:
        raise ValueError(
            f"this conversation was played by policy {session.policy!r}; allowed: only conversations a person played"
        )
    if not session.done:
        raise ValueError(
            f"the conversation is not over (turn {session.turn} of {session.max_turns}); allowed: only finished ones"
        )
    summary, history = session.summary(), list(session.history)
    setting = (session.persona, tuple(session.ablate), session.max_turns, int(session.seed))
    played = (tuple(int(d.move) for d in history), tuple(float(d.reward) for d in history))
    ending = (float(summary["return"]), str(summary["outcome"]))
    return Recording(
        *setting, *played, *ending, datetime.now(UTC).isoformat(timespec="microseconds"), project_version()
    )


def recording_folder(folder: str | Path) -> Path:
    """``folder``, created if needed, for recordings; a ValueError naming the problem if it cannot be one."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot record in {str(folder)!r}: {error}; allowed: a folder that can be written") from None
    return Path(folder)


def notice(folder: str | Path) -> str:
    """The line that says recording is on (the page and ``play`` show it)."""
    return f"Recording: finished conversations are saved on this machine in {folder} (nothing leaves this machine)."


def save_recording(session: Session, folder: str | Path) -> Path:
    """Write a person's finished conversation to ``folder`` (created if needed) as one JSON file, atomically.

    Returns the path written: ``<UTC time>-seed<seed>-<6 random hex digits>.json``, a name that
    cannot collide with another recording's (an existing file is never overwritten).

    Raises:
        ValueError: for a conversation that is not over, or one a policy played.
        OSError: if the file cannot be written.
    """
    record = recording_of(session)
    folder = Path(folder)
    stamp = datetime.fromisoformat(record.recorded_at).strftime("%Y-%m-%dT%H-%M-%S.%fZ")
    while True:
        path = folder / f"{stamp}-seed{record.seed}-{secrets.token_hex(3)}.json"
        if not path.exists():
            return atomic_write_json(path, record.as_dict())


class Saved(NamedTuple):
    """What :func:`try_save` did: the file written, or why nothing was."""

    path: Path | None
    error: str = ""


def try_save(session: Session, folder: str | Path) -> Saved:
    """:func:`save_recording`, with a failure (a full disk, a folder that cannot be written) returned, not raised:
    the games report it and go on."""
    try:
        return Saved(save_recording(session, folder))
    except Exception as error:  # whatever went wrong, the game must not stop
        return Saved(None, f"the conversation was not recorded: {type(error).__name__}: {error}")


def read_recordings(folder: str | Path) -> tuple[list[Recording], list[Skipped]]:
    """Every recording in ``folder`` (its ``*.json`` files, by name), checked by replaying it.

    A file is skipped (with the reason) when it is not a recording of this format (not
    JSON, a field missing or of the wrong type, an unknown persona or switch, a move
    outside 0-5, more moves than the turn limit, another format name or version) or when
    its replay disagrees with it: other rewards or outcome, a conversation that ended
    before its last move, or one that had not ended after it (a truncated recording).

    Returns:
        ``(recordings, skipped)``, both in file-name order.

    Raises:
        ValueError: when ``folder`` does not exist, is not a folder or holds no ``*.json`` file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ValueError(f"recordings folder {str(folder)!r} does not exist; allowed: a folder of *.json recordings")
    if not folder.is_dir():
        raise ValueError(f"recordings folder {str(folder)!r} is not a folder; allowed: a folder of *.json recordings")
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise ValueError(f"recordings folder {str(folder)!r} holds no recording (*.json file)")
    parsed: list[tuple[Path, Recording]] = []
    skipped: list[Skipped] = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            skipped.append(Skipped(path, f"cannot be read: {error}"))
            continue
        except json.JSONDecodeError as error:
            skipped.append(Skipped(path, f"not JSON ({error}); allowed: a JSON recording"))
            continue
        try:
            parsed.append((path, Recording.from_dict(data)))
        except ValueError as error:
            skipped.append(Skipped(path, str(error)))
    problems: list[str | None] = [None] * len(parsed)
    for rows, group in _replay_groups([r for _, r in parsed]):
        for j, i in enumerate(rows):
            problems[i] = _problem(group.recordings[j], group.rollout, j)
    kept = [r for (_, r), problem in zip(parsed, problems, strict=True) if problem is None]
    skipped += [Skipped(p, problem) for (p, _), problem in zip(parsed, problems, strict=True) if problem is not None]
    skipped.sort(key=lambda s: s.path)
    return kept, skipped


class ReplayPolicy:
    """Plays each row's recorded moves, one per call, in SB3's ``predict`` form.

    Row ``i`` plays ``moves[i]`` in order; after they run out, or once its conversation
    has ended and :func:`~difficult_customer.envs.rollout.rollout` restarted it (``episode_start``
    set after the first call), it plays move 0, which the rollout does not record. The
    turn counts travel in the ``state`` that ``predict`` returns.
    """

    def __init__(self, moves: Sequence[Sequence[int]]) -> None:
        longest = max((len(m) for m in moves), default=0)
        self.lengths = np.array([len(m) for m in moves], dtype=np.int64)
        self.moves = np.zeros((len(moves), longest + 1), dtype=np.int64)
        for i, row in enumerate(moves):
            self.moves[i, : len(row)] = row

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's recorded move for its turn (0 when none is left), and the new turn counts."""
        n = self.lengths.shape[0]
        if np.asarray(observation).shape[0] != n:
            raise ValueError(f"{np.asarray(observation).shape[0]} observations; allowed: {n}, one per recording")
        turn = np.zeros(n, dtype=np.int64) if state is None else np.array(state, dtype=np.int64)
        if state is not None and episode_start is not None:  # a restarted row: its recording is over
            turn[np.asarray(episode_start, dtype=bool).reshape(-1)] = self.lengths.max() + 1
        column = np.minimum(turn, self.moves.shape[1] - 1)
        actions = np.where(turn < self.lengths, self.moves[np.arange(n), column], 0)
        return actions, turn + 1


def _replay_groups(recordings: Iterable[Recording]) -> list[tuple[list[int], ReplayGroup]]:
    """Per setting (sorted), the indices of its recordings and their replay."""
    recordings = list(recordings)
    by_setting: dict[Setting, list[int]] = {}
    for i, record in enumerate(recordings):
        by_setting.setdefault(record.setting, []).append(i)
    out = []
    for setting in sorted(by_setting):
        rows = by_setting[setting]
        group = [recordings[i] for i in rows]
        tables = PolicyContext.create(*setting).tables  # what a teaching Session of the setting plays on
        played = rollout(
            ReplayPolicy([r.moves for r in group]), tables, seeds=[r.seed for r in group], max_turns=setting.max_turns
        )
        out.append((rows, ReplayGroup(setting, played, group)))
    return out


def _problem(record: Recording, played: Rollout, i: int) -> str | None:
    """Why row ``i`` of ``played`` disagrees with ``record`` (None when it agrees)."""
    n, turns = len(record.moves), int(played.turns[i])
    if turns > n:
        return f"truncated: the conversation had not ended after its {n} moves; allowed: a finished conversation"
    if turns < n:
        return f"the conversation ended after {turns} moves but the recording has {n}; allowed: moves up to the end"
    if not np.allclose(played.rewards[i, :n], record.rewards):
        return f"rewards {list(record.rewards)} differ from the replay's {played.rewards[i, :n].tolist()}"
    outcome = played.outcome_names()[i]
    if record.outcome != outcome:
        return f"outcome {record.outcome!r} differs from the replay's {outcome!r}"
    return None


def replay(recordings: Iterable[Recording]) -> list[ReplayGroup]:
    """Replay recordings through :func:`~difficult_customer.envs.rollout.rollout`, one batch per setting.

    Each conversation is ``CustomerEnv.reset(seed=record.seed)`` stepped with the recorded
    moves, in the tables a teaching session of that setting uses.

    Returns:
        One :class:`ReplayGroup` per setting, sorted by setting; within a group the
        recordings keep their order, and row ``i`` of its rollout is ``recordings[i]``.

    Raises:
        ValueError: when a recording disagrees with its replay (naming it and how), e.g. a
            truncated one: :func:`read_recordings` skips those.
    """
    groups = [group for _, group in _replay_groups(recordings)]
    for group in groups:
        for i, record in enumerate(group.recordings):
            problem = _problem(record, group.rollout, i)
            if problem is not None:
                raise ValueError(f"recording of seed {record.seed} in {group.setting}: {problem}")
    return groups
