"""The teaching game: keys, the Session logic, and the terminal's play and watch commands."""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from difficult_customer import agents
from difficult_customer.agents.exact.evaluation import normalized
from difficult_customer.envs.customer_env import CustomerEnv
from difficult_customer.experiments.teaching.session import (
    MOVE_NAMES,
    Session,
    SessionStateError,
    check_move,
    check_policy,
    describe_summary,
    parse_key,
)

try:
    import rich  # noqa: F401

    HAVE_RICH = True
except ImportError:
    HAVE_RICH = False
needs_rich = pytest.mark.skipif(not HAVE_RICH, reason="the terminal game draws with rich (pip install rich)")

ROOT = Path(__file__).resolve().parents[1]


def _interruptible() -> None:
    """Let the child see Ctrl-C even when the test run itself ignores SIGINT (run in the background)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_to_end(session: Session, moves) -> None:
    moves = iter(moves)
    while not session.done:
        session.move(next(moves))


def best_moves(session: Session):
    """Moves that follow the belief-based reference policy's advice."""
    while True:
        yield session.advice()["belief_best"]


# ----------------------------------------------------------------- keys
@pytest.mark.parametrize(
    ("key", "move"),
    [("1", 0), ("2", 1), ("6", 5), (" 3\n", 2), ("listen", 0), ("Offer_Options", 3), ("follow_up\n", 5)],
)
def test_parse_key_picks_moves(key, move):
    assert parse_key(key) == move


@pytest.mark.parametrize("key", ["q", "Q", "quit\n", "exit", "\x04"])
def test_parse_key_quits(key):
    assert parse_key(key) is None


@pytest.mark.parametrize("key", ["0", "7", "x", "", "12", "shout", "\t", "\x1b", "\x1b[A"])
def test_parse_key_refuses_other_keys_naming_them(key):
    with pytest.raises(ValueError, match=r"key .* is not a move; allowed: 1 listen, 2 empathize, .*6 follow_up, or q"):
        parse_key(key)


@pytest.mark.parametrize("move", [-1, 6, True, 1.0, "shout", None, "1"])
def test_check_move_refuses_non_moves(move):
    with pytest.raises(ValueError, match=rf"move {move!r} is not a move; allowed: a move id \(0 listen, "):
        check_move(move)


# -------------------------------------------------------------- session
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"persona": "grumpy"}, r"persona 'grumpy' is unknown; allowed: genuine_grievance, "),
        ({"seed": -1}, r"seed -1 is not allowed; allowed: an integer from 0 to "),
        ({"seed": 1.5}, r"seed 1.5 is not allowed"),
        ({"policy": "nobody"}, r"policy 'nobody' is unknown; allowed: random, "),
        ({"max_turns": 0}, r"max_turns=0; allowed: an integer from 1 to 64"),
        ({"max_turns": 1000}, r"max_turns=1000; allowed: an integer from 1 to 64"),
        ({"depth": 5}, r"depth=5; allowed: 0, 1, 2"),
        ({"ablate": ["C99"]}, r"C99"),
    ],
)
def test_session_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Session(**kwargs)


def test_state_shows_the_conversation_and_hides_the_teacher_view_unless_asked():
    session = Session(persona="naturally_difficult", seed=7)
    state = session.state()
    assert state["turn"] == 0 and not state["done"] and state["summary"] is None and state["teacher"] is None
    assert [m["name"] for m in state["moves"]] == list(MOVE_NAMES)
    assert [m["key"] for m in state["moves"]] == ["1", "2", "3", "4", "5", "6"]
    assert state["transcript"][0].startswith("--- conversation 1 (persona hidden)")
    assert "Customer [" in state["transcript"][1]
    assert "anger" not in " ".join(state["transcript"])  # nothing hidden leaks into the student's transcript

    env = CustomerEnv("naturally_difficult")
    _, info = env.reset(seed=7)
    view = session.state(teacher=True)["teacher"]
    assert view["hidden"]["anger"] == info["hidden_state"]["anger"]
    assert view["hidden"]["trust"] == info["hidden_state"]["trust"]
    assert view["persona_belief"] == {"naturally_difficult": pytest.approx(1.0)}
    assert 0.0 <= view["expected_anger"] <= 4.0
    advice = view["advice"]
    assert set(advice["belief_q"]) == set(MOVE_NAMES) == set(advice["oracle_q"])
    assert advice["belief_best"] == max(advice["belief_q"], key=advice["belief_q"].get)
    assert advice["oracle_best"] == max(advice["oracle_q"], key=advice["oracle_q"].get)


