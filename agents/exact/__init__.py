"""Exact solutions: the known optimum, belief-based policies, and exact policy values.

Importing this package registers five policies:

- ``"oracle"`` (kind ``"oracle"``, observation ``"full"``): finite-horizon value iteration
  with the hidden state visible. The upper bound every score is normalized by.
- ``"qmdp"`` (kind ``"exact"``, observation ``"belief"``, with memory): exact Bayes filter + the oracle's move values averaged
  over the belief.
- ``"belief_lookahead"`` (kind ``"exact"``): exact Bayes filter + one-step expectimax over
  the next observation with QMDP values at the leaves.
- ``"pbvi"`` (kind ``"exact"``): exact Bayes filter + point-based value iteration, whose
  alpha vectors certify a lower bound on its value.
- ``"best_fixed_sequence"`` (kind ``"exact"``): the proven best fixed sequence of moves.

Modules: :mod:`~agents.exact.model` (flat sparse tables), :mod:`~agents.exact.oracle`,
:mod:`~agents.exact.belief` (Bayes filter), :mod:`~agents.exact.lookahead` (move values on
a belief), :mod:`~agents.exact.fib` (fast informed bound), :mod:`~agents.exact.policies`,
:mod:`~agents.exact.pbvi`, :mod:`~agents.exact.open_loop`,
:mod:`~agents.exact.evaluation` (exact and Monte Carlo values, normalized score),
:mod:`~agents.exact.solve` (timed solve), :mod:`~agents.exact.explain` (annotated
conversations). Only numpy and gymnasium are needed. See ``docs/exact.md``.
"""

from difficult_customer.agents.exact.belief import Belief, BeliefFilter, SparseBeliefs
from difficult_customer.agents.exact.bracket import DEEPEST, PRECISE, Bracket, certified_bracket, locate
from difficult_customer.agents.exact.evaluation import (
    MonteCarloResult,
    env_returns,
    exact_value,
    fib_value,
    monte_carlo,
    normalized,
    oracle_value,
    pomdp_value,
    propagate,
    random_value,
    rollout_returns,
    summarize_returns,
)
from difficult_customer.agents.exact.explain import (
    Explanation,
    TurnExplanation,
    explain_conversation,
    format_explanation,
)
from difficult_customer.agents.exact.lookahead import belief_q_values
from difficult_customer.agents.exact.memoryless import (
    TablePolicy,
    exact_memoryless_optimum,
    memoryless_value,
    search_memoryless,
)
from difficult_customer.agents.exact.open_loop import (
    BestFixedSequence,
    OpenLoopPlan,
    best_open_loop,
    branch_and_bound,
    exhaustive_open_loop,
    plans_by_persona,
    sequence_value,
    solve_open_loop,
)
from difficult_customer.agents.exact.oracle import (
    OracleSolution,
    OracleValueIteration,
    hidden_state_index,
    solve_oracle,
)
from difficult_customer.agents.exact.pbvi import PBVISolution, PointBased, solve_pbvi
from difficult_customer.agents.exact.policies import QMDP, BeliefLookahead, BeliefPolicy, BeliefState
from difficult_customer.agents.exact.solve import Solved, solve
from difficult_customer.agents.registry import names as _names
from difficult_customer.agents.registry import register as _register

_POLICIES = (  # name, factory, description, kind, observation, memory
    ("oracle", OracleValueIteration, "value iteration with the hidden state visible (upper bound; peeks)", "oracle",
     "full", False),
    ("qmdp", QMDP, "exact Bayes filter + oracle move values averaged over the belief (QMDP)", "exact", "belief",
     True),
    ("belief_lookahead", BeliefLookahead,
     "exact Bayes filter + one-step expectimax over observations with QMDP leaves", "exact", "belief", True),
    ("pbvi", PointBased, "exact Bayes filter + point-based value iteration (certified lower bound on its value)",
     "exact", "belief", True),
    ("best_fixed_sequence", BestFixedSequence, "the proven best fixed sequence of moves (open loop)", "exact",
     "partial", False),
)
for _name, _factory, _description, _kind, _observation, _memory in _POLICIES:
    if _name not in _names():
        _register(_name, _factory, _description, _kind, observation=_observation, memory=_memory)

__all__ = [
    "DEEPEST",
    "PRECISE",
    "Bracket",
    "TablePolicy",
    "certified_bracket",
    "exact_memoryless_optimum",
    "locate",
    "memoryless_value",
    "search_memoryless",
    "QMDP",
    "Belief",
    "BeliefFilter",
    "BeliefLookahead",
    "BeliefPolicy",
    "BeliefState",
    "BestFixedSequence",
    "Explanation",
    "MonteCarloResult",
    "OpenLoopPlan",
    "OracleSolution",
    "OracleValueIteration",
    "PBVISolution",
    "PointBased",
    "Solved",
    "SparseBeliefs",
    "TurnExplanation",
    "belief_q_values",
    "best_open_loop",
    "branch_and_bound",
    "env_returns",
    "exact_value",
    "exhaustive_open_loop",
    "explain_conversation",
    "fib_value",
    "format_explanation",
    "hidden_state_index",
    "monte_carlo",
    "normalized",
    "oracle_value",
    "plans_by_persona",
    "pomdp_value",
    "propagate",
    "random_value",
    "rollout_returns",
    "sequence_value",
    "solve",
    "solve_open_loop",
    "solve_oracle",
    "solve_pbvi",
    "summarize_returns",
]
