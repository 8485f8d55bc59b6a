"""The report's faithfulness section: the main table is assembled from the exact solvers as documented."""

from __future__ import annotations

import pytest

from difficult_customer import agents
from difficult_customer.agents.exact.bracket import PRECISE, certified_bracket
from difficult_customer.agents.exact.evaluation import fib_value, propagate, random_value
from difficult_customer.agents.exact.oracle import solve_oracle
from difficult_customer.customer_models import ASSUMPTIONS
from difficult_customer.experiments.library.conformance import RULES
from difficult_customer.experiments.library.faithfulness import (
    GUIDE_POLICIES,
    SECTION_TITLE,
    main_table,
    render_section,
    variant_context,
)


@pytest.fixture(scope="module")
def tables():
    kwargs = {"persona": "belligerent", "max_turns": 6, "episodes": 20, "conformance_of": ("oracle", "guide_000")}
    return main_table("default", **kwargs), main_table("guide_only", **kwargs)


def test_main_table_numbers_come_from_the_exact_solvers(tables):
    default, guide_only = tables
    for t in tables:
        context = variant_context(t.variant, "belligerent", 6)
        assert t.oracle == pytest.approx(solve_oracle(context.tables, 6).value)
        assert t.random == pytest.approx(random_value(context))
        bracket = certified_bracket(context, **PRECISE)
        assert (t.bracket_lower, t.bracket_upper) == pytest.approx((bracket.lower, bracket.upper))
        assert t.bracket_lower <= t.bracket_upper + 1e-9 <= fib_value(context) + 2e-9 <= t.oracle + 4e-9
        for g in GUIDE_POLICIES:
            assert t.guides[g] == pytest.approx(propagate(agents.make(g, context), context).value)
            assert t.guide_over_random()[g] == pytest.approx(t.guides[g] - t.random)
        assert t.observation_gap == pytest.approx((t.oracle - t.bracket_upper, t.oracle - t.bracket_lower))
        assert t.oracle_over_fixed == pytest.approx(t.oracle - t.best_fixed)
        assert set(t.rule_costs) == set(RULES) and set(t.conformance) == {"oracle", "guide_000"}
    assert default.ablate == () and set(guide_only.ablate) == set(ASSUMPTIONS)


def test_section_renders_both_variants_and_every_assumption(tables):
    text = render_section(*tables)
    assert text.startswith(f"## {SECTION_TITLE}")
    assert "| | default | guide_only |" in text
    for sid in ASSUMPTIONS:
        assert f"| {sid} |" in text
    for rule in RULES:
        assert f"| {rule} " in text
    assert "With every assumption off" in text


def test_an_unknown_variant_is_named():
    with pytest.raises(ValueError, match=r"unknown variant 'guides_only'; allowed: default, guide_only"):
        main_table("guides_only", persona="belligerent", max_turns=4, episodes=0)
