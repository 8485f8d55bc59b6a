"""Print one conversation annotated with move values and the belief, turn by turn.

Usage::

    difficult-customer.explain --policy guide_004 --seed 3
    difficult-customer.explain --policy belief_lookahead --persona naturally_difficult --ablate C4

At each decision it shows the value of every move for the oracle (which sees the hidden
state) and for the belief-based policy (which sees only the observation), and the Bayes
filter's belief over persona with its expected anger and trust.
"""

from __future__ import annotations

import argparse
import sys

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies)
from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.explain import explain_conversation, format_explanation
from difficult_customer.customer_models import CLAIMS, PERSONA_NAMES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="difficult-customer explain",
        description="Print one conversation annotated with the oracle's and a belief-based policy's move values.",
    )
    parser.add_argument("--policy", default="belief_lookahead", help="registered policy name (default: %(default)s)")
    parser.add_argument(
        "--persona", default="mixture", choices=PERSONA_NAMES, help="persona or mixture (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="conversation seed (default: %(default)s)")
    parser.add_argument("--max-turns", type=int, default=16, help="turn limit (default: %(default)s)")
    parser.add_argument(
        "--ablate", nargs="*", default=[], metavar="CLAIM", help=f"claim ids to switch off, of {', '.join(CLAIMS)}"
    )
    parser.add_argument(
        "--depth", type=int, default=1, choices=(0, 1, 2), help="belief policy shown: 0 QMDP, 1 lookahead (default 1)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, play the conversation, print it. Returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        context = PolicyContext.create(persona=args.persona, ablate=args.ablate, max_turns=args.max_turns)
        agents.spec(args.policy)
        explanation = explain_conversation(args.policy, context, seed=args.seed, belief_depth=args.depth)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_explanation(explanation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
