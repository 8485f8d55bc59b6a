"""The batched environment and its SB3 adapter: spaces, seeding, autoreset, infos, equivalence.

The single env is the reference. With one customer and the same seed the batched env
plays exactly the single env's conversations; with many customers the distributions
of episode lengths, outcomes, returns, first observations and transitions must match
(chi-square tests at fixed seeds, with a check that they do reject a real difference).
"""

from __future__ import annotations

import copy
import importlib.util
import pickle
import subprocess
import sys
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from scipy.stats import chi2_contingency

from difficult_customer.customer_models import FACTORS, REWARD_TERMS, Move, Outcome, Reaction
from difficult_customer.envs import ENV_ID, CustomerEnv, CustomerVectorEnv
from difficult_customer.envs import observation as layout
from difficult_customer.envs.customer_vector_env import INFO_KEYS

N_MOVES = len(Move)


def make_vec(num_envs: int = 4, **kwargs) -> CustomerVectorEnv:
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def random_actions(seed: int, steps: int, num_envs: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, N_MOVES, (steps, num_envs))


def rollout(env: CustomerVectorEnv, actions: np.ndarray, seed: int) -> list:
    out = [env.reset(seed=seed)]
    out += [env.step(a) for a in actions]
    return out


# ------------------------------------------------------------ construction
def test_make_vec_builds_the_batched_env_with_batched_spaces():
    env = make_vec(5)
    assert isinstance(env, CustomerVectorEnv) and env.num_envs == 5
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.single_action_space == gym.spaces.Discrete(N_MOVES)
    assert env.action_space == batch_space(env.single_action_space, 5)
    assert env.single_observation_space == CustomerEnv().observation_space
    assert env.observation_space == batch_space(env.single_observation_space, 5)
    assert env.spec is not None and env.spec.id == ENV_ID


@pytest.mark.parametrize("observation", ["partial", "full"])
@pytest.mark.parametrize("persona", ["mixture", "belligerent"])
def test_reset_and_step_return_batched_arrays_in_the_spaces(persona, observation):
    env = make_vec(7, persona=persona, observation=observation)
    obs, info = env.reset(seed=0)
    assert info == {}
    assert obs.dtype == np.float32 and obs.shape == env.observation_space.shape == (
        7,
        env.single_observation_space.shape[0],
    )
    assert env.observation_space.contains(obs)
    for actions in random_actions(1, 30, 7):
        obs, reward, terminated, truncated, info = env.step(actions)
        assert env.observation_space.contains(obs) and obs.flags.c_contiguous
        assert reward.dtype == np.float64 and reward.shape == (7,)
        assert terminated.dtype == truncated.dtype == np.bool_ and terminated.shape == truncated.shape == (7,)
        assert not (terminated & truncated).any()
        assert info == {}


