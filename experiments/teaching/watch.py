"""``difficult-customer watch``: watch a policy talk to a difficult customer in the terminal.

Usage::

    difficult-customer watch --policy guide_004 --persona mixture --seed 3
    difficult-customer watch --policy belief_lookahead --teacher --delay 2
    difficult-customer watch --policy tone_reader --all-at-once > transcript.txt

The same screen as ``difficult-customer play`` (:mod:`difficult_customer.experiments.teaching.play`), with the
policy making the moves at ``--delay`` seconds per turn, or ``--all-at-once`` for a
transcript. At the end: outcome, return, normalized score, and the first turn where the
policy's move was not the belief-based reference policy's best. Any registered policy
(``difficult_customer.agents.names()``) or a trained model (its path, ``runs/.../model.zip``) can be watched.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from difficult_customer.experiments.teaching.play import (
    ContextConfig,
    Screen,
    make_console,
    require_rich,
)
from difficult_customer.experiments.teaching.session import MOVE_NAMES, Session, check_policy


@dataclass
class Config(ContextConfig):
    """``difficult-customer watch``: a policy plays the conversation, turn by turn."""

    policy: str = "belief_lookahead"
    """registered policy name (difficult_customer.agents.names()) or the path of a trained model (runs/.../model.zip)"""
    delay: float = 1.5
    """seconds between turns (>= 0)"""
    all_at_once: bool = False
    """print the whole conversation without pauses (overrides --delay)"""


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


def main(config: Config) -> int:
    """``difficult-customer watch``: show the conversation ``config`` describes. Returns the exit status."""
    if not require_rich():
        return 2
    if config.delay < 0:
        print(f"error: --delay {config.delay!r}; allowed: seconds >= 0", file=sys.stderr)
        return 2
    try:
        session = config.session(check_policy(config.policy))
    except (ValueError, OSError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    console = make_console()
    try:
        return watch(session, console, 0.0 if config.all_at_once else config.delay, teacher=config.teacher)
    except KeyboardInterrupt:
        moves = ", ".join(MOVE_NAMES[d.move] for d in session.history)
        console.print(f"\nStopped (Ctrl-C) after {session.turn} turns: {moves or 'no moves'}.", markup=False)
        return 130


if __name__ == "__main__":
    from difficult_customer.experiments import cli

    raise SystemExit(cli.main(["watch", *sys.argv[1:]]))
