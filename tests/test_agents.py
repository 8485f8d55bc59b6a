"""Policies: the registry, the predict interface, and that guide scripts follow their guides."""

from __future__ import annotations

import numpy as np
import pytest

from difficult_customer import agents
from difficult_customer.agents import GUIDE_SCRIPTS, ObservationPolicy
from difficult_customer.customer_models import Move, Reaction, Tone
from difficult_customer.envs.customer_env import CustomerEnv
from difficult_customer.envs.observation import PARTIAL_SIZE, encode

SCRIPTED = [n for n in agents.names() if agents.spec(n).scripted]


def observe(*, tone=Tone.angry, reaction=Reaction.complains, solved=0, turn=0, last_move=-1, counts=None):
    counts = np.zeros(6, dtype=np.int64) if counts is None else np.asarray(counts)
    return encode(tone, reaction, solved, turn, 16, last_move, counts)


def first_moves(name: str, persona: str = "reasonable", n: int = 6, seed: int = 0) -> list[Move]:
    """The moves a policy makes in one conversation."""
    env = CustomerEnv(persona=persona, max_turns=n)
    policy = agents.make(name, seed=seed)
    obs, _ = env.reset(seed=seed)
    moves = []
    for _ in range(n):
        action, _ = policy.predict(obs)
        moves.append(Move(int(action)))
        obs, _, terminated, truncated, _ = env.step(int(action))
        if terminated or truncated:
            break
    return moves


def test_registry_lists_every_required_policy():
    names = agents.names()
    for required in ["random", "solution_first", "apology_spam", "tone_reader", *(f"guide_00{i}" for i in range(5))]:
        assert required in names


def test_unknown_policy_error_names_it_and_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown policy 'nope'.*guide_000.*or the path of a trained model"):
        agents.make("nope")
    with pytest.raises(ValueError, match=r"unknown policy 'ppo:some/path\.zip'"):  # no prefix parsing any more
        agents.make("ppo:some/path.zip")


def test_every_policy_says_what_it_is():
    kinds = {n: agents.spec(n).kind for n in agents.names()}
    assert set(kinds.values()) <= set(agents.KINDS)
    assert kinds["random"] == "baseline" and kinds["guide_000"] == "guide" and kinds["tone_reader"] == "adaptive"
    assert kinds["oracle"] == "oracle" and kinds["qmdp"] == "exact" and kinds["best_fixed_sequence"] == "exact"
    oracle, qmdp, guide = agents.spec("oracle"), agents.spec("qmdp"), agents.spec("guide_000")
    assert (oracle.decides_on, oracle.memory, oracle.needs_full_observation) == ("full", False, True)
    assert (qmdp.decides_on, qmdp.memory, qmdp.needs_full_observation) == ("belief", True, False)
    assert (guide.decides_on, guide.memory, guide.scripted) == ("partial", False, True)
    assert not oracle.scripted and not qmdp.learned
    assert agents.names("oracle") == ["oracle"]
    with pytest.raises(ValueError, match=r"unknown kind 'wizard'; allowed: scripted, baseline"):
        agents.names("wizard")


def test_context_for_gives_the_full_observation_to_policies_that_need_it():
    context = agents.PolicyContext.create(persona="belligerent", ablate=["C4"], seed=3)
    full = agents.spec("oracle").context_for(context)
    assert full.observation == "full" and (full.persona, full.ablate, full.seed) == ("belligerent", ("C4",), 3)
    for name in ("guide_000", "qmdp", "random"):
        assert agents.spec(name).context_for(context) is context
    env = CustomerEnv(**full.env_kwargs())
    obs, _ = env.reset(seed=0)
    action, _ = agents.make("oracle", full).predict(obs)  # the oracle reads the hidden state it was given
    assert 0 <= int(action) < 6


def test_a_registered_spec_checks_its_kind_and_what_it_decides_on():
    with pytest.raises(ValueError, match=r"policy 'x': unknown kind 'genius'; allowed: scripted, baseline, guide"):
        agents.PolicySpec("x", lambda ctx: None, "", "genius")
    with pytest.raises(ValueError, match=r"policy 'x': unknown decides_on 'psychic'; allowed: partial, belief, full"):
        agents.PolicySpec("x", lambda ctx: None, "", "scripted", decides_on="psychic")
    with pytest.raises(ValueError, match=r"policy 'guide_000' is already registered"):
        agents.register("guide_000", lambda ctx: None, "", "guide")


def test_the_old_observation_names_still_work_with_a_deprecation_warning(monkeypatch):
    from difficult_customer.agents import registry

    spec = agents.spec("qmdp")
    with pytest.warns(DeprecationWarning, match="PolicySpec.observation is deprecated; use PolicySpec.decides_on"):
        assert spec.observation == "belief"
    with pytest.warns(DeprecationWarning, match="OBSERVATIONS is deprecated; use difficult_customer.agents.DECIDES_ON"):
        assert agents.OBSERVATIONS is agents.DECIDES_ON
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # the policy below is not kept
    with pytest.warns(DeprecationWarning, match=r"register\(observation=...\) is deprecated"):
        registered = agents.register("peeking", lambda ctx: None, "", "scripted", observation="full")
    assert registered.decides_on == "full" and registered.needs_full_observation


