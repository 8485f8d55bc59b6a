"""Write the pretrained agents (``agents/pretrained/``) from a sweep store of ``train_jax`` runs.

For each JAX learner found in the store (``ppo_jax`` -> ``ppo_converged``, ``gru_ppo_jax`` ->
``recurrent_converged``) it picks one trained seed, copies its ``model.npz`` to
``<out>/<name>.npz`` and records it in ``<out>/pretrained.json``: the learner, what it
reads, the persona it was trained on, its steps and seed, its normalized final score
(exact for the MLP, with a 95% interval where it was sampled), the run's settings and the
command that regenerates it. ``--pick best-iqm`` (the default) takes the run with the
highest IQM over seeds (the most reliable settings) and its best seed; ``--pick best-seed``
the best seed of any run. Entries of other names already in the file are kept, so stores
of separate studies (one per learner) can be written one after the other. Every file is
written atomically; a model over 1 MB is refused. The agents register on the next import
of ``difficult_customer.agents`` and play in numpy (no jax).

Example: difficult-customer pretrained --store results/sweeps/tune-ppo_jax --out agents/pretrained
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from difficult_customer.agents.exact.evaluation import Z95
from difficult_customer.agents.jax_models import MODEL_FILE, RECURRENT
from difficult_customer.agents.learned import PRETRAINED, PRETRAINED_INDEX, READS, describe_score, read_pretrained
from difficult_customer.agents.numpy_networks import NumpyNetworkPolicy
from difficult_customer.envs.observation import PARTIAL_SIZE
from difficult_customer.experiments.library.io import atomic_write_json
from difficult_customer.experiments.library.sweep.store import Store

NAMES: dict[str, str] = {"ppo_jax": "ppo_converged", "gru_ppo_jax": "recurrent_converged"}
"""The pretrained agent each JAX learner becomes."""

MAX_MODEL_BYTES = 1_000_000
"""The largest model file copied into the package (1 MB): pretrained agents ship with it."""

RUN_KIND = "train_jax"
"""The kind of sweep run whose models are read."""


@dataclass
class Config:
    """Settings of ``difficult-customer pretrained``."""

    store: str
    """The sweep results store (a folder with runs.sqlite and artifacts/) of train_jax runs."""
    out: str | None = None
    """Folder to write <name>.npz and pretrained.json to; by default the installed package's agents/pretrained."""
    persona: str = "mixture"
    """Use only runs trained on this persona (and without ablations)."""
    pick: Literal["best-iqm", "best-seed"] = "best-iqm"
    """best-iqm: the best seed of the run with the highest IQM over its seeds; best-seed: the best seed of any run."""


@dataclass(frozen=True)
class Choice:
    """One picked model: the run's row, the seed's index in it, and how many runs it was picked from."""

    algo: str
    row: dict[str, Any]
    index: int
    runs: int

    @property
    def seed(self) -> int:
        return int(self.row["result"]["seeds"][self.index])

    @property
    def model(self) -> str:
        """The artifact path of the seed's model inside the run's folder."""
        return f"seed{self.seed}/{MODEL_FILE}"


def _number(value: Any) -> float:
    """``value`` as a float for ranking: NaN and missing values rank last."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return -math.inf
    return -math.inf if math.isnan(number) else number


def _check_row(row: dict[str, Any]) -> None:
    result = row["result"]
    missing = [k for k in ("seeds", "final", "final_stderr", "curve_source", "steps") if k not in result]
    if missing:
        raise ValueError(f"run {row['run_id']}: its result lacks {', '.join(missing)}")
    if not (len(result["seeds"]) == len(result["final"]) == len(result["final_stderr"]) >= 1):
        raise ValueError(f"run {row['run_id']}: seeds, final and final_stderr differ in length")


def candidates(rows: list[dict[str, Any]], persona: str) -> dict[str, list[dict[str, Any]]]:
    """The ``train_jax`` rows per learner (``ppo_jax``, ``gru_ppo_jax``) on ``persona`` without ablations."""
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        settings = row["settings"]
        if (row["kind"] == RUN_KIND and settings.get("algo") in NAMES and settings.get("persona") == persona
                and not settings.get("ablate")):
            _check_row(row)
            found.setdefault(settings["algo"], []).append(row)
    return found


def choose(algo: str, rows: list[dict[str, Any]], pick: str) -> Choice:
    """The model to ship for ``algo``: see ``--pick``. Ties go to the first run (by run id) and seed."""
    if pick == "best-iqm":
        row = max(rows, key=lambda r: _number(r["result"].get("iqm")))
    elif pick == "best-seed":
        row = max(rows, key=lambda r: max(_number(v) for v in r["result"]["final"]))
    else:
        raise ValueError(f"pick={pick!r}; allowed: best-iqm, best-seed")
    finals = [_number(v) for v in row["result"]["final"]]
    return Choice(algo, row, finals.index(max(finals)), len(rows))


def score_of(choice: Choice) -> dict[str, Any]:
    """The picked seed's normalized final score: a point where exact, else +-1.96 standard errors."""
    result = choice.row["result"]
    value = float(result["final"][choice.index])
    exact = result["curve_source"] == "exact"
    half = 0.0 if exact else Z95 * float(result["final_stderr"][choice.index])
    return {"normalized": value, "low": value - half, "high": value + half, "source": "exact" if exact else "sampled"}


