"""``difficult-customer play``: be the agent and talk to a difficult customer in the terminal.

Usage::

    difficult-customer play --persona naturally_difficult --seed 7
    difficult-customer play --teacher          # hidden anger/trust, belief, advice
    difficult-customer play --record recordings  # save the finished conversation on this machine

Pick a move with its key (1-6; the move names are shown), read the customer's reply,
and at the end see the outcome, the return, the normalized score of the conversation and
the first turn where the belief-based reference policy would have chosen differently (with the
oracle's choice). ``--teacher`` shows, after every turn, the hidden anger and trust as
gauges, the belief over persona and the move values of the oracle and the belief-based
reference policy. ``q``, Ctrl-D or the end of the input leave the game; Ctrl-C stops it; neither prints a traceback.
``--record DIR`` saves the conversation, once finished, as a JSON file in DIR on this machine
(:mod:`difficult_customer.experiments.library.recordings`); a conversation left early is not saved.

The game logic is :class:`difficult_customer.experiments.teaching.session.Session`; this module only draws it
(with rich, in plain ASCII that fits 80 columns) and reads keys. :mod:`difficult_customer.experiments.teaching.watch`
shows the same screen with a policy making the moves.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.recordings import notice, recording_folder, try_save
from difficult_customer.experiments.teaching.session import MOVE_KEYS, MOVE_NAMES, Session, parse_key

GAUGE_WIDTH = 20
"""Characters inside a gauge's brackets."""

_TONE_STYLES = {"calm": "green", "tense": "yellow", "angry": "bold yellow", "hostile": "bold red"}


def gauge(value: float, maximum: float, width: int = GAUGE_WIDTH) -> str:
    """An ASCII gauge, e.g. ``[#####...............]`` for 1 of 4.

    Args:
        value: the value shown.
        maximum: the value of a full gauge (> 0).
        width: characters inside the brackets.
    """
    filled = 0 if maximum <= 0 else round(width * min(max(value / maximum, 0.0), 1.0))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def line_style(line: str) -> str:
    """The rich style of a transcript line: agent, customer (by tone), stage direction."""
    text = line.strip()
    if text.startswith("---") or (text.startswith("[") and not text[1:3].strip().isdigit()):
        return "dim"
    if text.startswith("["):
        return "bold cyan"
    if text.startswith("Customer ["):
        tone = text[len("Customer [") :].split(",", 1)[0]
        return _TONE_STYLES.get(tone, "")
    return ""


def transcript_renderables(lines: list[str]) -> list[Any]:
    """Transcript lines as rich Text objects (never parsed as markup: lines contain brackets)."""
    from rich.text import Text  # optional extra (rich)

    return [Text(line.rstrip(), style=line_style(line)) for line in lines]


def teacher_renderables(state: dict[str, Any]) -> list[Any]:
    """The teacher's panel: hidden gauges, belief over persona, the oracle's and the reference policy's move values."""
    from rich.text import Text  # optional extra (rich)

    view = state["teacher"]
    if view is None:
        return []
    hidden = view["hidden"]
    out = [Text("  teacher view (the student does not see this)", style="bold magenta")]
    anger_names = ("calm", "annoyed", "upset", "angry", "furious")
    trust_names = ("none", "low", "some", "high")
    anger, trust = int(hidden["anger"]), int(hidden["trust"])
    out.append(
        Text(
            f"  anger    {gauge(anger, 4)} {anger}/4 {anger_names[anger]:<8} belief ~{view['expected_anger']:.1f}",
            style="red",
        )
    )
    out.append(
        Text(
            f"  trust    {gauge(trust, 3)} {trust}/3 {trust_names[trust]:<8} belief ~{view['expected_trust']:.1f}",
            style="green",
        )
    )
    out.append(Text(f"  patience {gauge(int(hidden['patience']), 4)} {hidden['patience']}/4", style="blue"))
    out.append(Text(f"  persona  {hidden['persona']} (abuse: {hidden['abuse']}, heard: {hidden['heard']})"))
    out.append(Text("  belief over persona:"))
    for name, p in view["persona_belief"].items():
        out.append(Text(f"    {name:<20} {p:4.2f} {gauge(p, 1.0)}"))
    advice = view["advice"]
    if advice is not None:
        out.append(Text(f"  move values ({advice['believer']} sees what the agent sees; the oracle sees all):"))
        out.append(Text("    key move            belief   oracle"))
        best_b, best_o = advice["belief_best"], advice["oracle_best"]
        for key, name in zip(MOVE_KEYS, MOVE_NAMES, strict=True):
            marks = ", ".join(m for m, on in (("best", name == best_b), ("oracle's best", name == best_o)) if on)
            row = f"    {key}   {name:<14}  {advice['belief_q'][name]:+.3f}   {advice['oracle_q'][name]:+.3f}"
            out.append(Text(row + (f"  <- {marks}" if marks else ""), style="bold" if name == best_b else ""))
    return out


