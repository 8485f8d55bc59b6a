"""A demo server a whole class can use: memory per session, and many clients at once.

- Memory: a server process holding 500 sessions created through the API grows by a
  bounded number of bytes per session (its resident set size), and each session allocates
  a bounded number of bytes (tracemalloc), because the tables, solvers and environment
  lookups are shared per setting.
- Load: many clients, each a thread with its own HTTP connection to a server on a local
  port, play whole conversations at once; no request fails and every move a client sent
  appears exactly once, in order, in its session's history and transcript on the server.
- Contention: several clients sending moves to the same session get each applied move
  answered with its own turn, and the server's history is exactly those moves.

No assertion here is about time.
"""

from __future__ import annotations

import gc
import json
import random
import subprocess
import sys
import threading
import tracemalloc
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="the web page needs Flask (pip install flask)")

from difficult_customer.experiments.teaching.serve import (  # noqa: E402
    SessionStore,
    create_app,
    make_server,
    url_of,
)
from difficult_customer.experiments.teaching.session import MOVE_NAMES, Session  # noqa: E402

SESSIONS = 500
"""Sessions the server-memory test creates: more conversations than a large class keeps open."""
TRACED_SESSIONS = 100
"""Sessions whose allocations are traced one by one (tracemalloc slows them about fivefold)."""
BYTES_PER_SESSION = 64 * 1024
"""Upper bound on what one session may add to the server's memory.

What a session owns: its transcript (a few lines of about 100 characters per turn, at
most 16 turns), its decisions (per turn two tuples of six floats), the belief (a sparse
distribution over the hidden states consistent with what was seen, a few hundred
entries), the environment's per-conversation attributes and a random generator: about
7 KB measured after two moves. 64 KB leaves room for longer conversations and
interpreter overhead, and is 100 times below the 7 MB a session held when it built its
own environment tables: a regression to per-session tables fails here at once.
"""

SERVER_SCRIPT = """
import gc, json, sys
from difficult_customer.experiments.teaching.serve import SessionStore, create_app

def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))

n = int(sys.argv[1])
app = create_app(SessionStore(capacity=n))
client = app.test_client()
assert client.post("/api/sessions", json={"seed": 0}).status_code == 201  # solves the shared model
gc.collect()
before = rss()
for seed in range(1, n + 1):
    answer = client.post("/api/sessions", json={"seed": seed})
    assert answer.status_code == 201, answer.get_json()
    sid = answer.get_json()["id"]
    for move in (0, 1):
        assert client.post(f"/api/sessions/{sid}/move", json={"move": move}).status_code in (200, 409)
gc.collect()
store = app.config["SESSIONS"]
sessions = [store.get(sid) for sid in store.ids()]
print(json.dumps({
    "before": before,
    "after": rss(),
    "kept": len(sessions),
    "models": len({id(s._shared) for s in sessions}),
    "moved": sum(s.turn >= 1 for s in sessions),
}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the resident set size from /proc (Linux)")
def test_a_server_holding_500_sessions_grows_by_a_bounded_amount_each():
    result = subprocess.run(
        [sys.executable, "-c", SERVER_SCRIPT, str(SESSIONS)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["kept"] == measured["moved"] == SESSIONS  # 500 live sessions, each with moves, all kept
    assert measured["models"] == 1  # one setting (mixture, 16 turns): one shared model
    grown = measured["after"] - measured["before"]
    assert grown < SESSIONS * BYTES_PER_SESSION, f"RSS grew {grown / 2**20:.1f} MB for {SESSIONS} sessions"


def test_each_session_allocates_a_bounded_number_of_bytes():
    """tracemalloc counts every allocation a session makes, including memory the allocator reuses."""
    store = SessionStore(capacity=TRACED_SESSIONS)
    Session(seed=0).move(0)  # the first session of a setting builds the shared model: not measured
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for seed in range(1, TRACED_SESSIONS + 1):
            session = Session(seed=seed)
            store.add(session)
            for move in (0, 1):
                if not session.done:
                    session.move(move)
            session.state(teacher=True)  # what every answer of the server computes
        gc.collect()
        per_session = (tracemalloc.get_traced_memory()[0] - before) / TRACED_SESSIONS
    finally:
        tracemalloc.stop()
    assert len(store) == TRACED_SESSIONS
    assert per_session < BYTES_PER_SESSION, f"{per_session:.0f} bytes per session"


def test_sessions_of_one_setting_share_the_model_not_the_conversation():
    one, two = Session(persona="belligerent", seed=5), Session(persona="belligerent", seed=5)
    assert one._shared is two._shared and one._shared.core is two._shared.core
    one.move(0)
    assert two.turn == 0 and two.transcript == one.transcript[: len(two.transcript)]
    two.move(0)
    assert one.transcript == two.transcript
    assert Session(persona="reasonable", seed=5)._shared is not one._shared


# --------------------------------------------------------------------- load
@pytest.fixture()
def server_url():
    server = make_server("127.0.0.1", 0, create_app())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url_of(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def call(url: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One JSON request; returns (status, body), for 4xx answers too."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path.lstrip("/"), data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # a guard against hanging only
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def agent_moves(transcript: list[str]) -> list[str]:
    """The move names of the agent's lines ``[ 3] Agent (listen): ...`` in a transcript, in order."""
    return [line.split("Agent (", 1)[1].split(")", 1)[0] for line in transcript if "] Agent (" in line]


