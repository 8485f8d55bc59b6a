"""Why a memoryless learner stalls below the best memoryless table: exact evidence, as markdown.

``difficult-customer stall --policy ppo_converged`` compares a memoryless learner (a
registered policy name or a model path) with the best memoryless table on the same
customer: where their moves differ, how much of the conversations passes there, what
fixing each difference alone is worth, and how far exact improvement sweeps from the
learner's own policy go (experiments/library/stall.py). ``--table best.npz`` reads a table
written by ``difficult-customer memoryless --save``; without it the search runs first
(about 2-3 minutes on the mixture). ``--dynamics-seeds N`` also trains N seeds of the
JAX MLP learner (the jax extra) and prints its entropy, value error, approximate KL and
clipped share per curve window. ``--out FILE`` writes everything as JSON.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies the search starts from)
from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.memoryless_search import search_memoryless
from difficult_customer.agents.exact.table_policies import TablePolicy
from difficult_customer.customer_models import PERSONA_NAMES
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.io import atomic_write_json
from difficult_customer.experiments.library.stall import disagreements, training_dynamics


@dataclass
class Config:
    """Settings of ``difficult-customer stall``."""

    policy: str = "ppo_converged"
    """The memoryless learner: a registered policy name or a model path."""
    persona: str = "mixture"
    """Persona or mixture of the customer."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit."""
    table: str | None = None
    """A best memoryless table (.npz from ``memoryless --save``); searched when absent."""
    top: int = 10
    """Disagreements of most mass to value one by one."""
    dynamics_seeds: int = 0
    """Seeds of the JAX MLP learner to train for the training dynamics (0: none)."""
    dynamics_steps: int = 1_000_000
    """Steps per seed of that training."""
    dynamics_set: list[str] = field(default_factory=list)
    """JaxPPOConfig overrides of that training, KEY=VALUE (e.g. lr=0.0005)."""
    out: str | None = None
    """Write the evidence as JSON to this file."""


def main(config: Config) -> int:
    """Print the evidence as markdown tables; 2 on bad settings."""
    if config.persona not in PERSONA_NAMES:
        print(f"error: unknown persona {config.persona!r}; allowed: {', '.join(PERSONA_NAMES)}", file=sys.stderr)
        return 2
    context = PolicyContext.create(persona=config.persona, max_turns=config.max_turns)
    try:
        learner = agents.make(config.policy, context)
        if config.table:
            table = TablePolicy.load(config.table, fallback=0, name="best table")
        else:
            print("searching the best memoryless table ...", flush=True)
            table = search_memoryless(context).policy
        evidence = disagreements(learner, table, context, top=config.top)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    e = evidence
    print(f"\n{config.policy} on {config.persona}: {e.learner:.4f} exact (normalized); the best memoryless table "
          f"{e.table:.4f}; one exact improvement sweep from the learner {e.after_one_sweep:.4f}; "
          f"sweeps to a local optimum {e.local_optimum:.4f} (moves changed per sweep: {e.sweeps_changed}).")
    print(f"The learner reaches {e.reached} (turn, observation) pairs; at {e.disagreeing} its move differs from "
          f"the table's, carrying {e.disagreement_mass:.2f} of the {e.expected_turns:.2f} turns of a conversation "
          f"({e.shared_disagreement_mass:.2f} at observations the table reaches too).\n")
    print("| turn | what the agent sees | probability | learner | table | table reaches it | worth of this fix alone |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for d in e.top:
        print(f"| {d.turn} | {d.observation} | {d.mass:.3f} | {d.learner_move} | {d.table_move} | "
              f"{'yes' if d.table_reaches else 'no'} | {d.gain:+.4f} |")
    out = {"policy": config.policy, "persona": config.persona, "evidence": e.to_dict()}
    if config.dynamics_seeds:
        from difficult_customer.experiments.library.jax_ppo import JaxPPOConfig, train_seeds  # the jax extra
        from difficult_customer.experiments.library.training import parse_overrides  # the train extra (yaml)

        jax_config = JaxPPOConfig(algo="ppo_jax", persona=config.persona, max_turns=config.max_turns,
                                  steps=config.dynamics_steps, **parse_overrides(config.dynamics_set))
        result = train_seeds(jax_config, range(config.dynamics_seeds))
        rows = training_dynamics(result.metrics, jax_config.updates_per_point, jax_config.batch)
        print(f"\nTraining dynamics of ppo_jax ({config.dynamics_seeds} seeds, mean over seeds and each window):\n")
        print("| steps | entropy (nats) | value error | approx. KL | clipped share |")
        print("| --- | --- | --- | --- | --- |")
        for r in rows:
            print(f"| {r['steps']:,.0f} | {r['entropy']:.3f} | {r['value_loss']:.4f} | {r['approx_kl']:.5f} | "
                  f"{r['clip_fraction']:.3f} |")
        out["dynamics"] = rows
    if config.out:
        atomic_write_json(config.out, out)
        print(f"\nwritten: {config.out}")
    return 0
