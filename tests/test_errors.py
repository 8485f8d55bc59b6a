"""Every bad input gets a clear error that names the value and what is allowed."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded

from difficult_customer.customer_models import Mixture, Move, Persona, Rewards, State, compile_model
from difficult_customer.customer_models.personas import GENUINE_GRIEVANCE, NATURALLY_DIFFICULT, PROBABILITY_FIELDS
from difficult_customer.envs import ENV_ID, CustomerEnv
from difficult_customer.envs import observation as layout


def message(value) -> str:
    """A regex matching ``repr(value)`` literally."""
    return re.escape(repr(value))


# ------------------------------------------------------------------ actions
@pytest.mark.parametrize("action", [-1, 6, 100, np.int64(7)])
def test_action_outside_the_space(action):
    env = CustomerEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=rf"action {message(action)} is outside the action space.*allowed: 0-5"):
        env.step(action)


@pytest.mark.parametrize("action", [2.5, "listen", None, True, np.array([1, 2]), 3.0])
def test_action_not_a_move_id(action):
    env = CustomerEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"is not a move id; allowed: integers 0-5 \(listen, empathize"):
        env.step(action)


def test_bad_action_leaves_the_conversation_unchanged():
    env = CustomerEnv()
    _, info = env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(6)
    _, _, _, _, after = env.step(Move.listen)
    assert after["turn"] == 1, "the rejected action took no turn"
    assert info["turn"] == 0


def test_bad_action_through_gym_make():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action -1 is outside the action space"):
        env.step(-1)


# ----------------------------------------------------------------- personas
@pytest.mark.parametrize("persona", ["angry_bob", "Mixture", "", 3, None])
def test_unknown_persona(persona):
    pattern = rf"unknown persona {message(persona)}; allowed: genuine_grievance, naturally_difficult, belligerent"
    with pytest.raises(ValueError, match=pattern):
        CustomerEnv(persona)
    with pytest.raises(ValueError, match=pattern):
        compile_model(persona)


def test_unknown_persona_through_gym_make():
    with pytest.raises(ValueError, match=r"unknown persona 'nobody'; allowed: .*mixture"):
        gym.make(ENV_ID, persona="nobody")


@pytest.mark.parametrize("field", PROBABILITY_FIELDS)
@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan])
def test_probability_outside_unit_interval(field, value):
    with pytest.raises(ValueError, match=rf"{field}={message(value)} is not a probability; allowed range is \[0, 1\]"):
        replace(GENUINE_GRIEVANCE, **{field: value})


def test_listen_heard_above_one_named():
    with pytest.raises(ValueError, match=r"'genuine_grievance': listen_heard=1\.5 .*\[0, 1\]"):
        replace(GENUINE_GRIEVANCE, listen_heard=1.5)


def test_initial_anger_must_sum_to_one():
    with pytest.raises(ValueError, match=r"initial_anger=\(0\.5, 0\.0, 0\.0, 0\.0, 0\.0\) sums to 0\.5; allowed is"):
        replace(GENUINE_GRIEVANCE, initial_anger=(0.5, 0.0, 0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match=r"initial_anger has 3 entries; allowed is one per anger level \(5\)"):
        replace(GENUINE_GRIEVANCE, initial_anger=(0.2, 0.3, 0.5))
    with pytest.raises(ValueError, match=r"initial_anger\[0\]=-0\.5 is not a probability"):
        replace(GENUINE_GRIEVANCE, initial_anger=(-0.5, 0.5, 0.5, 0.5, 0.0))


def test_other_persona_ranges():
    with pytest.raises(ValueError, match=r"offer_accept\[2\]=1\.2 is not a probability; allowed range is \[0, 1\]"):
        replace(GENUINE_GRIEVANCE, offer_accept=(1.0, 1.0, 1.2, 0.5, 0.1))
    with pytest.raises(ValueError, match=r"offer_accept has 2 entries"):
        replace(GENUINE_GRIEVANCE, offer_accept=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"tone_up \+ tone_down = 1\.2; allowed is at most 1"):
        replace(GENUINE_GRIEVANCE, tone_up=0.6, tone_down=0.6)
    with pytest.raises(ValueError, match=r"initial_trust=4; allowed is 0, 1, 2 or 3"):
        replace(GENUINE_GRIEVANCE, initial_trust=4)
    for patience in (0, 5, 2.5):
        with pytest.raises(ValueError, match=rf"patience={message(patience)}; allowed is 1, 2, 3 or 4"):
            replace(GENUINE_GRIEVANCE, patience=patience)
    with pytest.raises(ValueError, match=r"'custom': listen_calm=2 "):
        Persona(name="custom", listen_calm=2)


def test_persona_fields_cannot_be_misspelled():
    with pytest.raises(TypeError, match="listen_herd"):
        replace(GENUINE_GRIEVANCE, listen_herd=0.5)


def test_mixture_errors():
    pair = (GENUINE_GRIEVANCE, NATURALLY_DIFFICULT)
    with pytest.raises(ValueError, match=r"mixture 'm': weights sum to 0\.9; allowed is 1"):
        Mixture("m", pair, (0.5, 0.4))
    with pytest.raises(ValueError, match=r"2 personas but 1 weights; allowed is one weight per persona"):
        Mixture("m", pair, (1.0,))
    with pytest.raises(ValueError, match=r"weight of 'genuine_grievance' is 1\.5; allowed is \(0, 1\]"):
        Mixture("m", pair, (1.5, -0.5))
    with pytest.raises(ValueError, match=r"repeat; allowed are distinct names"):
        Mixture("m", (GENUINE_GRIEVANCE, GENUINE_GRIEVANCE), (0.5, 0.5))


# ------------------------------------------------------------------ ablation
@pytest.mark.parametrize("ablate", [["C11"], ["C0"], ["c4"], ["C4", "listen"], "C42"])
def test_unknown_claim_in_ablate(ablate):
    bad = next(c for c in ([ablate] if isinstance(ablate, str) else ablate) if not re.fullmatch(r"C(10|[1-9])", c))
    pattern = rf"unknown switch id {message(bad)} in ablate; allowed: C1, C2, .*C10"
    with pytest.raises(ValueError, match=pattern):
        CustomerEnv(ablate=ablate)
    with pytest.raises(ValueError, match=pattern):
        compile_model("genuine_grievance", ablate=ablate)


# ------------------------------------------------------------- env arguments
@pytest.mark.parametrize("max_turns", [0, -1, "5", 2.5, None, True])
def test_bad_max_turns(max_turns):
    with pytest.raises(ValueError, match=rf"max_turns={message(max_turns)}; allowed is an integer >= 1"):
        CustomerEnv(max_turns=max_turns)


@pytest.mark.parametrize("mode", ["fully", "Partial", "", None])
def test_bad_observation_mode(mode):
    with pytest.raises(ValueError, match=rf"observation={message(mode)}; allowed: partial, full"):
        CustomerEnv(observation=mode)


def test_unknown_reward_term():
    with pytest.raises(ValueError, match=r"unknown reward term 'solve'; allowed: .*solved.*turn"):
        CustomerEnv(rewards={"solve": 1.0})
    with pytest.raises(ValueError, match=r"unknown reward term 'walkaway'"):
        Rewards.from_mapping({"walkaway": -1.0})


@pytest.mark.parametrize("weight", ["high", math.nan, math.inf, None])
def test_bad_reward_weight(weight):
    with pytest.raises(ValueError, match=rf"reward weight turn={message(weight)} must be a finite number"):
        CustomerEnv(rewards={"turn": weight})


def test_bad_rewards_type():
    with pytest.raises(ValueError, match=r"rewards=5; allowed: None, a Rewards, or a mapping"):
        CustomerEnv(rewards=5)


@pytest.mark.parametrize("render_mode", ["rgb", "text", "ANSI"])
def test_invalid_render_mode(render_mode):
    with pytest.raises(ValueError, match=rf"render_mode={message(render_mode)}; allowed: None, ansi, human"):
        CustomerEnv(render_mode=render_mode)


# ------------------------------------------------------------- call order
def test_step_before_reset():
    with pytest.raises(ResetNeeded, match=r"before reset\(\); call env.reset\(\) first"):
        CustomerEnv().step(Move.listen)


def test_step_after_the_end():
    env = CustomerEnv("genuine_grievance", max_turns=2)
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(Move.follow_up)
        done = terminated or truncated
    with pytest.raises(ResetNeeded, match=r"after the conversation ended; call env.reset\(\) first"):
        env.step(Move.listen)
    env.reset()
    env.step(Move.listen)  # a reset makes it usable again


# ------------------------------------------------------------------ readers
def test_decode_too_short_observation():
    with pytest.raises(ValueError, match=rf"observation has 5 values; expected at least {layout.PARTIAL_SIZE}"):
        layout.decode(np.zeros(5))


def test_index_of_unreachable_state(genuine):
    unreachable = State(persona=0, status=0, anger=0, trust=3, heard=0, apologies=2, solved=0, abuse=1, patience=4)
    with pytest.raises(KeyError):
        genuine.index(unreachable)


# ------------------------------------------------------------- bugs found and fixed
@pytest.mark.parametrize("render_mode", ["human", "rgb_array"])
def test_render_before_reset(render_mode):
    with pytest.raises(ResetNeeded, match=r"reset\(\)"):
        CustomerEnv(render_mode=render_mode).render()


def test_numpy_scalars_are_numbers():
    assert replace(GENUINE_GRIEVANCE, listen_heard=np.float32(0.5)).listen_heard == 0.5
    assert Rewards.from_mapping({"turn": np.float32(-1.0), "solved": np.int64(1)}).turn == -1.0


def test_mixture_with_a_zero_weight_is_refused_or_compiles():
    try:
        mixture = Mixture("m", (GENUINE_GRIEVANCE, NATURALLY_DIFFICULT), (1.0, 0.0))
    except ValueError as error:  # refused up front, naming the weight: fine
        assert "weight of 'naturally_difficult' is 0.0; allowed is (0, 1]" in str(error)
        return
    tables = compile_model(mixture)  # or compiled, never drawing the weight-0 persona
    assert tables.initial[tables.factor("persona") == 1].sum() == 0


# ------------------------------------------------------------- experiments library
def test_budget_errors_name_the_value_and_the_presets():
    from difficult_customer.experiments.library.budgets import BUDGETS, Budget, budget

    with pytest.raises(ValueError, match=r"unknown budget 'huge'; allowed: default, quick, tiny"):
        budget("huge")
    with pytest.raises(ValueError, match=r"budget eval_episodes=0; allowed is an integer >= 1"):
        Budget(eval_episodes=0)
    with pytest.raises(ValueError, match=r"budget learner 'ppo': \(100, 0\); allowed is \(steps >= 1, seeds >= 1\)"):
        Budget({"ppo": (100, 0)})
    with pytest.raises(ValueError, match=r"learner 'sac' is not in this budget; allowed: ppo, ppo_belief"):
        BUDGETS["tiny"].only("sac")


def test_evaluation_errors_name_what_is_missing():
    from difficult_customer.agents import PolicyContext
    from difficult_customer.experiments.library.evaluation import policy_value, summarize

    with pytest.raises(ValueError, match=r"policy 'qmdp' cannot be valued exactly; give its episodes or mc_episodes"):
        policy_value("qmdp", PolicyContext.create(persona="mixture"))
    with pytest.raises(ValueError, match="summarize needs at least one episode"):
        summarize([])


def test_train_command_errors_are_named_before_training(tmp_path, capsys):
    from difficult_customer.experiments import cli

    assert cli.main(["train", "--persona", "angry_bob", "--out", str(tmp_path)]) == 2
    assert "unknown persona 'angry_bob'" in capsys.readouterr().err
    assert cli.main(["train", "--algo", "sac", "--out", str(tmp_path)]) == 2
    assert "sac" in capsys.readouterr().err
    assert not list(tmp_path.rglob("model.zip"))
