"""The certified bracket on the best observation-only policy, and locating a value in it.

Short horizons (``max_turns`` 3-4) are where a belief policy can be valued exactly by
enumerating histories, and a belief lookahead as deep as the conversation is the
observation-only optimum, so the bracket is checked against both there. At ``max_turns=16`` every scripted
(memoryless) policy's exact value must lie below the upper bound.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies)
from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact import BeliefPolicy, exact_value, normalized, oracle_value, random_value
from difficult_customer.agents.exact.bracket import (
    MAX_DEPTH,
    Bracket,
    certified_bracket,
    locate,
    points_curve,
)
from difficult_customer.agents.exact.evaluation import fib_value, history_tree_value
from difficult_customer.agents.exact.pbvi import PointBased
from difficult_customer.experiments.commands.bracket import Config, main


def observation_only_optimum(context: PolicyContext) -> float:
    """The best observation-only policy's value, for short horizons: a belief lookahead as deep as the
    conversation (QMDP leaves are exact with one move left), valued exactly by enumerating histories."""
    value = history_tree_value(BeliefPolicy(context, context.max_turns - 1), context)
    assert value is not None
    return value


SCRIPTED = [n for n in agents.names() if agents.spec(n).kind in ("baseline", "guide", "adaptive")]


@pytest.mark.parametrize(("persona", "max_turns"), [("mixture", 3), ("naturally_difficult", 4)])
def test_bracket_holds_the_exact_optimum_and_the_pbvi_policy(persona, max_turns):
    context = PolicyContext.create(persona=persona, max_turns=max_turns)
    bracket = certified_bracket(context, points=16, depth=1)
    pbvi = PointBased(context, points=16)
    pbvi_exact = history_tree_value(pbvi, context)
    optimum = observation_only_optimum(context)
    assert pbvi_exact is not None
    assert bracket.lower == pytest.approx(pbvi.pbvi.lower_bound, abs=1e-12)
    assert bracket.lower <= pbvi_exact + 1e-12
    assert pbvi_exact <= optimum + 1e-12
    assert optimum <= bracket.upper + 1e-12
    assert bracket.upper <= bracket.fib + 1e-12
    assert bracket.fib == pytest.approx(fib_value(context), abs=1e-12)
    assert bracket.fib <= bracket.oracle + 1e-12
    assert bracket.oracle == pytest.approx(oracle_value(context), abs=1e-12)
    assert bracket.random == pytest.approx(random_value(context), abs=1e-12)


@pytest.mark.parametrize("max_turns", [3, 4])
def test_full_depth_expectimax_closes_the_bracket(max_turns):
    context = PolicyContext.create(persona="mixture", max_turns=max_turns)
    bracket = certified_bracket(context, points=8, depth=max_turns - 1, lower_depth=2)
    optimum = observation_only_optimum(context)
    assert bracket.upper == pytest.approx(optimum, abs=1e-10)
    assert bracket.lower <= optimum + 1e-12
    assert bracket.lower >= bracket.pbvi_lower - 1e-12


def test_deeper_expectimax_only_tightens():
    context = PolicyContext.create(persona="mixture", max_turns=4)
    brackets = [certified_bracket(context, points=8, depth=d, lower_depth=min(d, 2)) for d in range(4)]
    for shallow, deep in zip(brackets, brackets[1:], strict=False):
        assert deep.upper <= shallow.upper + 1e-12
        assert deep.lower >= shallow.lower - 1e-12
    assert brackets[-1].width < brackets[0].width


def test_tables_and_context_give_the_same_bracket():
    context = PolicyContext.create(persona="belligerent", max_turns=5)
    a = certified_bracket(context, points=8, depth=1)
    b = certified_bracket(context.tables, points=8, depth=1, max_turns=5)
    assert (a.lower, a.upper, a.oracle, a.random) == (b.lower, b.upper, b.oracle, b.random)


def test_every_memoryless_script_lies_below_the_upper_bound():
    context = PolicyContext.create(persona="mixture")
    bracket = certified_bracket(context)
    assert bracket.random < bracket.lower <= bracket.upper <= bracket.fib <= bracket.oracle
    assert len(SCRIPTED) >= 5
    for name in SCRIPTED:
        value = exact_value(agents.make(name, context), context)
        assert value is not None
        assert value <= bracket.upper + 1e-12, name
        assert bracket.locate(value).position in ("below", "within")


def test_locate_reports_position_share_and_gap_consistently():
    context = PolicyContext.create(persona="mixture", max_turns=6)
    bracket = certified_bracket(context, points=16, depth=1)
    assert bracket.lower < bracket.upper
    inside = (bracket.lower + bracket.upper) / 2
    here = locate(inside, bracket)
    assert here.position == "within"
    assert here.normalized == pytest.approx(normalized(inside, context))
    low, high = here.share_of_optimum
    assert 0 < low < 1 < high
    assert here.gap[0] == 0 and here.gap[1] == pytest.approx(bracket.upper - inside)
    below = locate(bracket.random, bracket)
    assert below.position == "below" and below.share_of_optimum == (0.0, 0.0)
    assert below.gap == pytest.approx((bracket.lower - bracket.random, bracket.upper - bracket.random))
    span = bracket.oracle - bracket.random
    assert below.normalized_gap == pytest.approx((below.gap[0] / span, below.gap[1] / span))
    above = locate(bracket.oracle, bracket)
    assert above.position == "above" and above.normalized == pytest.approx(1.0)
    assert above.share_of_optimum[0] > 1
    assert bracket.locate(bracket.lower).share_of_optimum[1] == pytest.approx(1.0)
    assert "within" in str(here) and str(bracket).startswith("[")


def test_points_curve_times_and_bounds_each_setting():
    context = PolicyContext.create(persona="genuine_grievance", max_turns=6)
    curve = points_curve(context, (4, 16))
    assert [c.points for c in curve] == [4, 16]
    bracket = certified_bracket(context, points=16, depth=0)
    assert curve[1].lower == pytest.approx(bracket.lower, abs=1e-12)
    for c in curve:
        assert c.lower <= bracket.upper + 1e-12 and c.seconds >= 0 and c.cpu_seconds >= 0 and c.alphas >= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": 0}, "points=0"),
        ({"points": True}, "points=True"),
        ({"depth": -1}, "depth=-1"),
        ({"depth": MAX_DEPTH + 1}, f"depth={MAX_DEPTH + 1}"),
        ({"lower_depth": 1.5}, "lower_depth=1.5"),
        ({"max_turns": 7}, "max_turns=7"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    context = PolicyContext.create(persona="reasonable", max_turns=4)
    with pytest.raises(ValueError, match=message):
        certified_bracket(context, **kwargs)


def test_bad_context_and_values_are_named():
    with pytest.raises(ValueError, match="context='mixture'"):
        certified_bracket("mixture")  # type: ignore[arg-type]
    context = PolicyContext.create(persona="reasonable", max_turns=4)
    with pytest.raises(ValueError, match="max_turns=None"):
        certified_bracket(context.tables)
    bracket = certified_bracket(context, points=4, depth=0)
    for bad in (math.nan, "0.5", None, np.inf):
        with pytest.raises(ValueError, match="value="):
            locate(bad, bracket)  # type: ignore[arg-type]
    flat = Bracket(0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 1, 0, 0, 4, 0.0, 0.0)
    with pytest.raises(ValueError, match="J_oracle=0.5"):
        flat.normalize(0.1)


def test_the_command_prints_the_table_and_the_curve(capsys):
    config = Config(personas=["reasonable", "belligerent"], max_turns=4, curve=[4, 8])
    assert main(config) == 0
    out = capsys.readouterr().out
    assert "| reasonable | 1.0400 |" in out and "| belligerent |" in out
    assert "| 4 |" in out and "| 8 |" in out


def test_the_command_names_bad_settings(capsys):
    from difficult_customer.experiments.cli import main as cli

    assert main(Config(personas=["nobody"])) == 2
    assert "unknown persona 'nobody'" in capsys.readouterr().err
    assert main(Config(personas=["reasonable"], max_turns=4, depth=9)) == 2
    assert "depth=9" in capsys.readouterr().err
    assert cli(["bracket", "--personas", "reasonable", "--max-turns", "3", "--points", "4"]) == 0
    assert "| reasonable |" in capsys.readouterr().out
