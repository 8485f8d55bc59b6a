"""The teaching web server's API through Flask's test client, and the serve command itself."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="the web page needs Flask (pip install flask)")

from difficult_customer.experiments import cli  # noqa: E402
from difficult_customer.experiments.teaching.serve import Config, SessionStore, create_app, main  # noqa: E402
from difficult_customer.experiments.teaching.session import Session  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _interruptible() -> None:
    """Let the child see Ctrl-C even when the test run itself ignores SIGINT (run in the background)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture()
def client():
    app = create_app()
    app.config["TESTING"] = False  # errors must become JSON answers, as in production
    return app.test_client()


def new(client, **body):
    response = client.post("/api/sessions", json=body)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    return data["id"], data["state"]


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    return response.get_json()["error"]


# --------------------------------------------------------------- pages
def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and b"Difficult customer" in page.data and b"/static/app.js" in page.data
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_options_list_personas_policies_and_moves(client):
    data = client.get("/api/options").get_json()
    assert "mixture" in data["personas"] and "naturally_difficult" in data["personas"]
    names = [p["name"] for p in data["policies"]]
    assert {"random", "guide_004", "tone_reader", "oracle", "belief_lookahead"} <= set(names)
    assert [m["name"] for m in data["moves"]][:2] == ["listen", "empathize"]


# ------------------------------------------------------------ sessions
def test_a_student_plays_a_conversation_to_the_end(client):
    sid, state = new(client, persona="naturally_difficult", seed=7)
    assert state["turn"] == 0 and state["teacher"] is None and state["seed"] == 7
    moves = iter([0, "empathize", 3] + [5] * 16)
    while not state["done"]:
        response = client.post(f"/api/sessions/{sid}/move", json={"move": next(moves)})
        assert response.status_code == 200
        state = response.get_json()["state"]
    summary = state["summary"]
    assert summary["outcome"] in {"solved_and_followed_up", "solved", "walked_away", "ended_after_abuse", "timed_out"}
    assert isinstance(summary["normalized_score"], float) and summary["lines"]
    assert "conversation is over" in error_of(client.post(f"/api/sessions/{sid}/move", json={"move": 0}), 409)


def test_the_same_conversation_in_the_api_and_in_a_session(client):
    sid, _ = new(client, persona="mixture", seed=5)
    state = client.post(f"/api/sessions/{sid}/move", json={"move": 0}).get_json()["state"]
    session = Session(persona="mixture", seed=5)
    session.move(0)
    assert state["transcript"] == session.transcript


def test_teacher_flag_shows_the_teacher_view(client):
    sid, state = new(client, persona="mixture", seed=3, teacher=True)
    assert set(state["teacher"]) == {"hidden", "persona_belief", "expected_anger", "expected_trust", "advice"}
    assert set(state["teacher"]["advice"]["belief_q"]) == {
        "listen", "empathize", "apologize", "offer_options", "set_boundary", "follow_up"
    }
    assert client.get(f"/api/sessions/{sid}").get_json()["state"]["teacher"] is None
    assert client.get(f"/api/sessions/{sid}?teacher=1").get_json()["state"]["teacher"] is not None
    moved = client.post(f"/api/sessions/{sid}/move", json={"move": 0, "teacher": True}).get_json()["state"]
    assert moved["teacher"]["advice"] is not None


def test_two_sessions_do_not_touch_each_other(client):
    one, _ = new(client, persona="mixture", seed=0)
    two, _ = new(client, persona="mixture", seed=0)
    assert one != two
    client.post(f"/api/sessions/{one}/move", json={"move": 0})
    client.post(f"/api/sessions/{one}/move", json={"move": 1})
    assert client.get(f"/api/sessions/{two}").get_json()["state"]["turn"] == 0
    client.post(f"/api/sessions/{two}/move", json={"move": 0})
    a = client.get(f"/api/sessions/{one}").get_json()["state"]
    b = client.get(f"/api/sessions/{two}").get_json()["state"]
    assert a["turn"] == 2 and b["turn"] == 1
    assert a["transcript"][: len(b["transcript"])] == b["transcript"]  # same seed, same start


