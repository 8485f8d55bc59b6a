"""Command line: ``difficult-customer <command> [options]`` (also ``python -m difficult_customer.experiments``).

The contract every command module follows:

- ``@dataclass class Config`` whose fields, each with an attribute docstring, are the
  command's options (tyro turns every field into a flag and its docstring into the help);
- ``def main(config: Config) -> int``, the exit status.

This file only keeps the table of commands and dispatches: it imports a command's module
when that command is asked for, builds its ``Config`` from the arguments with
``tyro.cli`` and calls its ``main``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

_COMMANDS = "difficult_customer.experiments.commands"
_TEACHING = "difficult_customer.experiments.teaching"

COMMANDS: dict[str, tuple[str, str]] = {
    "ablations": (f"{_COMMANDS}.ablations", "retrain with each claim switched off; conformance and score changes"),
    "benchmark": (f"{_COMMANDS}.benchmark", "every policy x every persona, with confidence intervals"),
    "bracket": (f"{_COMMANDS}.bracket", "certified bounds on the best observation-only policy, per persona"),
    "datasets": (f"{_COMMANDS}.datasets", "write Minari datasets of conversations (policies, mixed, people's)"),
    "explain": (f"{_COMMANDS}.explain", "a conversation annotated with oracle and belief Q-values"),
    "imitate": (f"{_COMMANDS}.imitate", "behaviour cloning from a dataset (exact scores), or the imitation study"),
    "memoryless": (f"{_COMMANDS}.memoryless", "search the best memoryless policy; exact value next to the bracket"),
    "play": (f"{_TEACHING}.play", "be the agent: talk to a difficult customer in the terminal"),
    "pretrained": (f"{_COMMANDS}.pretrained", "write the pretrained agents (agents/pretrained/) from a sweep store"),
    "report": (f"{_COMMANDS}.report", "the research report: train, evaluate, compare with the guides"),
    "sensitivity": (f"{_COMMANDS}.sensitivity", "sample every assumption over its range; how often the findings hold"),
    "serve": (f"{_TEACHING}.serve", "the teaching game as a local web page (play, teacher view, replays)"),
    "solve-times": (f"{_COMMANDS}.solve_times", "time the exact solvers on every persona and ablation"),
    "speed": (f"{_COMMANDS}.speed", "steps per second against gymnasium's CartPole"),
    "stall": (f"{_COMMANDS}.stall", "why a memoryless learner stalls below the best table: exact evidence"),
    "sweep": (f"{_COMMANDS}.sweep", "run a study (many trainings) on Ray, resumably"),
    "train": (f"{_COMMANDS}.train", "train stable-baselines3 agents (resumable, seeded)"),
    "tuned": (f"{_COMMANDS}.tuned", "rank a tuning study's points; write the tuned hyperparameter file"),
    "watch": (f"{_TEACHING}.watch", "watch a policy talk to a difficult customer, turn by turn"),
}
"""Command name -> (module path, one-line summary shown by ``difficult-customer --help``)."""

PROG = "difficult-customer"


def usage() -> str:
    """The top-level help: every command with its summary."""
    lines = [f"usage: {PROG} <command> [options]", "", "commands:"]
    lines += [f"  {name:<12} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", f"'{PROG} <command> --help' shows a command's options."]
    return "\n".join(lines)


def load(name: str) -> ModuleType:
    """The module of command ``name``.

    Raises:
        ValueError: for an unknown command, listing the commands.
    """
    if name not in COMMANDS:
        raise ValueError(f"unknown command {name!r}; allowed: {', '.join(COMMANDS)}")
    return importlib.import_module(COMMANDS[name][0])


def parse(name: str, args: Sequence[str]) -> Any:
    """The ``Config`` of command ``name`` built from ``args`` (``--help`` exits, as argparse does)."""
    import tyro  # the cli extra: imported only when a command runs

    module = load(name)
    return tyro.cli(module.Config, args=list(args), prog=f"{PROG} {name}", description=description(module))


def description(module: ModuleType) -> str:
    """A command's ``--help`` description: its module docstring."""
    return (module.__doc__ or "").strip()


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``difficult-customer NAME ARGS...``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    try:
        module = load(name)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        config = parse(name, rest)
    except SystemExit as done:  # --help, or a parse error tyro has already printed
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 2)
    return int(module.main(config) or 0)
