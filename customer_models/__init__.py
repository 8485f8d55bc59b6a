"""The difficult customer: personas, their dynamics, and the compiled tables.

Needs only numpy. ``compile_model(persona, ablate, rewards, variant)`` is the entry point; everything
above this package (environments, solvers, tests) reads the :class:`Tables` it returns.
"""

if __name__ != "difficult_customer.customer_models":  # a checkout's folder imported under a second, top-level name
    raise ImportError(
        f"this package is difficult_customer.customer_models, imported here as {__name__!r}; install the project "
        "(pip install -e .) and import difficult_customer.customer_models"
    )

from difficult_customer.customer_models.compile import Tables, check_ablate, compile_model, validate_tables
from difficult_customer.customer_models.dynamics import State, step_outcomes, tone_distribution
from difficult_customer.customer_models.personas import (
    DEFAULT_MIXTURE,
    GUIDE_ONLY_MIXTURE,
    MIXTURES,
    PERSONA_NAMES,
    PERSONAS,
    Mixture,
    Persona,
    resolve_persona,
)
from difficult_customer.customer_models.provenance import GUIDES, Quote, Support, Switch
from difficult_customer.customer_models.rewards import REWARD_TERMS, Rewards, reward_terms
from difficult_customer.customer_models.switches import ASSUMPTIONS, SWITCH_IDS, SWITCHES, VARIANT_NAMES, VARIANTS
from difficult_customer.customer_models.vocabulary import (
    CLAIMS,
    FACTORS,
    Abuse,
    Anger,
    Move,
    Outcome,
    Reaction,
    Tone,
    Trust,
)

__all__ = [
    "ASSUMPTIONS",
    "CLAIMS",
    "DEFAULT_MIXTURE",
    "GUIDES",
    "GUIDE_ONLY_MIXTURE",
    "FACTORS",
    "MIXTURES",
    "PERSONAS",
    "PERSONA_NAMES",
    "REWARD_TERMS",
    "Abuse",
    "Anger",
    "Mixture",
    "Move",
    "Outcome",
    "Persona",
    "Quote",
    "Reaction",
    "Rewards",
    "SWITCHES",
    "SWITCH_IDS",
    "State",
    "Support",
    "Switch",
    "Tables",
    "Tone",
    "Trust",
    "VARIANTS",
    "VARIANT_NAMES",
    "check_ablate",
    "compile_model",
    "resolve_persona",
    "reward_terms",
    "step_outcomes",
    "tone_distribution",
    "validate_tables",
]
