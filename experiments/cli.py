"""Command line: ``difficult-customer <command>`` (also the ``difficult-customer`` script).

Each command lives in its own module with a ``main(argv) -> int``; this file only
dispatches, importing a command's module when it is asked for.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    "ablations": ("difficult_customer.experiments.commands.ablations", "retrain with each claim switched off; conformance and score changes"),
    "benchmark": ("difficult_customer.experiments.commands.benchmark", "every policy x every persona, with confidence intervals"),
    "explain": ("difficult_customer.experiments.commands.explain", "a conversation annotated with oracle and belief Q-values"),
    "play": ("difficult_customer.experiments.teaching.play", "be the agent: talk to a difficult customer in the terminal"),
    "report": ("difficult_customer.experiments.commands.report", "the research report: train, evaluate, compare with the guides"),
    "serve": ("difficult_customer.experiments.teaching.serve", "the teaching game as a local web page (play, teacher view, replays)"),
    "solve-times": ("difficult_customer.experiments.commands.solve_times", "time the exact solvers on every persona and ablation"),
    "speed": ("difficult_customer.experiments.commands.speed", "steps per second against gymnasium's CartPole"),
    "train": ("difficult_customer.experiments.commands.train", "train stable-baselines3 agents (resumable, seeded)"),
    "watch": ("difficult_customer.experiments.teaching.watch", "watch a policy talk to a difficult customer, turn by turn"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: difficult-customer <command> [options]\n\ncommands:")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:<12} {help_text}")
        print("\n'difficult-customer <command> --help' shows a command's options.")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; allowed: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)
