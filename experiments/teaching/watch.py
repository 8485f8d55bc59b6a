"""``difficult-customer watch``: watch a policy talk to a difficult customer in the terminal.

Usage::

    difficult-customer watch --policy guide_004 --persona mixture --seed 3
    difficult-customer watch --policy belief_lookahead --teacher --delay 2
    difficult-customer watch --policy tone_reader --all-at-once > transcript.txt

The same screen as ``difficult-customer play`` (:mod:`difficult_customer.experiments.teaching.play`), with the
policy making the moves at ``--delay`` seconds per turn, or ``--all-at-once`` for a
transcript. At the end: outcome, return, normalized score, and the first turn where the
policy's move was not the belief-based optimum's best. Any registered policy
(``difficult_customer.agents.names()``) or a trained model (``ppo:path/to/model.zip``) can be watched.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from difficult_customer.experiments.teaching.play import (
    Screen,
    add_context_arguments,
    make_console,
    require_rich,
)
from difficult_customer.experiments.teaching.session import MOVE_NAMES, Session, check_policy


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="difficult-customer watch",
        description="Watch a policy talk to a difficult customer, turn by turn, in the terminal.",
    )
    parser.add_argument(
        "--policy", default="belief_lookahead", help="registered policy name or prefix:path (default: %(default)s)"
    )
    add_context_arguments(parser)
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--delay", type=float, default=1.5, help="seconds between turns (default: %(default)s)")
    pace.add_argument("--all-at-once", action="store_true", help="print the whole conversation without pauses")
    return parser


def watch(
    session: Session,
    console: Any,
    delay: float = 0.0,
    teacher: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Show ``session``'s policy playing the conversation to its end. Returns the exit status."""
    screen = Screen(console, teacher)
    screen.header(session, f"The agent is the policy {session.policy}.")
    screen.update(session)
    while not session.done:
        if delay > 0:
            sleep(delay)
        decision = session.policy_step()
        if teacher:
            console.print(f"  -> {session.policy} plays {decision['move']}", style="bold", markup=False)
        screen.update(session)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``difficult-customer watch``. Returns the exit status."""
    args = build_parser().parse_args(argv)
    if not require_rich():
        return 2
    if args.delay < 0:
        print(f"error: --delay {args.delay!r}; allowed: seconds >= 0", file=sys.stderr)
        return 2
    try:
        session = Session(
            persona=args.persona,
            seed=args.seed,
            max_turns=args.max_turns,
            ablate=args.ablate,
            policy=check_policy(args.policy),
            depth=args.depth,
        )
    except (ValueError, OSError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    console = make_console()
    try:
        return watch(session, console, 0.0 if args.all_at_once else args.delay, teacher=args.teacher)
    except KeyboardInterrupt:
        moves = ", ".join(MOVE_NAMES[d.move] for d in session.history)
        console.print(f"\nStopped (Ctrl-C) after {session.turn} turns: {moves or 'no moves'}.", markup=False)
        return 130


if __name__ == "__main__":
    sys.exit(main())