def test_max_episode_steps_from_make_vec_is_the_turn_limit():
    env = make_vec(64, max_episode_steps=3)
    assert env.max_turns == 3
    env.reset(seed=0)
    turns = np.zeros(64, dtype=int)
    for actions in np.zeros((20, 64), dtype=int):
        _, _, terminated, truncated, _ = env.step(actions)
        turns += 1
        assert (turns[truncated] == 3).all() and (turns <= 3).all()
        turns[terminated | truncated] = -1  # the next step restarts at turn 0
    assert CustomerVectorEnv(2, max_turns=4, max_episode_steps=4).max_turns == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_envs": 0}, "num_envs=0"),
        ({"num_envs": -3}, "num_envs=-3"),
        ({"num_envs": 2.0}, "num_envs=2.0"),
        ({"num_envs": True}, "num_envs=True"),
        ({"max_turns": 0}, "max_turns=0"),
        ({"max_turns": 5, "max_episode_steps": 6}, "disagree"),
        ({"max_episode_steps": 0}, "max_turns=0"),
        ({"observation": "hidden"}, "observation='hidden'"),
        ({"info_keys": ["outcome", "mood"]}, "unknown info key 'mood'"),
        ({"render_mode": "ansi"}, "render_mode='ansi'"),
        ({"persona": "nobody"}, "nobody"),
        ({"ablate": ["C11"]}, "C11"),
        ({"rewards": {"smile": 1.0}}, "smile"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_value(kwargs, message):
    kwargs = {"num_envs": 2, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        CustomerVectorEnv(**kwargs)


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (np.array([0, 1, 6]), "action 6 is outside"),
        (np.array([0, -1, 2]), "action -1 is outside"),
        (np.array([0, 1, -3], dtype=np.int8), "action -3 is outside"),
        (np.array([0.0, 1.0, 2.0]), "dtype float64"),
        (np.array([0, 1]), r"shape \(2,\)"),
        (np.array([[0, 1, 2]]), r"shape \(1, 3\)"),
    ],
)
def test_bad_actions_raise_value_error(actions, message):
    env = CustomerVectorEnv(3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(actions)


def test_integer_actions_of_any_int_dtype_and_lists_are_accepted():
    env = CustomerVectorEnv(3)
    env.reset(seed=0)
    for actions in ([0, 1, 2], np.array([3, 4, 5], dtype=np.uint8), np.array([0, 5, 1], dtype=np.int16)):
        env.step(actions)


def test_step_before_reset_raises():
    with pytest.raises(RuntimeError, match="before reset"):
        CustomerVectorEnv(2).step(np.zeros(2, dtype=int))


# ---------------------------------------------------------------- seeding
def test_same_seed_same_trajectories_other_seed_others():
    actions = random_actions(3, 60, 16)
    a = rollout(make_vec(16, info_keys="all"), actions, seed=42)
    b = rollout(make_vec(16, info_keys="all"), actions, seed=42)
    c = rollout(make_vec(16, info_keys="all"), actions, seed=43)
    assert data_equivalence(a, b, exact=True)
    assert not data_equivalence(a, c)


def test_reset_without_seed_continues_the_stream():
    env = make_vec(8)
    first, _ = env.reset(seed=5)
    again, _ = env.reset()
    fresh, _ = make_vec(8).reset(seed=5)
    assert np.array_equal(first, fresh)
    assert not np.array_equal(first, again)
    assert env.np_random_seed == 5


def test_returned_arrays_are_not_reused():
    env = make_vec(6, info_keys="all")
    obs, _ = env.reset(seed=0)
    kept = obs.copy()
    step = env.step(np.zeros(6, dtype=int))
    kept_step = [x.copy() for x in step[:4]]
    for actions in random_actions(0, 10, 6):
        env.step(actions)
    assert np.array_equal(obs, kept)
    for x, y in zip(step[:4], kept_step, strict=True):
        assert np.array_equal(x, y)


def test_writing_into_returned_arrays_does_not_change_the_env():
    a, b = make_vec(32, info_keys="all"), make_vec(32, info_keys="all")
    a.reset(seed=2)
    b.reset(seed=2)
    for actions in random_actions(3, 25, 32):
        out_a, out_b = a.step(actions), b.step(actions)
        assert data_equivalence(out_a, out_b, exact=True)
        for array in (*out_a[:4], *(v for v in out_a[4].values() if isinstance(v, np.ndarray))):
            array[...] = 0  # a careless caller


# ------------------------------------------------- single env equivalence
def play_single(env: CustomerEnv, actions, seed: int) -> list:
    """The single env under gymnasium's next-step autoreset, like a batched env of one customer."""
    out = [env.reset(seed=seed)]
    done = False
    for action in actions:
        if done:
            obs, info = env.reset()
            out.append((obs, 0.0, False, False, info))
            done = False
        else:
            out.append(env.step(int(action)))
            done = out[-1][2] or out[-1][3]
    return out


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"persona": "belligerent", "observation": "full"},
        {"persona": "naturally_difficult", "ablate": ["C4", "C6"], "max_turns": 5},
        {"persona": "genuine_grievance", "rewards": {"walked_away": -1.0, "turn": -0.1}},
    ],
)
def test_one_customer_plays_exactly_the_single_envs_conversations(kwargs):
    """Same seed, same actions: the same uniforms drive the same table lookups in both envs."""
    actions = random_actions(7, 400, 1)[:, 0]
    single = play_single(CustomerEnv(**kwargs), actions, seed=11)
    batched = rollout(CustomerVectorEnv(1, info_keys="all", **kwargs), actions[:, None], seed=11)
    episodes = 0
    for (s_obs, *s_rest), (b_obs, *b_rest) in zip(single[1:], batched[1:], strict=True):
        reward, terminated, truncated, info = s_rest
        assert np.array_equal(b_obs[0], s_obs)
        assert (b_rest[0][0], b_rest[1][0], b_rest[2][0]) == (reward, terminated, truncated)
        b_info = b_rest[3]
        assert b_info["state_index"][0] == info["state_index"] and b_info["turn"][0] == info["turn"]
        assert b_info["_outcome"][0] and Outcome(b_info["outcome"][0]).name == info["outcome"]
        assert b_info["return"][0] == pytest.approx(info["return"])
        episodes += info["outcome"] != "ongoing"
        assert (info["outcome"] != "ongoing") == (terminated or truncated)
    assert episodes >= 20
    assert np.array_equal(batched[0][0][0], single[0][0])