def test_mixture_belief_is_a_distribution_over_the_three_personas():
    view = Session(persona="mixture", seed=3).teacher_view()
    belief = view["persona_belief"]
    assert set(belief) == {"genuine_grievance", "naturally_difficult", "belligerent"}
    assert sum(belief.values()) == pytest.approx(1.0)


def test_same_seed_same_conversation_and_sessions_are_independent():
    one, two = Session(seed=11), Session(seed=11)
    other = Session(seed=12)
    one.move(0)
    assert two.turn == 0 and other.turn == 0  # moving one leaves the others alone
    two.move(0)
    assert one.transcript == two.transcript
    assert one.state(teacher=True)["teacher"] == two.state(teacher=True)["teacher"]


def test_a_random_seed_is_drawn_and_shown():
    session = Session()
    assert isinstance(session.seed, int) and session.state()["seed"] == session.seed
    replay = Session(seed=session.seed)
    assert replay.transcript == session.transcript


def test_moves_record_the_values_seen_before_them():
    session = Session(persona="genuine_grievance", seed=2)
    before = session.advice()
    decision = session.move("listen")
    assert decision["turn"] == 1 and decision["move"] == "listen"
    assert decision["belief_q"] == before["belief_q"] and decision["oracle_q"] == before["oracle_q"]
    assert session.state()["played"] == ["listen"]
    assert session.transcript[-2].startswith("[ 1] Agent (listen)")


def test_summary_after_the_end_matches_an_independent_computation():
    session = Session(persona="naturally_difficult", seed=7)
    with pytest.raises(SessionStateError, match="not over"):
        session.summary()
    run_to_end(session, [1, 0, 3, 5] + [5] * 16)
    summary = session.summary()

    # The same conversation in a plain environment.
    env = CustomerEnv("naturally_difficult")
    env.reset(seed=7)
    total, info = 0.0, {}
    for move in [d.move for d in session.history]:
        _, reward, terminated, truncated, info = env.step(move)
        total += reward
    assert terminated or truncated
    assert summary["outcome"] == info["outcome"] and summary["return"] == pytest.approx(total)
    assert summary["normalized_score"] == pytest.approx(normalized(total, session.context))
    assert summary["true_persona"] == "naturally_difficult" and summary["turns"] == len(session.history)

    first = next(d for d in session.history if d.belief_q[d.move] < max(d.belief_q) - 1e-9)
    assert summary["first_difference"]["turn"] == first.turn + 1  # the move's number, as the transcript prints it
    assert summary["first_difference"]["belief_best"] == MOVE_NAMES[int(np.argmax(first.belief_q))]
    assert summary["first_difference"]["oracle_best"] == MOVE_NAMES[int(np.argmax(first.oracle_q))]
    assert f"Turn {first.turn + 1}: you played {MOVE_NAMES[first.move]}" in " ".join(summary["lines"])
    assert session.state()["summary"] == summary

    with pytest.raises(SessionStateError, match="conversation is over"):
        session.move(0)


@pytest.mark.parametrize(("persona", "seed"), [("mixture", 0), ("mixture", 9), ("belligerent", 4), ("reasonable", 2)])
def test_a_session_has_the_conversation_an_environment_seeded_alike_has(persona, seed):
    session = Session(persona=persona, seed=seed)
    env = CustomerEnv(persona, render_mode="ansi")
    _, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    while not session.done:
        assert session.hidden_state == info["hidden_state"] and session.turn == info["turn"]
        shown = session.state()
        assert (shown["tone"], shown["reaction"]) == (info["tone"], info["reaction"])
        move = int(rng.integers(6))
        session.move(move)
        _, reward, terminated, truncated, info = env.step(move)
        assert session.history[-1].reward == pytest.approx(reward)
    assert terminated or truncated
    assert session.transcript == env.render().splitlines()
    assert session.summary()["outcome"] == info["outcome"]


def test_following_the_advice_never_differs():
    session = Session(persona="mixture", seed=4)
    run_to_end(session, best_moves(session))
    summary = session.summary()
    assert summary["first_difference"] is None
    assert summary["matches"] == summary["turns"]
    assert "Every move matched" in " ".join(summary["lines"])
    assert session.state(teacher=True)["teacher"]["advice"] is None  # nothing to advise after the end


# ---------------------------------------------------------------- replays
def test_replaying_the_belief_policy_matches_its_own_advice():
    session = Session(persona="mixture", seed=3, policy="belief_lookahead")
    while not session.done:
        session.policy_step()
    assert session.summary()["first_difference"] is None
    assert session.summary()["player"] == "belief_lookahead"


def test_replaying_the_oracle_plays_the_oracles_best_moves():
    session = Session(persona="mixture", seed=3, policy="oracle")
    while not session.done:
        session.policy_step()
    assert all(d.matches_oracle for d in session.history)