def test_a_model_file_registers_as_a_learned_policy(tmp_path):
    import json

    folder = tmp_path / "ppo-belief" / "mixture" / "seed0"
    folder.mkdir(parents=True)
    (folder / "model.zip").write_bytes(b"not loaded until made")
    (folder / "config.json").write_text(json.dumps({"config": {"algo": "ppo", "observation": "belief",
                                                                "persona": "mixture"}}))
    spec = agents.register_model(folder / "model.zip")
    assert (spec.kind, spec.algo, spec.decides_on, spec.memory) == ("learned", "ppo", "belief", True)
    assert spec.name == str(folder / "model.zip") and spec.name in agents.names("learned")
    assert agents.register_model(folder / "model.zip") is spec  # the same model again: the same spec
    assert agents.spec(str(folder / "model.zip")) is spec
    named = agents.register_model(folder / "model.zip", algo="a2c", name=f"mine-{tmp_path.name}")
    assert named.algo == "a2c" and named.name in agents.names("learned")
    with pytest.raises(ValueError, match=r"unknown algorithm 'sac'.*allowed: ppo, a2c, dqn, recurrent_ppo"):
        agents.register_model(folder / "model.zip", algo="sac")
    bare = tmp_path / "bare.zip"
    bare.write_bytes(b"")
    with pytest.raises(ValueError, match=r"no config\.json beside .*bare\.zip.*give algo="):
        agents.register_model(bare)
    with pytest.raises(ValueError, match=r"policy 'guide_000' is already registered as something else"):
        agents.register_model(folder / "model.zip", name="guide_000")


@pytest.mark.parametrize("name", SCRIPTED)
def test_predict_takes_one_observation_or_a_batch(name):
    policy = agents.make(name, seed=0)
    one = observe()
    action, state = policy.predict(one)
    assert np.asarray(action).shape == () and 0 <= int(action) < 6 and state is None
    batch = np.stack([observe(), observe(solved=1, reaction=Reaction.accepts_offer)])
    actions, _ = policy.predict(batch)
    assert actions.shape == (2,)


@pytest.mark.parametrize("name", [n for n in SCRIPTED if n != "random"])
def test_scripted_policies_read_only_the_observation(name):
    """A full observation (hidden state appended) changes no scripted decision."""
    policy = agents.make(name)
    assert isinstance(policy, ObservationPolicy)
    env = CustomerEnv(persona="mixture", observation="full")
    rng = np.random.default_rng(0)
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        for _ in range(6):
            full, _ = policy.predict(obs)
            partial, _ = policy.predict(obs[:PARTIAL_SIZE])
            assert int(full) == int(partial)
            obs, _, terminated, truncated, _ = env.step(int(rng.integers(6)))
            if terminated or truncated:
                break


@pytest.mark.parametrize("name", list(GUIDE_SCRIPTS))
def test_guide_policies_open_in_their_guides_order(name):
    script = GUIDE_SCRIPTS[name]
    moves = first_moves(name, persona="reasonable", n=len(script.opening) + 1)
    assert moves[: len(script.opening)] == list(script.opening)
    assert moves[len(script.opening)] == Move.offer_options


def test_guide_000_and_002_set_a_boundary_on_insults_and_001_003_004_never_do():
    insulted = observe(reaction=Reaction.insults, tone=Tone.hostile, counts=[1, 1, 0, 0, 0, 0], turn=2, last_move=1)
    for name in ("guide_000", "guide_002", "tone_reader"):
        assert int(agents.make(name).predict(insulted)[0]) == Move.set_boundary
    for name in ("guide_001", "guide_003", "guide_004"):
        assert int(agents.make(name).predict(insulted)[0]) != Move.set_boundary


def test_guides_follow_up_after_a_solution_004_by_the_rule_for_unnamed_steps():
    """U1: guide 004 names no follow-up, so its script takes the step the other guides name."""
    solved = observe(solved=1, reaction=Reaction.accepts_offer, tone=Tone.calm, counts=[1, 1, 1, 1, 1, 0], turn=5)
    for name in ("guide_000", "guide_001", "guide_002", "guide_003", "guide_004", "tone_reader", "solution_first"):
        assert int(agents.make(name).predict(solved)[0]) == Move.follow_up, name


def test_guides_return_to_feelings_after_a_rejected_offer():
    # every script's opening done (guide_002's includes its limits step, a boundary), then a rejected offer
    rejected = observe(reaction=Reaction.rejects_offer, counts=[2, 2, 1, 1, 1, 0], turn=7, last_move=3)
    for name, script in GUIDE_SCRIPTS.items():
        assert int(agents.make(name).predict(rejected)[0]) == script.after_rejection[0]


def test_solution_first_offers_at_once_and_apology_spam_apologizes():
    assert first_moves("solution_first", persona="genuine_grievance", n=1) == [Move.offer_options]
    assert set(first_moves("apology_spam", persona="genuine_grievance", n=3)) == {Move.apologize}


def test_random_policy_is_seeded():
    a = agents.make("random", seed=1).predict(np.zeros((50, PARTIAL_SIZE)))[0]
    b = agents.make("random", seed=1).predict(np.zeros((50, PARTIAL_SIZE)))[0]
    c = agents.make("random", seed=2).predict(np.zeros((50, PARTIAL_SIZE)))[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(np.unique(a)) <= set(range(6))


def test_tone_reader_sets_a_boundary_only_on_abuse():
    calm_but_hostile_tone = observe(tone=Tone.hostile, reaction=Reaction.irritated, counts=[1, 1, 0, 0, 0, 0], turn=2)
    assert int(agents.make("tone_reader").predict(calm_but_hostile_tone)[0]) != Move.set_boundary


@pytest.mark.parametrize("name", ["guide_000", "qmdp", "best_fixed_sequence"])
def test_a_malformed_observation_is_named(name):
    with pytest.raises(ValueError, match=r"observation of shape \(5,\); expected \(\.\.\., >= 30\)"):
        agents.make(name).predict(np.zeros(5))