def collect_episodes(policy: str, episodes: int, seed: int, num_envs: int | None, **kwargs) -> dict[str, Counter]:
    """Episode statistics of the single env (num_envs None) or the batched env under a simple policy.

    ``policy`` is ``"cycle"`` (move = turn % 6) or ``"random"`` (a fixed-seed stream).
    """
    rng = np.random.default_rng(seed + 1)
    stats = {name: Counter() for name in ("length", "outcome", "return", "first_obs", "transition")}

    def choose(turns: np.ndarray) -> np.ndarray:
        return turns % N_MOVES if policy == "cycle" else rng.integers(0, N_MOVES, turns.shape)

    def record(length, outcome, ret):
        stats["length"][int(length)] += 1
        stats["outcome"][str(outcome)] += 1
        stats["return"][round(float(ret), 6)] += 1

    if num_envs is None:
        env = CustomerEnv(**kwargs)
        for episode in range(episodes):
            obs, info = env.reset(seed=seed if episode == 0 else None)
            stats["first_obs"][obs.tobytes()] += 1
            done, turn = False, 0
            while not done:
                state = info["state_index"]
                move = int(choose(np.array([turn]))[0])
                obs, reward, terminated, truncated, info = env.step(move)
                stats["transition"][(state, move, info["state_index"])] += 1
                turn += 1
                done = terminated or truncated
            record(turn, info["outcome"], info["return"])
        return stats

    env = CustomerVectorEnv(num_envs, info_keys=("state_index", "turn", "outcome", "return"), **kwargs)
    obs, info = env.reset(seed=seed)
    for row in obs:
        stats["first_obs"][row.tobytes()] += 1
    state, turn, restart = info["state_index"], info["turn"], np.zeros(num_envs, dtype=bool)
    finished = 0
    while finished < episodes:
        moves = choose(turn)
        obs, _, terminated, truncated, info = env.step(moves)
        for i in np.flatnonzero(~restart):
            stats["transition"][(int(state[i]), int(moves[i]), int(info["state_index"][i]))] += 1
        for row in obs[restart]:
            stats["first_obs"][row.tobytes()] += 1
        for i in np.flatnonzero(terminated | truncated):
            if finished < episodes:
                record(info["turn"][i], Outcome(info["outcome"][i]).name, info["return"][i])
                finished += 1
        state, turn, restart = info["state_index"], info["turn"], terminated | truncated
    return stats


def contingency_p(a: Counter, b: Counter, min_expected: float = 5.0) -> float:
    """Chi-square p-value that two histograms come from one distribution (rare bins merged)."""
    keys = sorted(set(a) | set(b), key=lambda k: -(a[k] + b[k]))
    table = np.array([[a[k] for k in keys], [b[k] for k in keys]], dtype=float)
    expected = table.sum(0) * table.sum(1)[:, None] / table.sum()
    rare = expected.min(0) < min_expected
    if rare.any():
        table = np.column_stack([table[:, ~rare], table[:, rare].sum(1)])
    if table.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(table).pvalue)


def compare(single: dict[str, Counter], batched: dict[str, Counter]) -> dict[str, float]:
    p = {name: contingency_p(single[name], batched[name]) for name in ("length", "outcome", "return", "first_obs")}
    by_row = Counter()
    for (s, a, _), count in single["transition"].items():
        by_row[(s, a)] += count
    rows, states = [], set()
    for (s, a), _ in by_row.most_common():  # the most visited row of each of the 6 most visited states
        if s not in states and len(rows) < 6:
            rows.append((s, a))
            states.add(s)
    for s, a in rows:
        rows = [
            Counter({nxt: c for (s2, a2, nxt), c in stats["transition"].items() if (s2, a2) == (s, a)})
            for stats in (single, batched)
        ]
        p[f"transition {s},{a}"] = contingency_p(*rows)
    return p