def summary_renderable(summary: dict[str, Any]) -> Any:
    """The end-of-conversation panel."""
    from rich import box  # optional extra (rich)
    from rich.panel import Panel
    from rich.text import Text

    style = {"solved_and_followed_up": "green", "solved": "yellow"}.get(summary["outcome"], "red")
    body = Text("\n".join(summary["lines"]))
    return Panel(body, title="End of the conversation", border_style=style, box=box.ASCII, expand=True)


class Screen:
    """Prints a session turn by turn: new transcript lines, then the teacher's panel.

    Args:
        console: a rich console.
        teacher: show the teacher's panel after every turn.
    """

    def __init__(self, console: Any, teacher: bool = False) -> None:
        self.console = console
        self.teacher = teacher
        self.shown = 0

    def header(self, session: Session, who: str) -> None:
        """The first lines: who plays, which customer, the seed."""
        persona = "hidden (mixture)" if session.persona == "mixture" else session.persona
        ablate = f", ablate {' '.join(session.ablate)}" if session.ablate else ""
        self.console.print(
            f"Difficult customer | persona {persona} | seed {session.seed} | {session.max_turns} turns{ablate}",
            style="bold",
            markup=False,
            highlight=False,
        )
        self.console.print(who, markup=False, highlight=False)

    def update(self, session: Session) -> dict[str, Any]:
        """Print what is new since the last update; returns the state shown."""
        state = session.state(teacher=self.teacher)
        lines = state["transcript"]
        for text in transcript_renderables(lines[self.shown :]):
            self.console.print(text)
        self.shown = len(lines)
        for text in teacher_renderables(state):
            self.console.print(text)
        if state["summary"] is not None:
            self.console.print(summary_renderable(state["summary"]))
        return state


def read_key(stream: IO[str] | None = None) -> str | None:
    """One key press from a terminal, or one line from a pipe; None at the end of input.

    On a terminal (POSIX) the key is read without waiting for Enter; an escape sequence
    (an arrow key) arrives whole, as one string. Elsewhere a whole line is read.
    """
    stream = sys.stdin if stream is None else stream
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):
        is_tty = False
    if is_tty:
        try:
            import select  # POSIX only: imported where the fallback can catch it
            import termios
            import tty
        except ImportError:  # not POSIX: fall back to lines
            pass
        else:
            fd = stream.fileno()
            old = termios.tcgetattr(fd)
            try:
                tty.setcbreak(fd)
                data = os.read(fd, 1)
                if data == b"\x1b":  # an escape sequence (arrow keys ...): keep it whole, it is one bad key
                    while select.select([fd], [], [], 0.05)[0] and len(data) < 16:
                        data += os.read(fd, 16)
                elif data and data[0] >= 0x80:  # the rest of a UTF-8 character
                    while select.select([fd], [], [], 0)[0] and len(data) < 4:
                        data += os.read(fd, 1)
            finally:
                termios.tcsetattr(fd, termios.TCSADRAIN, old)
            return None if data == b"" else data.decode("utf-8", errors="replace")
    line = stream.readline()
    return None if line == "" else line


def moves_menu() -> list[str]:
    """The move keys in two rows of three (fits 80 columns)."""
    cells = [f"{key} {name}" for key, name in zip(MOVE_KEYS, MOVE_NAMES, strict=True)]
    return ["  " + "".join(f"{cell:<21}" for cell in cells[i : i + 3]).rstrip() for i in (0, 3)]


def choose_move(console: Any, read: Callable[[], str | None]) -> int | None:
    """Ask for a move until a good key comes; None when the player quits or input ends."""
    for row in moves_menu():
        console.print(row, markup=False, highlight=False)
    while True:
        console.print("Your move (1-6, q quits): ", end="", markup=False, highlight=False)
        key = read()
        if key is None:
            console.print("\n(end of input)", markup=False)
            return None
        if key in ("\n", "\r", " "):  # a stray Enter on a terminal: ask again
            console.print()
            continue
        shown = key.strip()
        console.print(shown if shown.isprintable() and shown else repr(key), markup=False, highlight=False)
        try:
            return parse_key(key.strip() or key)
        except ValueError as error:
            console.print(f"  {error}", style="red", markup=False, highlight=False)


