"""The exact evidence of why a memoryless learner stalls (experiments/library/stall.py)."""

from __future__ import annotations

import numpy as np
import pytest

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies)
from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.memoryless_search import search_memoryless
from difficult_customer.agents.exact.memoryless_value import memoryless_value, reached_table_keys
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.agents.exact.table_policies import TablePolicy
from difficult_customer.customer_models.vocabulary import Move, Reaction, Tone
from difficult_customer.envs.observation import encode
from difficult_customer.experiments.library.scores import reference_values
from difficult_customer.experiments.library.stall import describe, disagreements, training_dynamics


@pytest.fixture(scope="module")
def small():
    context = PolicyContext.create(persona="mixture", max_turns=4)
    return context, search_memoryless(context, random_starts=1).policy


def test_a_guide_against_the_best_table(small):
    context, table = small
    evidence = disagreements(agents.make("guide_000", context), table, context, top=4)
    refs = reference_values(context)
    exact = normalize(memoryless_value(agents.make("guide_000", context), context).value, refs["random"],
                      refs["oracle"])
    assert evidence.learner == pytest.approx(exact)
    assert evidence.learner <= evidence.after_one_sweep <= evidence.local_optimum + 1e-12
    assert 0 < evidence.disagreeing <= evidence.reached
    assert 0 < evidence.disagreement_mass <= evidence.expected_turns + 1e-9
    assert 0 <= evidence.shared_disagreement_mass <= evidence.disagreement_mass
    masses = [d.mass for d in evidence.top]
    assert masses == sorted(masses, reverse=True) and len(masses) == 4
    t_turns, t_keys, _ = reached_table_keys(table, context)
    reached_by_table = set(zip(t_turns.tolist(), t_keys.tolist(), strict=True))
    for d in evidence.top:
        assert d.table_reaches == ((d.turn, d.key) in reached_by_table)
        assert d.learner_move != d.table_move
        # the gain is the exact value of the learner with that one move switched
        fixed = TablePolicy(context.max_turns, None, agents.make("guide_000", context))
        fixed.set(d.turn, np.array([d.key]), np.array([Move[d.table_move].value]))
        value = normalize(memoryless_value(fixed, context).value, refs["random"], refs["oracle"])
        assert d.gain == pytest.approx(value - evidence.learner, abs=1e-12)


def test_the_table_against_itself_has_no_disagreement(small):
    context, table = small
    evidence = disagreements(table, table, context)
    assert evidence.disagreeing == 0 and evidence.disagreement_mass == 0 and evidence.top == []
    assert evidence.shared_disagreement_mass == 0
    assert evidence.learner == pytest.approx(evidence.table)


def test_bad_arguments_are_named(small):
    context, table = small
    with pytest.raises(ValueError, match="top=-1"):
        disagreements(table, table, context, top=-1)


def test_describe_reads_an_observation_back():
    obs = encode(Tone.tense, Reaction.softens, 0, 2, 16, Move.empathize, np.array([1, 1, 0, 0, 0, 0]))
    text = describe(obs)
    assert "tone tense" in text and "reaction softens" in text and "last move empathize" in text
    assert "listen x1" in text and "empathize x1" in text and "solved" not in text


def test_training_dynamics_averages_each_window():
    class M:
        entropy = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])
        value_loss = approx_kl = clip_fraction = np.zeros((2, 3))

    rows = training_dynamics(M(), updates_per_point=2, batch=10)
    assert [r["steps"] for r in rows] == [20.0, 30.0]
    assert rows[0]["entropy"] == pytest.approx(2.5) and rows[1]["entropy"] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="updates_per_point=0"):
        training_dynamics(M(), 0, 10)


def test_the_stall_command_writes_its_evidence(tmp_path, capsys):
    import json

    from difficult_customer.experiments.commands import stall

    out = tmp_path / "stall.json"
    assert stall.main(stall.Config(policy="guide_000", max_turns=3, top=2, out=str(out))) == 0
    data = json.loads(out.read_text())
    evidence = data["evidence"]
    assert evidence["learner"] <= evidence["local_optimum"] and len(evidence["top"]) <= 2
    assert "| turn | what the agent sees |" in capsys.readouterr().out
    assert stall.main(stall.Config(persona="nobody")) == 2
    assert "unknown persona 'nobody'" in capsys.readouterr().err
