"""Exact solutions: the known optimum, belief-based policies, and exact policy values.

Its five policies (:data:`POLICIES`; ``difficult_customer.agents`` registers them), by
name (kind, what it decides on):

- ``"oracle"`` (oracle, full): finite-horizon value iteration with the hidden state
  visible; the upper bound every score is normalized by.
- ``"qmdp"`` (exact, belief, with memory): exact Bayes filter + the oracle's move values
  averaged over the belief.
- ``"belief_lookahead"`` (exact, belief, with memory): exact Bayes filter + one-step
  expectimax over the next observation with QMDP values at the leaves.
- ``"pbvi"`` (exact, belief, with memory): exact Bayes filter + point-based value
  iteration, whose alpha vectors certify a lower bound on its value.
- ``"best_fixed_sequence"`` (exact, partial): the proven best fixed sequence of moves.

Modules, one job each (only numpy and gymnasium are needed; ``docs/exact.md`` has the
design notes):

- :mod:`~agents.exact.model`: the tables as flat sparse arrays (successors of (state, move));
- :mod:`~agents.exact.oracle`: value iteration with the hidden state visible;
- :mod:`~agents.exact.belief`: the exact Bayes filter;
- :mod:`~agents.exact.lookahead`: move values on a belief (QMDP leaves, expectimax);
- :mod:`~agents.exact.fib`: the fast informed bound;
- :mod:`~agents.exact.policies`: the belief policies (QMDP, belief lookahead);
- :mod:`~agents.exact.pbvi`: point-based value iteration;
- :mod:`~agents.exact.belief_input`: belief features as input of learned policies;
- :mod:`~agents.exact.fixed_sequence`: the best fixed sequence (beam search, branch and bound);
- :mod:`~agents.exact.evaluation`: exact and Monte Carlo values of policies;
- :mod:`~agents.exact.normalize`: the normalized score;
- :mod:`~agents.exact.bracket`: certified bounds on the best observation-only policy;
- :mod:`~agents.exact.table_keys`: (observation code, history code) table keys;
- :mod:`~agents.exact.table_policies`: memoryless table policies and their file format;
- :mod:`~agents.exact.memoryless_value`: the exact value of a memoryless policy;
- :mod:`~agents.exact.memoryless_search`: the search for the best memoryless policy;
- :mod:`~agents.exact.rule_cost`: the exact cost of keeping a conformance rule;
- :mod:`~agents.exact.solve`: every exact quantity of one environment, timed;
- :mod:`~agents.exact.explain`: conversations annotated with move values.

``best_open_loop``, ``solve_open_loop``, ``OpenLoopPlan`` and ``TurnExplanation`` still
work, with a ``DeprecationWarning``: they are ``best_fixed_sequence``,
``solve_fixed_sequence``, ``FixedSequencePlan`` and ``MoveValues``.
"""

from difficult_customer.agents.deprecation import module_aliases
from difficult_customer.agents.exact.belief import Belief, BeliefFilter, SparseBeliefs
from difficult_customer.agents.exact.bracket import DEEPEST, PRECISE, Bracket, certified_bracket, locate
from difficult_customer.agents.exact.evaluation import (
    MonteCarloResult,
    exact_value,
    fib_value,
    monte_carlo,
    normalized,
    oracle_value,
    propagate,
    random_value,
    rollout_returns,
    summarize_returns,
)
from difficult_customer.agents.exact.explain import (
    Explanation,
    MoveValues,
    explain_conversation,
    format_explanation,
)
from difficult_customer.agents.exact.fixed_sequence import (
    BestFixedSequence,
    FixedSequencePlan,
    best_fixed_sequence,
    branch_and_bound,
    sequence_value,
    solve_fixed_sequence,
)
from difficult_customer.agents.exact.lookahead import belief_q_values
from difficult_customer.agents.exact.memoryless_search import search_memoryless
from difficult_customer.agents.exact.memoryless_value import memoryless_value
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.agents.exact.oracle import (
    OracleSolution,
    OracleValueIteration,
    hidden_state_index,
    solve_oracle,
)
from difficult_customer.agents.exact.pbvi import PBVISolution, PointBased, solve_pbvi
from difficult_customer.agents.exact.policies import QMDP, BeliefLookahead, BeliefPolicy, BeliefState
from difficult_customer.agents.exact.solve import Solved, solve
from difficult_customer.agents.exact.table_policies import TablePolicy

POLICIES = (  # name, factory, description, kind, decides on, memory
    ("oracle", OracleValueIteration, "value iteration with the hidden state visible (upper bound; peeks)", "oracle",
     "full", False),
    ("qmdp", QMDP, "exact Bayes filter + oracle move values averaged over the belief (QMDP)", "exact", "belief",
     True),
    ("belief_lookahead", BeliefLookahead,
     "exact Bayes filter + one-step expectimax over observations with QMDP leaves", "exact", "belief", True),
    ("pbvi", PointBased, "exact Bayes filter + point-based value iteration (certified lower bound on its value)",
     "exact", "belief", True),
    ("best_fixed_sequence", BestFixedSequence, "the proven best fixed sequence of moves", "exact",
     "partial", False),
)
"""The policies of this package, as ``difficult_customer.agents`` registers them (after the scripted ones)."""

__getattr__ = module_aliases(
    __name__,
    {
        "OpenLoopPlan": ("FixedSequencePlan", FixedSequencePlan),
        "best_open_loop": ("best_fixed_sequence", best_fixed_sequence),
        "solve_open_loop": ("solve_fixed_sequence", solve_fixed_sequence),
        "TurnExplanation": ("MoveValues", MoveValues),
    },
)

__all__ = [
    "DEEPEST",
    "POLICIES",
    "PRECISE",
    "QMDP",
    "Belief",
    "BeliefFilter",
    "BeliefLookahead",
    "BeliefPolicy",
    "BeliefState",
    "BestFixedSequence",
    "Bracket",
    "Explanation",
    "FixedSequencePlan",
    "MonteCarloResult",
    "OracleSolution",
    "OracleValueIteration",
    "PBVISolution",
    "PointBased",
    "Solved",
    "SparseBeliefs",
    "MoveValues",
    "TablePolicy",
    "belief_q_values",
    "best_fixed_sequence",
    "branch_and_bound",
    "certified_bracket",
    "exact_value",
    "explain_conversation",
    "fib_value",
    "format_explanation",
    "hidden_state_index",
    "locate",
    "memoryless_value",
    "monte_carlo",
    "normalize",
    "normalized",
    "oracle_value",
    "propagate",
    "random_value",
    "rollout_returns",
    "search_memoryless",
    "sequence_value",
    "solve",
    "solve_fixed_sequence",
    "solve_oracle",
    "solve_pbvi",
    "summarize_returns",
]