@pytest.mark.parametrize("policy", ["cycle", "random"])
def test_batched_env_follows_the_single_envs_distributions(policy):
    episodes = 2500
    single = collect_episodes(policy, episodes, seed=100, num_envs=None)
    batched = collect_episodes(policy, episodes, seed=200, num_envs=256)
    p_values = compare(single, batched)
    assert len(p_values) == 10
    # 10 tests at a fixed seed: a threshold of 1e-3 keeps false alarms rare yet catches a real difference.
    assert min(p_values.values()) > 1e-3, p_values


def test_the_equivalence_check_rejects_a_different_customer():
    """The same comparison tells apart the default model and one with apologies ablated (C4)."""
    single = collect_episodes("cycle", 2500, seed=100, num_envs=None)
    other = collect_episodes("cycle", 2500, seed=200, num_envs=256, ablate=["C4"])
    p_values = compare(single, other)
    assert min(p_values[k] for k in ("length", "outcome", "return")) < 1e-6, p_values


# --------------------------------------------------------------- autoreset
def test_next_step_autoreset_across_an_episode_boundary():
    env = make_vec(32, info_keys="all")
    env.reset(seed=3)
    actions = random_actions(4, 40, 32)
    for t in range(len(actions) - 2):
        obs, reward, terminated, truncated, info = env.step(actions[t])
        done = terminated | truncated
        if done.any():
            break
    else:
        pytest.fail("no conversation ended in 40 steps")
    ended = np.flatnonzero(done)
    final_turns = info["turn"][ended]
    assert (final_turns > 0).all()
    # The next step restarts the ended customers whatever their action, and steps the others.
    obs, reward, terminated, truncated, info = env.step(actions[t + 1])
    seen = layout.decode(obs)
    assert (reward[ended] == 0.0).all()
    assert not terminated[ended].any() and not truncated[ended].any()
    assert (info["turn"][ended] == 0).all() and (seen.turn_fraction[ended] == 0).all()
    assert (seen.last_move[ended] == -1).all() and (seen.counts[ended] == 0).all()
    opening = {int(Reaction.complains), int(Reaction.insults)}
    assert set(seen.reaction[ended].tolist()) <= opening
    assert not info["_reaction"][ended].any() and not info["_reward_terms"][ended].any()
    going_on = np.setdiff1d(np.arange(32), ended)
    assert info["_reaction"][going_on].all() and (seen.last_move[going_on] == actions[t + 1][going_on]).all()
    assert info["_hidden_state"].all() and info["_turn"].all()
    # ...and the step after that steps them normally.
    obs, *_ = env.step(actions[t + 2])
    assert (layout.decode(obs).last_move[ended] == actions[t + 2][ended]).all()


def test_restarting_customers_ignore_their_action():
    a, b = make_vec(16), make_vec(16)
    a.reset(seed=9)
    b.reset(seed=9)
    restart = np.zeros(16, dtype=bool)
    restarts = 0
    for row in random_actions(5, 30, 16):
        other = np.where(restart, (row + 1) % N_MOVES, row)  # different moves only where restarting
        out_a, out_b = a.step(row), b.step(other)
        assert data_equivalence(out_a, out_b, exact=True)
        restarts += int(restart.sum())
        restart = out_a[2] | out_a[3]
    assert restarts > 10


def test_reset_mask_restarts_only_the_masked_customers():
    env = make_vec(6, info_keys=("turn", "state_index"))
    env.reset(seed=1)
    for row in random_actions(2, 3, 6):
        obs, *_ = env.step(row)
    states = env.state_indices
    mask = np.array([True, False, True, False, False, False])
    new_obs, info = env.reset(options={"reset_mask": mask})
    assert np.array_equal(new_obs[~mask], obs[~mask])
    assert np.array_equal(env.state_indices[~mask], states[~mask])
    assert (layout.decode(new_obs[mask]).turn_fraction == 0).all()
    assert np.array_equal(info["_turn"], mask) and (info["turn"][mask] == 0).all()


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copy_mid_conversation_goes_on_with_the_same_conversations(how):
    """A copy taken mid-run (some customers awaiting autoreset) continues the same conversations and stream."""
    env = make_vec(16, info_keys="all")
    env.reset(seed=2)
    actions = random_actions(3, 40, 16)
    pending = False
    for row in actions[:6]:
        _, _, terminated, truncated, _ = env.step(row)
        pending = bool((terminated | truncated).any())
    assert pending  # the copy must also carry the autoreset due at the next step
    twin = copy.deepcopy(env) if how == "deepcopy" else pickle.loads(pickle.dumps(env))
    assert twin.tables is env.tables
    copied = [twin.step(row) for row in actions[6:]]  # the copy first: the original must not share its state
    original = [env.step(row) for row in actions[6:]]
    for a, b in zip(copied, original, strict=True):
        assert data_equivalence(a, b)
    assert sum(int((step[2] | step[3]).sum()) for step in original) >= 10


