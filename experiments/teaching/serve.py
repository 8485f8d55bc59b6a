"""``difficult-customer serve``: the teaching game as a local web page.

Usage::

    difficult-customer serve                 # http://127.0.0.1:8000/
    difficult-customer serve --port 8080
    difficult-customer serve --host 0.0.0.0  # a classroom network (no login: anyone who reaches it can play)
    difficult-customer serve --record recordings  # save each conversation a person finishes, on this machine

The page (``experiments/teaching/web/``: plain HTML, CSS and JavaScript, no build step) lets a
student play the conversation with buttons, a teacher toggle show the hidden gauges,
the belief over persona and the move values of the oracle and the belief-based reference
policy, and any registered policy be replayed step by step. All game logic is
:class:`difficult_customer.experiments.teaching.session.Session`, the same as the terminal's
``play`` and ``watch``.

The JSON API (every error is a 4xx JSON ``{"error": message}`` naming the bad value and
what is allowed):

- ``GET /api/options``: personas, policies (name, kind, description), moves, defaults, and
  ``recording`` (``{"on", "folder", "notice"}``: whether finished conversations are saved).
- ``POST /api/sessions`` ``{"persona", "seed", "policy", "teacher"}`` (all optional;
  ``policy`` replays that policy): 201 with ``{"id", "state"}``. Conversations have the
  default turn limit (16), so the server solves at most one model per persona.
- ``GET /api/sessions/<id>?teacher=1``: ``{"id", "state"}``.
- ``POST /api/sessions/<id>/move`` ``{"move": 0-5 or a move name, "teacher"}``: the
  student's move: ``{"id", "state", "decision"}``, the decision being the move just made
  (its ``turn``, ``move`` and the optimum's values, as
  :meth:`~difficult_customer.agents.exact.explain.MoveValues.as_dict`). A request
  refused (a bad move or flag: 400; after the end: 409) changes nothing. With ``--record``,
  the move that ends a student's conversation also saves it and answers ``"recording":
  {"saved": true, "file": name}`` (or ``{"saved": false, "error": message}``: a failed save
  is reported, logged, and the game goes on).
- ``POST /api/sessions/<id>/step`` ``{"teacher"}``: the replayed policy's next move, answered
  as a move is.
- ``DELETE /api/sessions/<id>``.

Sessions live in memory (at most :data:`MAX_SESSIONS`, ``--max-sessions``; the least
recently used goes first). Each holds only its own conversation, belief and lock (under
10 KB); the tables, the conversation core and the solved optimum are built once per
setting and shared read-only
(:class:`~difficult_customer.experiments.teaching.session.SharedModel`), so a server with
5000 sessions needs about 30 MB more than an idle one. Requests are served by threads;
moves on one session are applied one at a time, in the order they arrive.
"""

from __future__ import annotations

import secrets
import socket
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from difficult_customer import agents
from difficult_customer.customer_models import PERSONA_NAMES
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.recordings import notice, recording_folder, try_save
from difficult_customer.experiments.teaching.session import (
    MOVE_KEYS,
    MOVE_NAMES,
    Session,
    SessionStateError,
    check_persona,
    check_policy,
)

WEB_DIR = Path(__file__).with_name("web")
"""The page's static files."""
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
MAX_SESSIONS = 5000
"""Conversations kept in memory at once (under 10 KB each: a server holding 5000 grows by about 30 MB)."""