def test_replaying_a_policy_step_by_step(client):
    sid, state = new(client, persona="mixture", seed=3, policy="guide_004")
    assert state["policy"] == "guide_004"
    assert "replays policy 'guide_004'" in error_of(client.post(f"/api/sessions/{sid}/move", json={"move": 0}), 409)
    turns = []
    while not state["done"]:
        state = client.post(f"/api/sessions/{sid}/step", json={"teacher": True}).get_json()["state"]
        turns.append(state["turn"])
    assert turns == list(range(1, len(turns) + 1))
    assert state["summary"]["player"] == "guide_004"
    assert "conversation is over" in error_of(client.post(f"/api/sessions/{sid}/step"), 409)


def test_stepping_a_students_session_is_refused(client):
    sid, _ = new(client, seed=1)
    assert "no policy to replay" in error_of(client.post(f"/api/sessions/{sid}/step"), 409)


def test_delete_forgets_a_session(client):
    sid, _ = new(client, seed=1)
    assert client.delete(f"/api/sessions/{sid}").get_json() == {"id": sid, "deleted": True}
    assert f"session {sid!r} does not exist" in error_of(client.get(f"/api/sessions/{sid}"), 404)


# -------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"persona": "grumpy"}, "persona 'grumpy' is unknown; allowed: genuine_grievance, naturally_difficult"),
        ({"policy": "nobody"}, "policy 'nobody' is unknown; allowed: random, solution_first"),
        ({"policy": "ppo:/etc/passwd"}, "policy 'ppo:/etc/passwd' is unknown; allowed: random"),
        ({"policy": 3}, "policy 3 is unknown; allowed: random"),
        ({"seed": -1}, "seed=-1; allowed: an integer from 0 to 2147483647"),
        ({"seed": "abc"}, "seed='abc'; allowed: an integer from 0 to"),
        ({"seed": 1.5}, "seed=1.5; allowed: an integer"),
        ({"max_turns": 20}, "unknown field(s) 'max_turns'; allowed: persona, policy, seed, teacher"),
        ({"teacher": "maybe"}, "teacher='maybe'; allowed: true or false"),
        ({"colour": "red"}, "unknown field(s) 'colour'; allowed: persona, policy, seed, teacher"),
    ],
)
def test_bad_new_session_requests_name_the_bad_value(client, body, message):
    assert message in error_of(client.post("/api/sessions", json=body), 400)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"move": 7}, "move 7 is not a move; allowed: a move id (0 listen, 1 empathize"),
        ({"move": -1}, "move -1 is not a move"),
        ({"move": "shout"}, "move 'shout' is not a move"),
        ({"move": True}, "move True is not a move"),
        ({"move": None}, "move None is not a move"),
        ({}, "no move given; allowed:"),
    ],
)
def test_bad_moves_name_the_bad_value(client, body, message):
    sid, _ = new(client, seed=1)
    assert message in error_of(client.post(f"/api/sessions/{sid}/move", json=body), 400)
    assert client.get(f"/api/sessions/{sid}").get_json()["state"]["turn"] == 0  # nothing happened


@pytest.mark.parametrize("action", ["move", "step"])
def test_a_bad_teacher_flag_refuses_the_move_before_making_it(client, action):
    sid, _ = new(client, seed=1, **({"policy": "guide_004"} if action == "step" else {}))
    response = client.post(f"/api/sessions/{sid}/{action}", json={"move": 0, "teacher": "maybe"} if action == "move"
                           else {"teacher": "maybe"})
    assert "teacher='maybe'; allowed: true or false" in error_of(response, 400)
    assert client.get(f"/api/sessions/{sid}").get_json()["state"]["turn"] == 0  # the move was not made


def test_a_move_answers_with_the_decision_it_made(client):
    sid, _ = new(client, persona="genuine_grievance", seed=2)
    advice = client.get(f"/api/sessions/{sid}?teacher=1").get_json()["state"]["teacher"]["advice"]
    answer = client.post(f"/api/sessions/{sid}/move", json={"move": "listen"}).get_json()
    decision = answer["decision"]
    assert decision["turn"] == 1 and decision["move"] == "listen" and answer["state"]["played"] == ["listen"]
    assert decision["belief_q"] == advice["belief_q"] and decision["belief_best"] == advice["belief_best"]
    replay, _ = new(client, persona="mixture", seed=3, policy="guide_004")
    stepped = client.post(f"/api/sessions/{replay}/step").get_json()
    assert stepped["decision"]["turn"] == 1 and stepped["state"]["played"] == [stepped["decision"]["move"]]


