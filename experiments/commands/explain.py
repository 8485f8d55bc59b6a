"""Print one conversation annotated with move values and the belief, turn by turn.

Examples: difficult-customer explain --policy guide_004 --seed 3;
difficult-customer explain --policy belief_lookahead --persona naturally_difficult --ablate C4

At each decision it shows the value of every move for the oracle (which sees the hidden
state) and for the belief-based policy (which sees only the observation), and the Bayes
filter's belief over persona with its expected anger and trust.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies)
from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.explain import explain_conversation, format_explanation
from difficult_customer.customer_models import PERSONA_NAMES
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS


@dataclass
class Config:
    """Settings of ``difficult-customer explain``."""

    policy: str = "belief_lookahead"
    """The policy that talks: a registered name (difficult_customer.agents.names())."""
    persona: str = "mixture"
    """Persona or mixture of the customer."""
    seed: int = 0
    """Conversation seed."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of the conversation."""
    ablate: list[str] = field(default_factory=list)
    """Claims (C1-C10) or other switches of the customer model to turn off, e.g. C4 C6."""
    depth: Literal[0, 1, 2] = 1
    """Belief policy whose move values are shown: 0 QMDP, 1 one-step lookahead, 2 two-step lookahead."""


def main(config: Config) -> int:
    """Play the conversation and print it annotated; 2 on bad settings."""
    try:
        if config.persona not in PERSONA_NAMES:
            raise ValueError(f"unknown persona {config.persona!r}; allowed: {', '.join(PERSONA_NAMES)}")
        context = PolicyContext.create(persona=config.persona, ablate=config.ablate, max_turns=config.max_turns)
        agents.spec(config.policy)
        explanation = explain_conversation(config.policy, context, seed=config.seed, belief_depth=config.depth)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_explanation(explanation))
    return 0