CLIENTS = 24
"""Concurrent clients in the load test (a class)."""
CONVERSATIONS = 3
"""Conversations each client plays: two as a student, one replaying a policy."""
PERSONAS = ("mixture", "genuine_grievance", "naturally_difficult", "belligerent")


def test_a_class_of_clients_plays_at_once_without_errors_or_lost_moves(server_url):
    errors: list[str] = []
    played: list[int] = []  # moves applied, one entry per client
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        rng = random.Random(number)
        moves_made = 0
        try:
            barrier.wait()  # everybody starts together
            for game in range(CONVERSATIONS):
                replay = game == CONVERSATIONS - 1
                body = {"persona": PERSONAS[number % len(PERSONAS)], "seed": number * 10 + game}
                if replay:
                    body["policy"] = ("belief_lookahead", "guide_004", "tone_reader")[number % 3]
                status, answer = call(server_url, "POST", "/api/sessions", body)
                if status != 201:
                    errors.append(f"client {number}: create {status} {answer}")
                    return
                sid, state = answer["id"], answer["state"]
                sent: list[str] = []
                while not state["done"]:
                    if replay:
                        status, answer = call(server_url, "POST", f"/api/sessions/{sid}/step", {"teacher": True})
                    else:
                        move = rng.randrange(len(MOVE_NAMES))
                        status, answer = call(server_url, "POST", f"/api/sessions/{sid}/move", {"move": move})
                    if status != 200:
                        errors.append(f"client {number}: move {status} {answer}")
                        return
                    decision, state = answer["decision"], answer["state"]
                    if not replay and decision["move"] != MOVE_NAMES[move]:
                        errors.append(f"client {number}: sent {MOVE_NAMES[move]}, applied {decision['move']}")
                    sent.append(decision["move"])
                    if decision["turn"] != len(sent) or state["played"] != sent:
                        errors.append(f"client {number}: after {sent} the server has {state['played']}")
                status, answer = call(server_url, "GET", f"/api/sessions/{sid}")
                final = answer["state"]
                if status != 200 or final["played"] != sent or agent_moves(final["transcript"]) != sent:
                    errors.append(f"client {number}: sent {sent}; server history {final.get('played')}")
                if final["summary"] is None or final["summary"]["turns"] != len(sent):
                    errors.append(f"client {number}: summary {final['summary']} after {len(sent)} moves")
                moves_made += len(sent)
        except Exception as error:  # noqa: BLE001  (any failure of a client is a test failure, reported below)
            errors.append(f"client {number}: {type(error).__name__}: {error}")
        with lock:
            played.append(moves_made)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"{CLIENTS} clients, {CLIENTS * CONVERSATIONS} conversations, {sum(played)} moves, {len(errors)} errors")
    assert errors == []
    assert len(played) == CLIENTS and all(n >= CONVERSATIONS for n in played)  # every conversation had moves


def race_on_one_session(url: str, sid: str, senders: int) -> tuple[list[tuple[int, str]], list[int]]:
    """``senders`` threads each send one move to session ``sid`` until it is over.

    Returns:
        The (turn, move) of every move the server applied (from its answers), and every status.
    """
    applied: list[tuple[int, str]] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def sender(number: int) -> None:
        move = MOVE_NAMES[number % len(MOVE_NAMES)]
        while True:
            status, answer = call(url, "POST", f"/api/sessions/{sid}/move", {"move": move})
            with lock:
                statuses.append(status)
                if status == 200:
                    applied.append((answer["decision"]["turn"], answer["decision"]["move"]))
            if status != 200:
                return

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return applied, statuses


def test_clients_sharing_one_session_each_get_their_own_turn(server_url):
    senders = 6
    for seed in range(8):
        status, answer = call(server_url, "POST", "/api/sessions", {"persona": "genuine_grievance", "seed": seed})
        assert status == 201
        applied, statuses = race_on_one_session(server_url, answer["id"], senders)
        state = call(server_url, "GET", f"/api/sessions/{answer['id']}")[1]["state"]
        assert state["done"]
        assert set(statuses) == {200, 409} and statuses.count(409) == senders  # each sender stops at the end
        assert sorted(turn for turn, _ in applied) == list(range(1, state["turn"] + 1))  # no turn twice, none lost
        assert [move for _, move in sorted(applied)] == state["played"] == agent_moves(state["transcript"])