def test_a_body_that_is_not_a_json_object(client):
    sid, _ = new(client, seed=1)
    response = client.post(f"/api/sessions/{sid}/move", data="move=1", content_type="text/plain")
    assert "not a JSON object" in error_of(response, 400)
    assert "not a JSON object" in error_of(client.post("/api/sessions", json=[1, 2]), 400)


@pytest.mark.parametrize("path", ["/api/sessions/nope", "/api/sessions/nope/move", "/api/sessions/nope/step"])
def test_unknown_session_ids(client, path):
    response = client.post(path, json={"move": 0}) if path.endswith(("move", "step")) else client.get(path)
    assert "session 'nope' does not exist" in error_of(response, 404)


def test_unknown_addresses_and_methods_answer_in_json(client):
    assert "no such address '/api/nothing'" in error_of(client.get("/api/nothing"), 404)
    assert "method PUT is not allowed on /api/options; allowed: " in error_of(client.put("/api/options"), 405)


def test_an_internal_error_is_a_json_500_and_the_server_goes_on(client, monkeypatch):
    sid, _ = new(client, seed=1)

    def broken(self, teacher=False):
        raise RuntimeError("boom")

    monkeypatch.setattr(Session, "state", broken)
    assert "internal error: RuntimeError: boom" in error_of(client.get(f"/api/sessions/{sid}"), 500)
    monkeypatch.undo()
    assert client.get(f"/api/sessions/{sid}").status_code == 200


def test_the_store_forgets_the_least_recently_used_session():
    client = create_app(SessionStore(capacity=2)).test_client()
    first, _ = new(client, seed=1)
    second, _ = new(client, seed=2)
    client.get(f"/api/sessions/{first}")  # first is now the most recently used
    third, _ = new(client, seed=3)
    assert client.get(f"/api/sessions/{first}").status_code == 200
    assert client.get(f"/api/sessions/{third}").status_code == 200
    assert error_of(client.get(f"/api/sessions/{second}"), 404)


def test_concurrent_moves_on_one_session_are_counted_once_each():
    app = create_app()
    sid, _ = new(app.test_client(), persona="genuine_grievance", seed=2)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker():
        client = app.test_client()
        for _ in range(3):
            status = client.post(f"/api/sessions/{sid}/move", json={"move": 0}).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = app.test_client().get(f"/api/sessions/{sid}").get_json()["state"]
    assert set(statuses) <= {200, 409}
    assert statuses.count(200) == state["turn"] == len(state["played"])


# -------------------------------------------------------------- the command
def test_serve_refuses_a_bad_port(capsys):
    assert main(Config(port=70000)) == 2
    assert "--port 70000; allowed: 0 to 65535" in capsys.readouterr().err
    assert cli.main(["serve", "--port", "-1"]) == 2
    assert "--port -1; allowed: 0 to 65535" in capsys.readouterr().err


def test_serve_refuses_a_bad_session_limit(capsys):
    assert cli.main(["serve", "--max-sessions", "0"]) == 2
    assert "--max-sessions 0; allowed: an integer >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"capacity=0; allowed: an integer >= 1"):
        SessionStore(capacity=0)


def test_serve_options_are_a_config_with_documented_fields(capsys):
    assert cli.parse("serve", ["--host", "0.0.0.0", "--port", "0", "--log", "--max-sessions", "7"]) == Config(
        host="0.0.0.0", port=0, log=True, max_sessions=7
    )
    assert cli.main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--max-sessions" in out and "forgotten" in out and "--log" in out
    assert cli.main(["serve", "--port", "eighty"]) == 2  # tyro names the bad value
    assert "eighty" in capsys.readouterr().err


def test_serve_says_where_it_listens_and_stops_on_ctrl_c():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "difficult_customer.experiments.teaching.serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        preexec_fn=_interruptible,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)  # a guard against hanging, not a timing assertion
        assert ready, "the server printed nothing"
        first = proc.stdout.readline().decode()
        assert first.startswith("Serving the teaching game on http://127.0.0.1:"), first
        url = first.split(" on ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "api/options", timeout=30) as response:
            assert "mixture" in json.load(response)["personas"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert b"Traceback" not in out + err


def test_serve_reports_a_port_in_use(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(Config(port=port)) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
