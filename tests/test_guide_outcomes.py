"""The guide scripts: what they encode, and one sanity check on their value.

How the guides rank against each other, or against ``solution_first``, is a finding of
the report (and changes with the assumptions, see ``experiments.library.faithfulness``),
not something a test may require. What is tested: every script plays its cited steps in
its guide's order, the rule for unnamed steps is applied to all five alike, and (a
sanity check) each script does better than moving at random, exactly, in the default
model and in the guide-only variant.
"""

from __future__ import annotations

import numpy as np
import pytest

from difficult_customer import agents
from difficult_customer.agents import PolicyContext
from difficult_customer.agents.exact.evaluation import propagate, random_value
from difficult_customer.agents.guides import GUIDE_SCRIPTS
from difficult_customer.customer_models import Move, Reaction, Tone
from difficult_customer.envs.observation import encode
from difficult_customer.experiments.library.rollouts import run_episodes

GUIDES = list(GUIDE_SCRIPTS)


def observe(reaction=Reaction.unmoved, tone=Tone.angry, solved=0, turn=3, last_move=0, counts=(1, 1, 0, 0, 0, 0)):
    obs = encode(np.array([tone]), np.array([reaction]), np.array([solved]), np.array([turn]), 16,
                 np.array([last_move]), np.array([list(counts)]))
    return obs[0]


@pytest.mark.parametrize("persona", ["mixture", "guide_only"])
@pytest.mark.parametrize("guide", GUIDES)
def test_each_guide_does_better_than_random_exactly(guide, persona):
    context = PolicyContext.create(persona=persona)
    assert propagate(agents.make(guide, context), context).value > random_value(context)


def test_every_script_offers_and_follows_up_by_one_rule():
    for script in GUIDE_SCRIPTS.values():
        assert script.offer.move == Move.offer_options and script.follow_up.move == Move.follow_up
        for step in script.cited_steps():
            if step.rule:  # a rule-added step cites another guide's sentence, never its own guide's
                assert step.quote.guide != script.source, (script.name, step.move.name)
            else:
                assert step.quote.guide == script.source, (script.name, step.move.name)
    added = {(s.name, step.move) for s in GUIDE_SCRIPTS.values() for step in s.cited_steps() if step.rule}
    assert added == {("guide_004", Move.follow_up)}, "004 is the one guide that names no follow-up"


@pytest.mark.parametrize("guide", GUIDES)
def test_a_script_plays_its_steps_then_offers_then_follows_up(guide):
    script = GUIDE_SCRIPTS[guide]
    episodes = run_episodes(guide, PolicyContext.create(persona="reasonable"), range(20))
    for ep in episodes:
        opening = list(script.opening)
        assert ep.moves[: len(opening)] == [int(m) for m in opening][: len(ep.moves)]
        for i, move in enumerate(ep.moves):
            if ep.solved_before[i]:
                assert move == Move.follow_up


def test_only_guide_000_answers_an_insult_with_a_boundary_and_002_sets_its_limits_by_its_order():
    insulted = observe(reaction=Reaction.insults, tone=Tone.hostile, counts=(1, 1, 0, 0, 0, 0), last_move=1)
    assert int(agents.make("guide_000").predict(insulted)[0]) == Move.set_boundary
    for name in ("guide_001", "guide_003", "guide_004"):
        assert int(agents.make(name).predict(insulted)[0]) != Move.set_boundary
    # guide_002: after empathy and a listen comes its "Set Boundaries" step, whatever the tone...
    assert int(agents.make("guide_002").predict(observe(tone=Tone.calm, counts=(1, 1, 0, 0, 0, 0)))[0]) == \
        Move.set_boundary
    # ...and a hostile tone before that step does not bring it forward.
    hostile = observe(tone=Tone.hostile, counts=(0, 1, 0, 0, 0, 0), last_move=1)
    assert int(agents.make("guide_002").predict(hostile)[0]) == Move.listen


def test_repeated_apologies_soften_less_and_not_with_a3_a4_off():
    """A3 in conversations: the share of apologies that visibly soften, first vs third and later."""

    def shares(ablate):
        episodes = run_episodes("apology_spam", PolicyContext.create(persona="genuine_grievance", ablate=ablate),
                                range(600))
        first, later = [], []
        for ep in episodes:
            for i, _ in enumerate(ep.moves):
                if ep.anger[i] == 0:  # a calm customer cannot soften
                    continue
                softened = ep.reactions[i + 1] == Reaction.softens
                (first if i == 0 else later if i >= 2 else []).append(softened)
        return np.mean(first), np.mean(later)

    first, later = shares(())
    assert first > 4 * later
    first_off, later_off = shares(("A3", "A4"))
    assert later_off > 0.5 * first_off