def test_reset_mask_cancels_a_pending_autoreset():
    env = make_vec(64, max_turns=1)
    env.reset(seed=0)
    _, _, terminated, truncated, _ = env.step(np.zeros(64, dtype=int))
    done = terminated | truncated
    assert done.all()  # every conversation ends at the one-turn limit
    env.reset(options={"reset_mask": done})
    obs, reward, terminated, truncated, _ = env.step(np.zeros(64, dtype=int))
    assert (layout.decode(obs).last_move == 0).all()  # a real move, not a restart
    assert (terminated | truncated).all()


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        ([True, False], "numpy bool array"),
        (np.array([1, 0]), "numpy bool array"),
        (np.array([True, False, True]), r"shape \(3,\)"),
        (np.array([False, False]), "all False"),
    ],
)
def test_bad_reset_mask_raises(mask, message):
    env = CustomerVectorEnv(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.reset(options={"reset_mask": mask})


# ------------------------------------------------------------------- infos
def test_infos_have_only_the_keys_asked_for_with_masks():
    assert make_vec(3).reset(seed=0)[1] == {}
    env = make_vec(3, info_keys=["turn", "outcome"])
    _, info = env.reset(seed=0)
    assert set(info) == {"turn", "_turn", "outcome", "_outcome"}
    _, info = make_vec(3, info_keys="all").reset(seed=0)
    assert set(info) == {k for key in INFO_KEYS for k in (key, "_" + key)}
    assert set(info["hidden_state"]) == {k for f in FACTORS for k in (f, "_" + f)}


def test_info_values_agree_with_the_tables_and_the_rewards():
    env = make_vec(64, persona="mixture", info_keys="all")
    t = env.tables
    _, info = env.reset(seed=4)
    returns = np.zeros(64)
    outcomes = 0
    for row in random_actions(6, 60, 64):
        before = info["state_index"]
        obs, reward, terminated, truncated, info = env.step(row)
        moved = info["_reaction"]
        state = info["state_index"]
        for name in FACTORS:
            assert np.array_equal(info["hidden_state"][name], t.factor(name)[state])
        seen = layout.decode(obs)
        assert np.array_equal(seen.tone, info["tone"]) and np.array_equal(seen.reaction[moved], info["reaction"][moved])
        terms = np.column_stack([info["reward_terms"][name] for name in REWARD_TERMS])
        assert np.allclose((terms @ t.rewards.vector())[moved], reward[moved])
        possible = (t.next_state[before, row] == state[:, None]) & (t.next_prob[before, row] > 0)
        assert possible.any(-1)[moved].all()
        returns = np.where(moved, returns + reward, 0.0)
        done = terminated | truncated
        # Outcome and return are there for every customer at every step: ongoing and the return so far.
        assert info["_outcome"].all() and info["_return"].all()
        assert np.allclose(info["return"], returns)
        assert (info["outcome"][~done] == Outcome.ongoing).all()
        timed_out = info["outcome"][truncated]
        assert (timed_out == Outcome.timed_out).all()
        assert np.array_equal(info["outcome"][terminated], t.factor("status")[state[terminated]])
        assert (info["outcome"][terminated] != Outcome.ongoing).all()
        outcomes += int(done.sum())
    assert outcomes > 100


def test_observations_are_the_single_envs_encoding_of_the_visible_history():
    env = make_vec(50, info_keys=("state_index", "tone", "reaction", "turn", "hidden_state"))
    opening = env.tables.opening_reaction
    obs, info = env.reset(seed=8)
    counts = np.zeros((50, N_MOVES), dtype=int)
    last = np.full(50, -1)
    reaction = opening[info["state_index"]]
    restart = np.zeros(50, dtype=bool)
    for row in random_actions(9, 40, 50):
        solved = info["hidden_state"]["solved"]
        expected = layout.encode(info["tone"], reaction, solved, info["turn"], env.max_turns, last, counts)
        assert np.array_equal(obs, expected)
        obs, _, terminated, truncated, info = env.step(row)
        counts = np.where(restart[:, None], 0, counts + np.eye(N_MOVES, dtype=int)[row])
        last = np.where(restart, -1, row)
        reaction = np.where(info["_reaction"], info["reaction"], opening[info["state_index"]])
        assert np.array_equal(info["_reaction"], ~restart)
        restart = terminated | truncated


# ------------------------------------------------------------- SB3 adapter
needs_sb3 = pytest.mark.skipif(importlib.util.find_spec("stable_baselines3") is None, reason="needs stable-baselines3")


def test_core_package_imports_without_stable_baselines3():
    code = (
        "import sys; sys.modules['stable_baselines3'] = None\n"
        "import difficult_customer.envs, gymnasium as gym\n"
        "env = gym.make_vec('DifficultCustomer-v0', num_envs=2, vectorization_mode='vector_entry_point')\n"
        "env.reset(seed=0)\n"
        "try:\n    import difficult_customer.envs.sb3_vec_env\nexcept ImportError as e:\n    print('hint:', e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install difficult-customer[train]" in result.stdout


@needs_sb3
def test_sb3_adapter_resets_on_done_with_terminal_observation():
    from stable_baselines3.common.vec_env import VecCheckNan

    from difficult_customer.envs.sb3_vec_env import CustomerSB3VecEnv

    adapter = CustomerSB3VecEnv(num_envs=8, max_turns=4)
    venv = VecCheckNan(adapter, raise_exception=True)
    venv.seed(3)
    obs = venv.reset()
    assert obs.shape == (8, 30) and obs.dtype == np.float32
    ended = truncations = 0
    for row in random_actions(1, 60, 8):
        obs, rewards, dones, infos = venv.step(row)
        assert rewards.dtype == np.float32 and dones.dtype == np.bool_ and len(infos) == 8
        for i in range(8):
            if dones[i]:
                ended += 1
                final = layout.decode(infos[i]["terminal_observation"])
                assert final.turn_fraction > 0 and final.last_move == row[i]
                assert layout.decode(obs[i]).turn_fraction == 0  # already the next conversation
                truncations += infos[i]["TimeLimit.truncated"]
                if infos[i]["TimeLimit.truncated"]:
                    assert final.turn_fraction == 1.0
            else:
                assert infos[i] == {}
                assert layout.decode(obs[i]).last_move == row[i]
    assert ended > 20 and truncations > 0


@needs_sb3
def test_sb3_adapter_seeding_and_attributes():
    from difficult_customer.envs.sb3_vec_env import CustomerSB3VecEnv

    def play(seed):
        venv = CustomerSB3VecEnv(num_envs=4)
        venv.seed(seed)
        out = [venv.reset()]
        out += [venv.step(row)[:3] for row in random_actions(0, 20, 4)]
        return out

    assert data_equivalence(play(1), play(1), exact=True)
    assert not data_equivalence(play(1), play(2))
    venv = CustomerSB3VecEnv(num_envs=3, persona="belligerent")
    assert venv.get_attr("max_turns") == [16, 16, 16] and venv.get_attr("max_turns", indices=[0]) == [16]
    assert venv.env_is_wrapped(gym.Wrapper) == [False] * 3
    assert venv.render_mode is None
    with pytest.raises(ValueError, match="either venv alone"):
        CustomerSB3VecEnv(num_envs=3, venv=CustomerVectorEnv(2))


@needs_sb3
def test_sb3_adapter_also_wraps_a_sync_vector_env():
    from difficult_customer.envs.sb3_vec_env import CustomerSB3VecEnv

    venv = CustomerSB3VecEnv(venv=gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="sync", max_turns=2))
    venv.reset()
    done_seen = False
    for row in random_actions(0, 6, 3):
        obs, _, dones, infos = venv.step(row)
        for i in np.flatnonzero(dones):
            done_seen = True
            assert "terminal_observation" in infos[i] and layout.decode(obs[i]).turn_fraction == 0
    assert done_seen


@needs_sb3
def test_ppo_trains_on_the_batched_adapter():
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    from difficult_customer.envs.sb3_vec_env import CustomerSB3VecEnv

    venv = VecMonitor(CustomerSB3VecEnv(num_envs=8))
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu", verbose=0)
    model.learn(512)
    assert model.num_timesteps >= 512
    assert len(model.ep_info_buffer) > 0
    actions, _ = model.predict(venv.reset(), deterministic=True)
    assert actions.shape == (8,)