def test_a_replay_plays_what_the_policy_plays_in_the_environment():
    session = Session(persona="mixture", seed=3, policy="guide_004")
    while not session.done:
        session.policy_step()
    env, policy = CustomerEnv("mixture"), agents.make("guide_004")
    obs, _ = env.reset(seed=3)
    moves, done = [], False
    while not done:
        action, _ = policy.predict(obs)
        moves.append(int(action))
        obs, _, terminated, truncated, _ = env.step(int(action))
        done = terminated or truncated
    assert [d.move for d in session.history] == moves


def test_a_trained_model_is_named_by_its_path_and_checked(tmp_path):
    model = tmp_path / "model.zip"
    model.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="no config.json beside"):  # a file that is not a trained model
        check_policy(str(model))
    with pytest.raises(ValueError, match=r"policy '.*model.zip' is unknown; allowed: random, .*trained model"):
        check_policy(str(tmp_path / "missing" / "model.zip"))
    with pytest.raises(ValueError, match=r"policy '.*model.zip' is unknown; allowed: random, ") as refused:
        check_policy(str(model), allow_files=False)  # the web never loads files
    assert "trained model" not in str(refused.value)
    assert check_policy("guide_004", allow_files=False) == "guide_004"


def test_replays_and_games_refuse_each_others_moves():
    replay = Session(seed=1, policy="guide_000")
    with pytest.raises(SessionStateError, match="replays policy 'guide_000'"):
        replay.move(0)
    with pytest.raises(SessionStateError, match="no policy to replay"):
        Session(seed=1).policy_step()


def test_describe_summary_when_the_oracle_prefers_the_move_played():
    summary = {
        "outcome": "solved", "return": 0.5, "normalized_score": 0.8, "random_value": -0.5, "oracle_value": 0.7,
        "turns": 3, "true_persona": "genuine_grievance", "player": "you", "believer": "belief_lookahead", "matches": 2,
        "decisions": [{}, {}, {}],
        "first_difference": {
            "turn": 2, "move": "apologize", "belief_best": "listen", "oracle_best": "apologize", "matches_oracle": True,
            "belief_q": {"listen": 0.5, "apologize": 0.4}, "oracle_q": {"listen": 0.6, "apologize": 0.7},
        },
    }
    text = " ".join(describe_summary(summary))
    assert "Turn 2: you played apologize" in text and "would have played listen" in text
    assert "the oracle, which sees the hidden state, rates apologize best" in text
    assert "Normalized score of this conversation: 0.80" in text


# ---------------------------------------------------------------- terminal
def recording_console():
    from difficult_customer.experiments.teaching.play import make_console

    console = make_console(width=80)
    console.file = io.StringIO()
    return console


@needs_rich
def test_terminal_game_with_scripted_keys_fits_80_columns():
    from difficult_customer.experiments.teaching.play import play

    console = recording_console()
    keys = iter(["x\n", "9\n", "2\n", "1\n", "4\n"] + ["6\n"] * 16)
    session = Session(persona="naturally_difficult", seed=7)
    assert play(session, console, lambda: next(keys, None), teacher=True) == 0
    out = console.file.getvalue()
    assert session.done
    assert "key 'x' is not a move" in out and "key '9' is not a move" in out
    assert "1 listen" in out and "6 follow_up" in out
    assert "anger    [" in out and "belief over persona:" in out and "move values (belief_lookahead" in out
    assert "End of the conversation" in out and "Normalized score of this conversation" in out
    assert max(len(line) for line in out.splitlines()) <= 80


@needs_rich
def test_terminal_game_ends_cleanly_at_the_end_of_input():
    from difficult_customer.experiments.teaching.play import play

    console = recording_console()
    keys = iter(["1\n"])
    session = Session(persona="genuine_grievance", seed=1)
    assert play(session, console, lambda: next(keys, None)) == 0
    out = console.file.getvalue()
    assert "(end of input)" in out and "You left the conversation after 1 turn" in out
    assert "teacher view" not in out  # only with --teacher


@needs_rich
def test_watch_waits_the_delay_between_turns():
    from difficult_customer.experiments.teaching.watch import watch

    console = recording_console()
    waits: list[float] = []
    session = Session(persona="mixture", seed=3, policy="guide_004")
    assert watch(session, console, delay=0.25, teacher=True, sleep=waits.append) == 0
    assert waits == [0.25] * session.turn
    out = console.file.getvalue()
    assert "The agent is the policy guide_004." in out and "-> guide_004 plays listen" in out
    assert "End of the conversation" in out