@dataclass
class ContextConfig:
    """Options shared by ``play`` and ``watch``: which conversation, and whether to show the teacher's view."""

    persona: str = "mixture"
    """customer persona: mixture (one of three drawn and hidden), genuine_grievance, naturally_difficult,
    belligerent or reasonable"""
    seed: int | None = None
    """conversation seed, 0 to 2147483647 (default: a random one, shown, so the conversation can be played again)"""
    max_turns: int = DEFAULT_MAX_TURNS
    """turn limit, 1 to 64"""
    ablate: tuple[str, ...] = ()
    """claims (C1-C10) or other switches of the customer model (A1-A17, D1) to turn off, e.g. --ablate C4 C7"""
    teacher: bool = False
    """after every turn show the hidden anger and trust, the belief over persona and the move values of the oracle
    and the belief-based reference policy"""
    depth: Literal[0, 1] = 1
    """belief-based reference policy compared with: 0 QMDP, 1 belief lookahead"""

    def session(self, policy: str | None = None) -> Session:
        """The conversation these options describe (``policy`` plays it, or the person at the keys).

        Raises:
            ValueError: for a bad persona, seed, turn limit or switch id, naming it.
        """
        return Session(persona=self.persona, seed=self.seed, max_turns=self.max_turns, ablate=self.ablate,
                       policy=policy, depth=self.depth)


def make_console(width: int | None = None) -> Any:
    """A rich console for the game (no syntax highlighting of numbers)."""
    from rich.console import Console  # optional extra (rich)

    return Console(highlight=False, width=width)


def require_rich() -> bool:
    """Whether rich is importable; prints how to install it otherwise."""
    try:
        import rich  # noqa: F401  (optional extra: checks it is installed)
    except ImportError:
        print("error: the terminal game needs rich: pip install rich (or pip install -e '.[teach]')", file=sys.stderr)
        return False
    return True


@dataclass
class Config(ContextConfig):
    """``difficult-customer play``: be the agent in the terminal, one move per key (1-6)."""

    record: Path | None = None
    """save the conversation, once finished, as a JSON file in this folder on this machine (off by default)"""


def save(session: Session, console: Any, record: Path) -> None:
    """Save the finished conversation in ``record`` and print where; a failure is printed, never raised."""
    saved = try_save(session, record)
    if saved.path is None:
        console.print(saved.error[0].upper() + saved.error[1:], style="red", markup=False, highlight=False)
    else:
        console.print(f"Recorded: {saved.path}", markup=False, highlight=False)


def play(session: Session, console: Any, read: Callable[[], str | None], teacher: bool = False,
         record: str | Path | None = None) -> int:
    """Run the game on ``session`` until it ends or the player quits. Returns the exit status.

    Args:
        session: a person's conversation.
        console: a rich console to draw on.
        read: gives one key or line per call, None at the end of input.
        teacher: show the teacher's panel after every turn.
        record: a folder to save the conversation in once it is finished (None: not saved).
    """
    screen = Screen(console, teacher)
    screen.header(session, "You are the agent. Read the customer and pick a move by its number.")
    if record is not None:
        console.print(notice(record), markup=False, highlight=False)
    screen.update(session)
    while not session.done:
        move = choose_move(console, read)
        if move is None:
            turns = f"{session.turn} turn{'' if session.turn == 1 else 's'}"
            console.print(f"You left the conversation after {turns}.", markup=False)
            first = session.first_difference()
            if first is not None:
                console.print(
                    f"So far the first move the belief-based reference policy would have made differently: turn "
                    f"{first.turn}, {MOVE_NAMES[first.move]} instead of {MOVE_NAMES[first.belief_best]}.",
                    markup=False,
                )
            if record is not None:
                console.print("Not recorded: only finished conversations are saved.", markup=False, highlight=False)
            return 0
        session.move(move)
        screen.update(session)
    if record is not None:
        save(session, console, Path(record))
    return 0


def main(config: Config) -> int:
    """``difficult-customer play``: run the game that ``config`` describes. Returns the exit status."""
    if not require_rich():
        return 2
    try:
        session = config.session()
        record = None if config.record is None else recording_folder(config.record)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    console = make_console()
    try:
        return play(session, console, read_key, teacher=config.teacher, record=record)
    except KeyboardInterrupt:
        console.print(f"\nStopped (Ctrl-C) after {session.turn} turns.", markup=False)
        return 130


if __name__ == "__main__":
    from difficult_customer.experiments import cli

    raise SystemExit(cli.main(["play", *sys.argv[1:]]))