class BadRequest(ValueError):
    """A request the API refuses with a 4xx status and a message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class SessionStore:
    """Sessions by id, thread-safe, at most ``capacity`` (least recently used evicted)."""

    def __init__(self, capacity: int = MAX_SESSIONS) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity={capacity!r}; allowed: an integer >= 1 (sessions kept at once)")
        self.capacity = capacity
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, session: Session) -> str:
        """Store ``session``; returns its new id."""
        sid = secrets.token_urlsafe(12)
        with self._lock:
            self._sessions[sid] = session
            while len(self._sessions) > self.capacity:
                self._sessions.popitem(last=False)
        return sid

    def get(self, sid: str) -> Session:
        """The session ``sid``.

        Raises:
            BadRequest: 404 if there is no such session.
        """
        with self._lock:
            if sid not in self._sessions:
                raise BadRequest(
                    f"session {sid!r} does not exist (it may have ended with a server restart); "
                    "allowed: an id returned by POST /api/sessions",
                    404,
                )
            self._sessions.move_to_end(sid)
            return self._sessions[sid]

    def remove(self, sid: str) -> None:
        """Forget session ``sid`` (404 if unknown)."""
        self.get(sid)
        with self._lock:
            self._sessions.pop(sid, None)

    def ids(self) -> list[str]:
        """The ids of the sessions kept, least recently used first."""
        with self._lock:
            return list(self._sessions)

    def __len__(self) -> int:
        return len(self._sessions)


def _body(request: Any) -> dict[str, Any]:
    if not request.get_data():
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the request body is not a JSON object; allowed: a JSON object such as {\"move\": 0}")
    return data


def _flag(value: Any, name: str) -> bool:
    if value in (None, False, 0, "0", "false", ""):
        return False
    if value in (True, 1, "1", "true"):
        return True
    raise BadRequest(f"{name}={value!r}; allowed: true or false (1 or 0)")


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{name}={value!r}; allowed: an integer from {low} to {high}")
    return value


def options(record: Path | None = None) -> dict[str, Any]:
    """What the page offers: personas, policies, moves, defaults, and whether recording is on.

    Args:
        record: the folder finished conversations are saved in (None: recording is off).
    """
    return {
        "personas": list(PERSONA_NAMES),
        "policies": [
            {"name": n, "kind": agents.spec(n).kind, "description": agents.spec(n).description} for n in agents.names()
        ],
        "moves": [{"id": i, "key": k, "name": n} for i, (k, n) in enumerate(zip(MOVE_KEYS, MOVE_NAMES, strict=True))],
        "defaults": {"persona": "mixture", "max_turns": DEFAULT_MAX_TURNS, "policy": "belief_lookahead"},
        "recording": {
            "on": record is not None,
            "folder": None if record is None else str(record),
            "notice": None if record is None else notice(record),
        },
    }


def create_app(store: SessionStore | None = None, record: str | Path | None = None) -> Any:
    """The Flask application (used by ``serve`` and by tests through ``app.test_client()``).

    Args:
        store: where sessions live (a new :class:`SessionStore` by default).
        record: a folder to save every conversation a student finishes in (None: nothing is saved).
    """
    from flask import Flask, jsonify, request, send_from_directory  # optional extra (flask)
    from werkzeug.exceptions import HTTPException

    app = Flask(__name__, static_folder=None)
    app.json.sort_keys = False
    store = SessionStore() if store is None else store
    app.config["SESSIONS"] = store
    record = None if record is None else Path(record)

    def save(session: Session) -> dict[str, Any]:
        """Save a student's finished conversation; a failure is reported, never raised."""
        saved = try_save(session, record)
        if saved.path is None:
            app.logger.error("cannot save the recording of seed %s in %s: %s", session.seed, record, saved.error)
            return {"saved": False, "error": saved.error}
        app.logger.info("recorded %s", saved.path)
        return {"saved": True, "file": saved.path.name}

    def reply(session: Session, sid: str, teacher: bool, status: int = 200, decision: dict | None = None,
              recording: dict | None = None):
        body: dict[str, Any] = {"id": sid, "state": session.state(teacher=teacher)}
        if decision is not None:
            body["decision"] = decision
        if recording is not None:
            body["recording"] = recording
        return jsonify(body), status

    @app.errorhandler(BadRequest)
    def bad_request(error: BadRequest):
        return jsonify({"error": str(error)}), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        message = f"{request.method} {request.path}: {error.description}"
        if error.code == 404:
            message = (
                f"no such address {request.path!r}; allowed: /, /api/options, /api/sessions, "
                "/api/sessions/<id>, /api/sessions/<id>/move, /api/sessions/<id>/step"
            )
        elif error.code == 405:
            allowed = ", ".join(sorted(error.valid_methods or ()))
            message = f"method {request.method} is not allowed on {request.path}; allowed: {allowed}"
        return jsonify({"error": message}), error.code

    @app.errorhandler(Exception)
    def server_error(error: Exception):  # a bug: answer in JSON, keep serving
        app.logger.exception("unexpected error")
        return jsonify({"error": f"internal error: {type(error).__name__}: {error}"}), 500

    @app.get("/")
    def index():
        return send_from_directory(WEB_DIR, "index.html")

    @app.get("/static/<path:name>")
    def static_file(name: str):
        return send_from_directory(WEB_DIR, name)

    @app.get("/api/options")
    def get_options():
        return jsonify(options(record))

    @app.post("/api/sessions")
    def new_session():
        body = _body(request)
        allowed = {"persona", "seed", "policy", "teacher"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}")
        try:
            persona = check_persona(body.get("persona", "mixture"))
            policy = body.get("policy")
            policy = None if policy in ("", None) else check_policy(policy, allow_files=False)
        except ValueError as error:
            raise BadRequest(str(error)) from None
        seed = body.get("seed")
        seed = None if seed in (None, "") else _int(seed, "seed", 0, 2**31 - 1)
        teacher = _flag(body.get("teacher"), "teacher")
        try:
            session = Session(persona=persona, seed=seed, policy=policy)
        except ValueError as error:
            raise BadRequest(str(error)) from None
        sid = store.add(session)
        return reply(session, sid, teacher, 201)

    @app.get("/api/sessions/<sid>")
    def get_session(sid: str):
        session = store.get(sid)
        return reply(session, sid, _flag(request.args.get("teacher"), "teacher"))

    @app.delete("/api/sessions/<sid>")
    def delete_session(sid: str):
        store.remove(sid)
        return jsonify({"id": sid, "deleted": True})

    @app.post("/api/sessions/<sid>/move")
    def move(sid: str):
        session = store.get(sid)
        body = _body(request)
        if "move" not in body:
            raise BadRequest(f"no move given; allowed: {{\"move\": 0-5}} or a move name ({', '.join(MOVE_NAMES)})")
        teacher = _flag(body.get("teacher"), "teacher")
        try:
            decision = session.move(body["move"])
        except SessionStateError as error:
            raise BadRequest(str(error), 409) from None
        except ValueError as error:
            raise BadRequest(str(error)) from None
        # Only the move that ended the conversation saves it: moves are applied one at a time, so exactly one
        # request sees its own turn be the last.
        ended = session.done and decision["turn"] == session.turn
        recording = save(session) if record is not None and ended and session.policy is None else None
        return reply(session, sid, teacher, decision=decision, recording=recording)

    @app.post("/api/sessions/<sid>/step")
    def step(sid: str):
        session = store.get(sid)
        body = _body(request)
        teacher = _flag(body.get("teacher"), "teacher")
        try:
            decision = session.policy_step()
        except SessionStateError as error:
            raise BadRequest(str(error), 409) from None
        return reply(session, sid, teacher, decision=decision)

    return app


