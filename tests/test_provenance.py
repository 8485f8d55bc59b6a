"""The model says where every effect comes from, and says it truthfully.

- every parameter carries a support record; assumptions have a switch and a range;
- every quote (parameters, personas, the step structure, the guide scripts) is one whole
  sentence of the guide text the project ships in ``docs/guides/``;
- each switch changes only the parameters it names;
- ``docs/claims.md`` is the rendering of the metadata as it is now;
- the sampled-parameter API covers every reading and assumption, and the built-in model
  lies inside the sampled ranges.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from difficult_customer.agents.guides import GUIDE_SCRIPTS
from difficult_customer.customer_models import ASSUMPTIONS, SWITCH_IDS, compile_model, provenance
from difficult_customer.customer_models.dynamics import STRUCTURE
from difficult_customer.customer_models.parameters import (
    WEIGHT,
    ParameterSpec,
    build_mixture,
    sample_uniform,
    sampled_parameters,
)
from difficult_customer.customer_models.personas import (
    DEFAULT_MIXTURE,
    PERSONAS,
    SHARED,
    Mixture,
    effective_persona,
    field_info,
    model_fields,
)
from difficult_customer.customer_models.provenance import GUIDES, Quote, Support, is_sentence_of, param_info
from difficult_customer.customer_models.switches import (
    CONTESTED,
    SWITCHES,
    VARIANT_NAMES,
    VARIANTS,
    check_switches,
    check_variant,
    closure,
)

ROOT = Path(__file__).resolve().parents[1]
GUIDE_TEXT = {name: (ROOT / "docs" / "guides" / name).read_text(encoding="utf-8") for name in GUIDES}


def all_supports() -> list[tuple[str, Support]]:
    out = [(f.name, param_info(f).support) for f in model_fields()]
    out += [(f"Mixture.{f.name}", param_info(f).support) for f in dataclasses.fields(Mixture) if param_info(f)]
    out += [(f"persona {p.name}", p.support) for p in PERSONAS.values()]
    out += [(f"structure: {s.what}", s) for s in STRUCTURE]
    return out


def all_quotes() -> list[tuple[str, Quote]]:
    out = [(where, quote) for where, s in all_supports() for quote in (*s.quotes, *s.against)]
    for script in GUIDE_SCRIPTS.values():
        for step in script.cited_steps():
            assert step.quote is not None, (script.name, step.move.name)
            out.append((f"{script.name} {step.move.name}", step.quote))
    return out


def test_every_parameter_carries_a_support_record():
    for f in model_fields():
        info = param_info(f)
        assert info is not None and isinstance(info.support, Support), f.name
        if info.support.kind == "quoted":
            assert info.support.quotes, f.name
        else:
            assert info.support.why, f.name
    weights = next(f for f in dataclasses.fields(Mixture) if f.name == "weights")
    assert param_info(weights).switch == "A17"
    for p in PERSONAS.values():
        assert p.support is not None, p.name


def test_every_assumption_has_a_switch_a_range_and_an_off_value():
    for f in model_fields():
        info = param_info(f)
        if info.support.kind == "assumption":
            assert info.switch in ASSUMPTIONS, f.name
            assert info.off is not None, f.name
        lows = info.low if isinstance(info.low, tuple) else (info.low,)
        highs = info.high if isinstance(info.high, tuple) else (info.high,)
        assert all(lo <= hi for lo, hi in zip(lows, highs, strict=True)), f.name
        assert any(hi > lo for lo, hi in zip(lows, highs, strict=True)), f"{f.name}: an empty range samples nothing"
        if info.switch is not None:
            assert info.switch in SWITCHES, f.name


def test_every_switch_acts_on_something():
    used = {param_info(f).switch for f in model_fields()} | {param_info(f).differs_by for f in model_fields()}
    used |= {c for f in model_fields() for c in param_info(f).claims}
    used |= {"A17", "C7"}  # the mixture weights; C7 changes the step's structure (a follow-up's status)
    assert set(SWITCH_IDS) <= used, set(SWITCH_IDS) - used


@pytest.mark.parametrize(("where", "quote"), all_quotes(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_quote_is_a_sentence_of_the_shipped_guide(where, quote):
    assert is_sentence_of(quote.sentence, GUIDE_TEXT[quote.guide]), f"{where}: {quote.sentence!r}"


def test_a_partial_sentence_is_not_a_quote():
    text = GUIDE_TEXT["002_3433ec1d79cbc358.txt"]
    assert is_sentence_of("Start by empathizing with the client's situation.", text)
    assert not is_sentence_of("Start by empathizing", text)
    assert not is_sentence_of("Start by empathizing with the client's situation. Put yourself", text)


def test_contested_readings_quote_both_sides():
    for f in model_fields():
        info = param_info(f)
        if info.switch in CONTESTED or info.switch == "A8":
            assert info.support.quotes and info.support.against, f.name


@pytest.mark.parametrize("switch", [*ASSUMPTIONS, *CONTESTED])
@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_a_switch_changes_only_its_own_parameters(switch, persona):
    p = PERSONAS[persona]
    q = effective_persona(p, closure(frozenset({switch})))
    changed = {f.name for f in model_fields() if getattr(q, f.name) != getattr(p, f.name)}
    own = {f.name for f in model_fields() if param_info(f).switch == switch or param_info(f).differs_by == switch}
    assert changed <= own, changed - own
    for name in p.defining:
        assert getattr(q, name) == getattr(p, name)


def test_switches_off_give_the_stated_off_values():
    for f in model_fields():
        info = param_info(f)
        if info.switch is None:
            continue
        q = effective_persona(PERSONAS["naturally_difficult"], closure(frozenset({info.switch})))
        if not callable(info.off) and f.name not in PERSONAS["naturally_difficult"].defining:
            assert getattr(q, f.name) == info.off, f.name


def test_a_claim_switches_off_its_assumptions():
    assert {"A3", "A4"} <= closure(frozenset({"C4"}))
    assert {"A5", "A6", "A12", "A13"} <= closure(frozenset({"C8"}))
    assert {"A15", "A16"} <= closure(frozenset({"C10"}))


def test_claims_doc_is_up_to_date():
    from difficult_customer.experiments.library.faithfulness import render_claims_doc

    assert (ROOT / "docs" / "claims.md").read_text(encoding="utf-8") == render_claims_doc(), (
        "docs/claims.md is stale: regenerate it with render_claims_doc()")


def test_claims_doc_shows_every_parameter_with_its_support_and_switch():
    text = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    for f in model_fields():
        info = param_info(f)
        row = next(line for line in text.splitlines() if line.startswith(f"| `{f.name}` |"))
        assert f"**{info.support.kind}**" in row, f.name
        for sid in (*info.claims, *([info.switch] if info.switch else [])):
            assert f"`{sid}`" in row, (f.name, sid)
    for sid in SWITCH_IDS:
        assert f"| {sid} |" in text


# ------------------------------------------------------------------- bad input
def test_unknown_ids_are_named_with_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown switch id 'A99' in ablate; allowed: C1, .*A1, .*D1"):
        check_switches(["A3", "A99"])
    with pytest.raises(ValueError, match=r"unknown switch id 'A99'"):
        compile_model("belligerent", ablate=["A99"])
    with pytest.raises(ValueError, match=r"unknown variant 'guides'; allowed: default, guide_only"):
        check_variant("guides")
    with pytest.raises(ValueError, match=r"unknown persona parameter 'calm'; allowed: .*listen_heard"):
        field_info("calm")
    with pytest.raises(ValueError, match=r"unknown support kind 'guess'; allowed: quoted, reading, assumption"):
        sampled_parameters(kinds=["guess"])
    with pytest.raises(ValueError, match=r"unknown guide 'x.txt'; allowed: 000_"):
        Quote("x.txt", "A sentence.")
    with pytest.raises(ValueError, match=r"switch id 'B1'"):
        Mixture("m", DEFAULT_MIXTURE.personas, DEFAULT_MIXTURE.weights, frozenset({"B1"}))


# ------------------------------------------------------------- sampled parameters
def test_sampled_parameters_cover_every_reading_and_assumption():
    specs = sampled_parameters()
    covered = {(s.persona, s.field) for s in specs}
    for name, p in PERSONAS.items():
        for f in model_fields():
            info = param_info(f)
            if info.support.kind in ("reading", "assumption") and f.name not in p.defining:
                assert (name, f.name) in covered, (name, f.name)
    assert {s.persona for s in specs if s.name == WEIGHT} == set(PERSONAS)
    for s in specs:
        assert s.low <= s.default <= s.high, s
        assert s.support in ("reading", "assumption")
        assert s.id == "" or s.id in SWITCHES, s
    assert len(sampled_parameters(kinds=("quoted", "reading", "assumption"))) > len(specs)


def test_the_built_in_model_is_the_sample_at_its_defaults():
    specs = [s for s in sampled_parameters(kinds=("quoted", "reading", "assumption")) if s.name != WEIGHT]
    rebuilt = build_mixture({s: s.default for s in specs})
    assert rebuilt.personas == DEFAULT_MIXTURE.personas and rebuilt.weights == DEFAULT_MIXTURE.weights


def test_a_sample_builds_a_model_and_changes_it():
    specs = sampled_parameters()
    values = sample_uniform(specs, np.random.default_rng(3))
    mixture = build_mixture(dict(zip(specs, values, strict=True)))
    assert sum(mixture.weights) == pytest.approx(1.0)
    for spec, value in zip(specs, values, strict=True):
        if spec.name == WEIGHT or spec.persona not in mixture.persona_names:
            continue
        p = next(p for p in mixture.personas if p.name == spec.persona)
        got = getattr(p, spec.field) if spec.index is None else getattr(p, spec.field)[spec.index]
        if spec.field != "initial_anger":  # renormalized
            assert got == pytest.approx(round(value) if spec.integer else value), spec


def test_a_zero_weight_leaves_the_persona_out_and_out_of_range_is_refused():
    specs = [s for s in sampled_parameters() if s.name == WEIGHT]
    values = {s: (0.0 if s.persona == "reasonable" else s.default) for s in specs}
    assert "reasonable" not in build_mixture(values).persona_names
    bad = ParameterSpec("listen_calm", "genuine_grievance", 0.2, 0.7, "quoted", "C1", 0.5)
    with pytest.raises(ValueError, match=r"genuine_grievance.listen_calm=0.9 is outside its range \[0.2, 0.7\]"):
        build_mixture({bad: 0.9})


def test_shared_values_are_the_field_defaults():
    for f in model_fields():
        assert SHARED[f.name] == f.default


def test_switches_thread_through_gym_make_and_policy_contexts():
    import gymnasium as gym

    from difficult_customer import envs  # noqa: F401  (registers the env)
    from difficult_customer.agents import PolicyContext

    env = gym.make("DifficultCustomer-v0", persona="belligerent", ablate=["A8", "D1"])
    assert env.unwrapped.tables.ablate == frozenset({"A8", "D1"})
    assert gym.make("DifficultCustomer-v0", persona="guide_only").unwrapped.tables.ablate == frozenset(ASSUMPTIONS)
    context = PolicyContext.create(persona="belligerent", ablate=["A9"])
    assert context.tables.ablate == frozenset({"A9"})
    assert context.env_kwargs()["ablate"] == ["A9"]


def test_guide_only_persona_is_the_default_mixture_under_the_guide_only_variant():
    by_persona = compile_model("guide_only")
    by_variant = compile_model("mixture", variant="guide_only")
    assert by_persona.ablate == by_variant.ablate == VARIANTS["guide_only"]
    np.testing.assert_array_equal(by_persona.next_prob, by_variant.next_prob)
    assert VARIANT_NAMES == tuple(VARIANTS) == ("default", "guide_only")


def test_deprecated_names_warn_and_still_work():
    from difficult_customer.customer_models import GUIDE_ONLY_MIXTURE

    with pytest.warns(DeprecationWarning, match="Mixture.ablate"):
        assert GUIDE_ONLY_MIXTURE.switched_off == GUIDE_ONLY_MIXTURE.ablate == VARIANTS["guide_only"]
    with pytest.warns(DeprecationWarning, match="SUPPORT_KINDS"):
        assert provenance.KINDS == provenance.SUPPORT_KINDS == ("quoted", "reading", "assumption")
