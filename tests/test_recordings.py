"""Recorded conversations: saved by a person's game, read back, checked by replay; serve and play --record."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import difficult_customer.envs  # noqa: F401  (registers DifficultCustomer-v0)
from difficult_customer.experiments.library.recordings import (
    FIELDS,
    FORMAT_NAME,
    Recording,
    ReplayGroup,
    Setting,
    read_recordings,
    recording_of,
    replay,
    save_recording,
)
from difficult_customer.experiments.teaching.session import MOVE_NAMES, Session


def finished(persona: str = "naturally_difficult", seed: int = 7, moves=(0, 1, 3)) -> Session:
    """A person's conversation played to its end: ``moves``, then follow-ups."""
    session = Session(persona=persona, seed=seed)
    for move in moves:
        if not session.done:
            session.move(move)
    while not session.done:
        session.move(5)
    return session


def env_recording(persona: str, ablate: tuple[str, ...], max_turns: int, seed: int) -> Recording:
    """A recording made by stepping ``CustomerEnv`` itself with seeded random moves (not through a Session)."""
    env = gym.make("DifficultCustomer-v0", persona=persona, ablate=list(ablate), max_turns=max_turns)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    moves, rewards, done, info = [], [], False, {}
    while not done:
        moves.append(int(rng.integers(6)))
        _, reward, terminated, truncated, info = env.step(moves[-1])
        rewards.append(float(reward))
        done = terminated or truncated
    env.close()
    return Recording(
        persona,
        ablate,
        max_turns,
        seed,
        tuple(moves),
        tuple(rewards),
        float(sum(rewards)),
        info["outcome"],
        "2025-01-01T00:00:00+00:00",
        "0.1.0",
    )


def write(folder: Path, name: str, data) -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# ------------------------------------------------------------------ save and read
def test_a_finished_conversation_round_trips_through_a_file(tmp_path):
    session = finished()
    path = save_recording(session, tmp_path / "new")
    assert path.parent == tmp_path / "new" and path.name.endswith(".json") and f"-seed{session.seed}-" in path.name
    data = json.loads(path.read_text())
    assert list(data) == list(FIELDS)  # the setting, the moves and their rewards: nothing about the player
    assert data["format"] == FORMAT_NAME and data["format_version"] == 1
    recordings, skipped = read_recordings(tmp_path / "new")
    assert skipped == []
    (record,) = recordings
    summary = session.summary()
    assert record.persona == "naturally_difficult" and record.seed == 7 and record.max_turns == session.max_turns
    assert record.moves == tuple(d.move for d in session.history) and record.moves[:3] == (0, 1, 3)
    assert record.rewards == tuple(d.reward for d in session.history)
    assert record.return_ == summary["return"] and record.outcome == summary["outcome"]
    assert record.recorded_at.endswith("+00:00") and record.project_version
    assert Recording.from_dict(record.as_dict()) == record


def test_two_saves_of_one_conversation_do_not_collide(tmp_path):
    session = finished()
    first, second = save_recording(session, tmp_path), save_recording(session, tmp_path)
    assert first != second and len(list(tmp_path.glob("*.json"))) == 2


def test_only_a_persons_finished_conversation_is_saved(tmp_path):
    unfinished = Session(persona="mixture", seed=1)
    unfinished.move(0)
    with pytest.raises(ValueError, match=r"not over \(turn 1 of 16\); allowed: only finished ones"):
        save_recording(unfinished, tmp_path)
    replayed = Session(persona="mixture", seed=3, policy="guide_004")
    while not replayed.done:
        replayed.policy_step()
    with pytest.raises(ValueError, match="played by policy 'guide_004'; allowed: only conversations a person played"):
        recording_of(replayed)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_or_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_recordings(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"holds no recording \(\*\.json file\)"):
        read_recordings(tmp_path)
    write(tmp_path, "file.json", "{}")
    with pytest.raises(ValueError, match="is not a folder"):
        read_recordings(tmp_path / "file.json")


# ------------------------------------------------------------------ replay
def test_replay_gives_the_environments_conversations(tmp_path):
    sessions = [finished("naturally_difficult", 7), finished("mixture", 3, (4, 0, 2)), finished("mixture", 11)]
    for session in sessions:
        save_recording(session, tmp_path)
    made = [env_recording("belligerent", ("C4",), 6, 5), env_recording("belligerent", ("C4",), 6, 9)]
    for i, record in enumerate(made):
        write(tmp_path, f"env{i}.json", record.as_dict())
    recordings, skipped = read_recordings(tmp_path)
    assert skipped == [] and len(recordings) == 5
    groups = replay(recordings)
    settings = [group.setting for group in groups]
    assert settings == sorted(settings) and len(settings) == 3
    assert Setting("belligerent", ("C4",), 6) in settings and Setting("mixture", (), 16) in settings
    assert sum(len(group.recordings) for group in groups) == 5
    for group in groups:
        setting, played, records = group  # unpacks as a tuple too
        assert isinstance(group, ReplayGroup) and played.n == len(records)
        assert played.seeds.tolist() == [r.seed for r in records]
        for i, record in enumerate(records):
            n = len(record.moves)
            assert int(played.turns[i]) == n and played.moves[i, :n].tolist() == list(record.moves)
            np.testing.assert_allclose(played.rewards[i, :n], record.rewards)
            assert played.outcome_names()[i] == record.outcome
            env = gym.make(
                "DifficultCustomer-v0",
                persona=setting.persona,
                ablate=list(setting.ablate),
                max_turns=setting.max_turns,
            )
            obs, _ = env.reset(seed=record.seed)
            seen, rewards = [obs], []
            for move in record.moves:
                obs, reward, *_ = env.step(move)
                seen.append(obs)
                rewards.append(reward)
            env.close()
            np.testing.assert_array_equal(played.observations(i), np.array(seen))
            np.testing.assert_allclose(rewards, record.rewards)