@dataclass
class Config:
    """``difficult-customer serve``: the teaching game as a web page."""

    host: str = DEFAULT_HOST
    """address to listen on: 127.0.0.1 is this machine only; 0.0.0.0 a classroom network (no login: anyone who
    reaches it can play)"""
    port: int = DEFAULT_PORT
    """port, 0 to 65535 (0 picks a free one)"""
    log: bool = False
    """log every request to stderr"""
    max_sessions: int = MAX_SESSIONS
    """conversations kept in memory at once, at least 1 (the least recently used is forgotten first; each
    holds under 10 KB)"""
    record: Path | None = None
    """save each conversation a student finishes (not policy replays) as a JSON file in this folder, on this
    machine only; the page says so (off by default)"""


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); raises OSError (not SystemExit, as werkzeug would)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def make_server(host: str, port: int, app: Any = None, log: bool = False) -> Any:
    """A threaded WSGI server for the app (werkzeug's), bound but not yet serving.

    Args:
        host: address to listen on.
        port: port; 0 picks a free one (see ``server.port``).
        app: the WSGI app (:func:`create_app` by default).
        log: log every request to stderr.

    Raises:
        OSError: if the address cannot be bound (in use, unknown host, no permission).
    """
    from werkzeug.serving import WSGIRequestHandler  # optional extra (flask)
    from werkzeug.serving import make_server as werkzeug_server

    class Handler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            if log:
                super().log_request(*args, **kwargs)

    sock = _bind(host, port)
    try:
        return werkzeug_server(
            host, port, app or create_app(), threaded=True, request_handler=Handler, fd=sock.fileno()
        )
    finally:
        sock.close()  # werkzeug holds its own duplicate of the socket


def url_of(server: Any) -> str:
    """``http://host:port/`` of a running server."""
    host = server.host if ":" not in server.host else f"[{server.host}]"
    return f"http://{host}:{server.port}/"


def main(config: Config) -> int:
    """``difficult-customer serve``: serve the page until Ctrl-C. Returns the exit status."""
    if isinstance(config.port, bool) or not 0 <= config.port <= 65535:
        print(f"error: --port {config.port}; allowed: 0 to 65535", file=sys.stderr)
        return 2
    if isinstance(config.max_sessions, bool) or config.max_sessions < 1:
        print(f"error: --max-sessions {config.max_sessions}; allowed: an integer >= 1", file=sys.stderr)
        return 2
    try:
        import flask  # noqa: F401  (optional extra: checks it is installed)
    except ImportError:
        print("error: the web page needs Flask: pip install flask (or pip install -e '.[teach]')", file=sys.stderr)
        return 2
    try:
        record = None if config.record is None else recording_folder(config.record)
    except ValueError as error:
        print(f"error: --record: {error}", file=sys.stderr)
        return 2
    try:
        app = create_app(SessionStore(config.max_sessions), record)
        server = make_server(config.host, config.port, app, log=config.log)
    except OSError as error:
        print(f"error: cannot listen on {config.host}:{config.port}: {error}; try another --port", file=sys.stderr)
        return 2
    print(f"Serving the teaching game on {url_of(server)} (Ctrl-C to stop)", flush=True)
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        print("warning: listening beyond this machine; there is no login, anyone who reaches it can play", flush=True)
    if record is not None:
        print(notice(record), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    from difficult_customer.experiments import cli

    raise SystemExit(cli.main(["serve", *sys.argv[1:]]))