def learner_text(algo: str, settings: dict[str, Any]) -> str:
    """A one-line description of the network and how it was trained."""
    hidden = [int(h) for h in settings.get("hidden", [])]
    if algo in RECURRENT:
        heads = f", heads {tuple(hidden[1:])}" if len(hidden) > 1 else ""
        return f"embedding {hidden[0] if hidden else '?'} -> GRU {settings.get('gru_size')}{heads}; PPO in JAX"
    return f"MLP {tuple(hidden)} tanh actor-critic; PPO in JAX"


def regenerate_command(config: Config, out: Path) -> str:
    """The command line that writes these files again."""
    words = ["difficult-customer", "pretrained", "--store", config.store, "--out", str(out)]
    if config.persona != "mixture":
        words += ["--persona", config.persona]
    if config.pick != "best-iqm":
        words += ["--pick", config.pick]
    return shlex.join(words)


def entry_for(choice: Choice, data: bytes, config: Config, out: Path) -> dict[str, Any]:
    """The ``pretrained.json`` entry of a picked model (its bytes are ``data``)."""
    row, settings = choice.row, choice.row["settings"]
    name = NAMES[choice.algo]
    iqm = _number(row["result"].get("iqm"))
    how = (f"the best of {len(row['result']['seeds'])} seeds of the run with the highest IQM"
           f"{f' ({iqm:.3f})' if math.isfinite(iqm) else ''}" if config.pick == "best-iqm" else "the best seed")
    return {
        "file": f"{name}.npz",
        "algo": choice.algo,
        "learner": learner_text(choice.algo, settings),
        "reads": READS[choice.algo],
        "trained_on": settings["persona"],
        "max_turns": settings.get("max_turns"),
        "steps": int(row["result"]["steps"][-1]),
        "seed": choice.seed,
        "score": score_of(choice),
        "selection": f"{how} among {choice.runs} {choice.algo} runs",
        "run": {"store": config.store, "run_id": row["run_id"], "study": row.get("study")},
        "sha256": hashlib.sha256(data).hexdigest(),
        "settings": settings,
        "regenerate": regenerate_command(config, out),
    }


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a new temporary file in the same folder and a rename (as io's atomic writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:  # created with the umask's permissions, as any new file
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_model(store: Store, choice: Choice) -> bytes:
    """The picked model's bytes, checked: at most :data:`MAX_MODEL_BYTES`, of the run's learner, and it plays.

    Raises:
        ValueError: for a missing, oversized or malformed model.
    """
    path = store.artifact_dir(choice.row["run_id"]) / choice.model
    if not path.is_file():
        raise ValueError(f"run {choice.row['run_id']} has no artifact {choice.model} ({path})")
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ValueError(f"{path} is {size:,} bytes; a pretrained model may be at most {MAX_MODEL_BYTES:,} bytes "
                         "(1 MB), as it ships inside the package: train a smaller network")
    policy = NumpyNetworkPolicy(path)  # a malformed file or layout is a ValueError naming it
    if policy.algo != choice.algo:
        raise ValueError(f"{path} holds a {policy.algo} model, but its run trained {choice.algo}")
    policy.predict(np.zeros(PARTIAL_SIZE, dtype=np.float32), None, np.ones(1, dtype=bool))
    return path.read_bytes()


def write_pretrained(config: Config) -> dict[str, dict[str, Any]]:
    """Pick, check and write the models and ``pretrained.json``; returns the entries written.

    Every model is checked before anything is written; the models are written before the
    JSON that lists them, so the JSON never names a missing file.

    Raises:
        ValueError: for a missing store, no suitable runs, a malformed row, or a bad model.
    """
    if not (Path(config.store) / "runs.sqlite").is_file():
        raise ValueError(f"no sweep store at {config.store!r} (no runs.sqlite there)")
    out = Path(config.out) if config.out is not None else PRETRAINED
    existing = read_pretrained(out)  # a malformed file is an error here, not overwritten blindly
    store = Store(config.store)
    found = candidates(store.rows(), config.persona)
    if not found:
        raise ValueError(f"no {RUN_KIND} runs of {' or '.join(NAMES)} on persona {config.persona!r} without "
                         f"ablations in {config.store!r}")
    picked = {NAMES[algo]: choose(algo, found[algo], config.pick) for algo in NAMES if algo in found}
    models = {name: read_model(store, choice) for name, choice in picked.items()}
    entries = {name: entry_for(choice, models[name], config, out) for name, choice in picked.items()}
    for name, data in models.items():
        _atomic_write_bytes(out / f"{name}.npz", data)
    atomic_write_json(out / PRETRAINED_INDEX, {**existing, **entries})
    return entries


def main(config: Config) -> int:
    """Write the pretrained agents and print one line each; 2 on bad input."""
    try:
        entries = write_pretrained(config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(config.out) if config.out is not None else PRETRAINED
    for name, entry in entries.items():
        print(f"{name}: {entry['algo']} seed {entry['seed']}, {entry['steps']:,} steps on {entry['trained_on']}, "
              f"normalized score {describe_score(entry['score'])} (run {entry['run']['run_id']}) -> "
              f"{out / entry['file']}")
    print(f"wrote {out / PRETRAINED_INDEX}")
    return 0


__all__ = ["MAX_MODEL_BYTES", "NAMES", "Choice", "Config", "candidates", "choose", "main", "write_pretrained"]