def test_replay_refuses_a_recording_that_disagrees():
    record = env_recording("reasonable", (), 8, 2)
    cut = Recording(
        record.persona,
        record.ablate,
        record.max_turns,
        record.seed,
        record.moves[:-1],
        record.rewards[:-1],
        sum(record.rewards[:-1]),
        record.outcome,
        record.recorded_at,
        "0.1.0",
    )
    with pytest.raises(ValueError, match=f"seed {record.seed} .*truncated"):
        replay([record, cut])
    assert replay([record])[0].rollout.returns[0] == pytest.approx(record.return_)


def test_bad_and_truncated_files_are_skipped_by_name_and_the_others_kept(tmp_path):
    good = env_recording("genuine_grievance", (), 16, 4).as_dict()
    assert len(good["moves"]) >= 2
    write(tmp_path, "a_good.json", good)
    write(tmp_path, "z_good.json", env_recording("genuine_grievance", (), 16, 8).as_dict())
    write(tmp_path, "corrupt.json", json.dumps(good)[:40])  # a file cut off half-way
    write(tmp_path, "move7.json", {**good, "moves": [*good["moves"][:-1], 7]})
    truncated = {**good, "moves": good["moves"][:-1], "rewards": good["rewards"][:-1]}
    write(tmp_path, "truncated.json", {**truncated, "return": sum(truncated["rewards"])})
    write(
        tmp_path,
        "rewards.json",
        {**good, "rewards": [r + 1 for r in good["rewards"]], "return": sum(good["rewards"]) + len(good["rewards"])},
    )
    write(tmp_path, "version.json", {**good, "format_version": 2})
    write(tmp_path, "persona.json", {**good, "persona": "grumpy"})
    write(tmp_path, "claim.json", {**good, "ablate": ["C99"]})
    write(tmp_path, "long.json", {**good, "max_turns": len(good["moves"]) - 1})
    write(tmp_path, "missing.json", {k: v for k, v in good.items() if k != "seed"})
    write(tmp_path, "notes.txt", "not a recording, not read")
    recordings, skipped = read_recordings(tmp_path)
    assert [r.seed for r in recordings] == [4, 8]
    reasons = {s.path.name: s.reason for s in skipped}
    assert list(reasons) == sorted(reasons)
    expected = {
        "corrupt.json": "not JSON",
        "move7.json": f"moves[{len(good['moves']) - 1}]=7; allowed: an integer from 0 to 5 (0 listen",
        "truncated.json": f"truncated: the conversation had not ended after its {len(good['moves']) - 1} moves",
        "rewards.json": "differ from the replay's",
        "version.json": "format_version 2; allowed: 1",
        "persona.json": "persona 'grumpy' is unknown; allowed: genuine_grievance",
        "claim.json": "switch 'C99' is unknown; allowed: C1",
        "long.json": f"{len(good['moves'])} moves with max_turns {len(good['moves']) - 1}",
        "missing.json": "missing field(s) seed",
    }
    assert set(reasons) == set(expected)
    for name, words in expected.items():
        assert words in reasons[name], (name, reasons[name])
    assert all(str(s).startswith(str(tmp_path / s.path.name) + ": ") for s in skipped)


def test_moves_after_the_end_are_skipped(tmp_path):
    good = env_recording("belligerent", (), 16, 1).as_dict()
    assert len(good["moves"]) < 16
    longer = {**good, "moves": [*good["moves"], 0], "rewards": [*good["rewards"], 0.0]}
    write(tmp_path, "longer.json", longer)
    recordings, (skipped,) = read_recordings(tmp_path)
    assert recordings == [] and skipped.path.name == "longer.json"
    assert f"ended after {len(good['moves'])} moves but the recording has {len(good['moves']) + 1}" in skipped.reason


# ------------------------------------------------------------------ serve --record
needs_flask = pytest.mark.skipif(importlib.util.find_spec("flask") is None, reason="the web page needs Flask")


def play_to_the_end(client, **body):
    response = client.post("/api/sessions", json=body)
    sid, state = response.get_json()["id"], response.get_json()["state"]
    answers = []
    while not state["done"]:
        path = f"/api/sessions/{sid}/step" if body.get("policy") else f"/api/sessions/{sid}/move"
        answer = client.post(path, json={} if body.get("policy") else {"move": 0}).get_json()
        answers.append(answer)
        state = answer["state"]
    return state, answers