def run_module(args, stdin: str = ""):
    """Run ``python -m difficult_customer.experiments.<command> ...`` (what ``difficult-customer <command>`` runs)."""
    env = {**os.environ, "COLUMNS": "80", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", f"difficult_customer.experiments.teaching.{args[0]}", *args[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_play_and_watch_options_are_configs_with_documented_fields(capsys):
    from difficult_customer.experiments import cli
    from difficult_customer.experiments.teaching import play, watch

    config = cli.parse("play", ["--persona", "belligerent", "--seed", "4", "--ablate", "C4", "C7", "--teacher"])
    assert config == play.Config(persona="belligerent", seed=4, ablate=("C4", "C7"), teacher=True)
    config = cli.parse("watch", ["--policy", "guide_004", "--max-turns", "8", "--depth", "0", "--all-at-once"])
    assert config == watch.Config(policy="guide_004", max_turns=8, depth=0, all_at_once=True)
    assert cli.main(["watch", "--help"]) == 0
    out = capsys.readouterr().out
    for flag, words in [("--policy", "model.zip"), ("--delay", "seconds"), ("--all-at-once", "pauses")]:
        assert flag in out and words in out
    assert cli.main(["play", "--depth", "3"]) == 2  # depth is 0 or 1; tyro names the bad value
    assert "3" in capsys.readouterr().err


@needs_rich
@pytest.mark.parametrize(
    ("command", "config", "message"),
    [
        ("play", {"persona": "grumpy"}, "error: persona 'grumpy' is unknown; allowed: genuine_grievance"),
        ("play", {"max_turns": 0}, "error: max_turns=0; allowed: an integer from 1 to 64"),
        ("play", {"seed": -3}, "error: seed -3 is not allowed; allowed: an integer from 0 to"),
        ("watch", {"delay": -1.0}, "error: --delay -1.0; allowed: seconds >= 0"),
        ("watch", {"policy": "nobody"}, "error: policy 'nobody' is unknown; allowed: random"),
    ],
)
def test_bad_options_are_named_errors(capsys, command, config, message):
    from difficult_customer.experiments.teaching import play, watch

    module = {"play": play, "watch": watch}[command]
    assert module.main(module.Config(**config)) == 2
    assert message in capsys.readouterr().err


@needs_rich
def test_play_command_with_piped_keys_then_eof():
    result = run_module(["play", "--persona", "naturally_difficult", "--seed", "7"], stdin="2\nx\n1\n")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "Difficult customer | persona naturally_difficult | seed 7" in result.stdout
    assert "key 'x' is not a move" in result.stdout
    assert "[ 2] Agent (listen)" in result.stdout and "(end of input)" in result.stdout


@needs_rich
def test_play_command_plays_to_the_end():
    result = run_module(["play", "--persona", "genuine_grievance", "--seed", "3", "--teacher"], stdin="1\n" * 20)
    assert result.returncode == 0, result.stderr
    assert "End of the conversation" in result.stdout and "teacher view" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


@needs_rich
def test_watch_command_all_at_once_and_errors():
    result = run_module(["watch", "--policy", "guide_004", "--persona", "mixture", "--seed", "3", "--all-at-once"])
    assert result.returncode == 0, result.stderr
    assert "The agent is the policy guide_004." in result.stdout
    assert "Outcome: solved" in result.stdout and "Normalized score" in result.stdout
    bad = run_module(["watch", "--policy", "nobody", "--all-at-once"])
    assert bad.returncode == 2
    assert "error: policy 'nobody' is unknown; allowed: random," in bad.stderr
    assert "Traceback" not in bad.stderr


@needs_rich
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_the_game_without_a_traceback():
    env = {**os.environ, "COLUMNS": "80", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "difficult_customer.experiments.teaching.play", "--seed", "5"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        preexec_fn=_interruptible,
    )
    try:
        seen = b""
        deadline = time.monotonic() + 60  # a guard against hanging, not a timing assertion
        while b"Your move" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
        assert b"Your move" in seen, seen.decode(errors="replace")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert b"Stopped (Ctrl-C) after 0 turns" in seen + out
    assert b"Traceback" not in seen + out + err


def test_moves_are_recorded_as_move_values_and_the_old_names_warn():
    from difficult_customer.agents.exact import explain
    from difficult_customer.experiments.teaching import session as session_module

    session = Session(persona="belligerent", seed=2, max_turns=4)
    session.move("listen")
    values = session.history[0]
    assert isinstance(values, explain.MoveValues) and values.turn == 0 and values.move == 0
    assert values.as_dict()["turn"] == 1 and set(values.as_dict()["belief_q"]) == set(explain.MOVE_NAMES)
    with pytest.warns(DeprecationWarning, match="MoveValues"):
        assert session_module.Decision is explain.MoveValues
    with pytest.warns(DeprecationWarning, match="MoveValues"):
        assert explain.TurnExplanation is explain.MoveValues
