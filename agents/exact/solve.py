"""Everything the exact solvers compute for one environment, timed.

:func:`solve` runs value iteration (the oracle), the exact random-policy value, the fast
informed bound and the best fixed sequence (beam search, then branch and bound to prove
it optimal) for one :class:`~agents.base.PolicyContext`. Point-based value iteration is
not part of it (about a second on the mixture; see :mod:`~agents.exact.pbvi`). Compiling
the tables is timed apart: it is the model's cost, shared by the environments, not the
solvers'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.deprecation import warn_renamed
from difficult_customer.agents.exact.evaluation import fib_value, random_value
from difficult_customer.agents.exact.fixed_sequence import FixedSequencePlan, solve_fixed_sequence
from difficult_customer.agents.exact.model import transition_index
from difficult_customer.agents.exact.oracle import OracleSolution, solve_oracle


@dataclass(frozen=True)
class Solved:
    """The exact quantities of one environment.

    Attributes:
        context: the environment.
        oracle: value iteration's solution (J_oracle is ``oracle.value``).
        random_value: J_random.
        fib_value: the fast informed bound, an upper bound on every observation-only policy.
        fixed_sequence: the best fixed sequence of moves, with its exact value.
        compile_seconds: time to compile the tables (0 if they were cached).
        solve_seconds: time for value iteration, the random value, FIB and the fixed sequence.
    """

    context: PolicyContext
    oracle: OracleSolution
    random_value: float
    fib_value: float
    fixed_sequence: FixedSequencePlan
    compile_seconds: float
    solve_seconds: float

    @property
    def open_loop(self) -> FixedSequencePlan:
        """Deprecated: :attr:`fixed_sequence`."""
        warn_renamed("Solved.open_loop", "Solved.fixed_sequence")
        return self.fixed_sequence

    @property
    def oracle_value(self) -> float:
        return self.oracle.value

    @property
    def n_states(self) -> int:
        return self.oracle.tables.n_states


def solve(context: PolicyContext) -> Solved:
    """Solve ``context`` exactly (cached solutions are reused; times then are near 0)."""
    start = time.perf_counter()
    tables = context.tables
    compiled = time.perf_counter()
    transition_index(tables)
    oracle = solve_oracle(tables, context.max_turns)
    random = random_value(context)
    fib = fib_value(context)
    plan = solve_fixed_sequence(tables, context.max_turns)
    done = time.perf_counter()
    return Solved(context, oracle, random, fib, plan, compiled - start, done - compiled)


__all__ = ["Solved", "solve"]