@needs_flask
def test_serve_records_each_finished_human_conversation_and_says_so(tmp_path):
    from difficult_customer.experiments.teaching.serve import create_app

    folder = tmp_path / "rec"
    client = create_app(record=folder).test_client()
    recording = client.get("/api/options").get_json()["recording"]
    assert recording["on"] is True and recording["folder"] == str(folder)
    assert f"saved on this machine in {folder}" in recording["notice"]
    state, answers = play_to_the_end(client, persona="mixture", seed=3)
    assert [("recording" in a) for a in answers] == [False] * (len(answers) - 1) + [True]
    assert answers[-1]["recording"]["saved"] is True
    files = sorted(folder.glob("*.json"))
    assert [f.name for f in files] == [answers[-1]["recording"]["file"]]
    play_to_the_end(client, persona="mixture", seed=3, policy="guide_004")  # a policy's replay: not saved
    response = client.post("/api/sessions", json={"persona": "mixture", "seed": 4})
    client.post(f"/api/sessions/{response.get_json()['id']}/move", json={"move": 0})  # unfinished: not saved
    assert sorted(folder.glob("*.json")) == files
    (record,), skipped = read_recordings(folder)
    assert skipped == [] and record.seed == 3 and [MOVE_NAMES[m] for m in record.moves] == state["played"]


@needs_flask
def test_serve_without_record_saves_nothing(tmp_path, monkeypatch):
    from difficult_customer.experiments.teaching import serve

    monkeypatch.chdir(tmp_path)
    client = serve.create_app().test_client()
    assert client.get("/api/options").get_json()["recording"] == {"on": False, "folder": None, "notice": None}
    _, answers = play_to_the_end(client, persona="mixture", seed=3)
    assert not any("recording" in a for a in answers)
    assert list(tmp_path.iterdir()) == []


@needs_flask
def test_a_failed_save_is_reported_and_the_game_goes_on(tmp_path, caplog):
    from difficult_customer.experiments.teaching.serve import create_app

    blocker = write(tmp_path, "a_file", "x")
    client = create_app(record=blocker / "rec").test_client()
    state, answers = play_to_the_end(client, persona="mixture", seed=3)
    assert state["done"] and answers[-1]["recording"]["saved"] is False
    assert "the conversation was not recorded" in answers[-1]["recording"]["error"]
    assert "cannot save the recording of seed 3" in caplog.text
    assert client.get("/api/options").status_code == 200


@needs_flask
def test_serve_record_is_an_option_off_by_default(capsys, tmp_path):
    from difficult_customer.experiments import cli
    from difficult_customer.experiments.teaching.serve import Config, main

    assert Config().record is None
    assert cli.parse("serve", ["--record", "rec"]) == Config(record=Path("rec"))
    assert cli.main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--record" in out and "this machine" in out
    blocker = write(tmp_path, "a_file", "x")
    assert main(Config(port=0, record=blocker / "rec")) == 2
    assert "error: --record: cannot record in" in capsys.readouterr().err


# ------------------------------------------------------------------ play --record
def test_play_record_writes_the_finished_conversation(tmp_path, monkeypatch):
    pytest.importorskip("rich")
    from difficult_customer.experiments import cli
    from difficult_customer.experiments.teaching import play

    console = play.make_console(width=80)
    console.file = io.StringIO()
    keys = iter(["1\n"] * 16)
    monkeypatch.setattr(play, "make_console", lambda width=None: console)
    monkeypatch.setattr(play, "read_key", lambda: next(keys, None))
    folder = tmp_path / "rec"
    assert cli.parse("play", ["--record", str(folder)]) == play.Config(record=folder)
    assert play.main(play.Config(persona="genuine_grievance", seed=3, record=folder)) == 0
    out = console.file.getvalue()
    (path,) = folder.glob("*.json")
    assert "Recording: finished conversations are saved on this machine in" in out
    assert f"Recorded: {path}" in out.replace("\n", "")
    (record,), _ = read_recordings(folder)
    assert record.persona == "genuine_grievance" and record.seed == 3 and set(record.moves) == {0}


def test_play_record_saves_nothing_when_left_early_or_failing(tmp_path):
    pytest.importorskip("rich")
    from difficult_customer.experiments.teaching import play

    console = play.make_console(width=80)
    console.file = io.StringIO()
    keys = iter(["1\n"])
    session = Session(persona="genuine_grievance", seed=1)
    assert play.play(session, console, lambda: next(keys, None), record=tmp_path) == 0 and not session.done
    assert "Not recorded: only finished conversations are saved." in console.file.getvalue()
    assert list(tmp_path.iterdir()) == []
    blocker = write(tmp_path, "a_file", "x")
    keys = iter(["6\n"] * 16)
    assert play.play(Session(persona="mixture", seed=2), console, lambda: next(keys, None), record=blocker) == 0
    assert "The conversation was not recorded: " in console.file.getvalue()
