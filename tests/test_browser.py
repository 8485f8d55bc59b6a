"""The teaching page in a real browser: headless Chromium driven by Playwright.

Uses the system's Chromium (Debian's ``chromium`` package, ``/usr/bin/chromium``, or the
path in ``CHROMIUM``); Playwright's own browser download is not used. Locally the test is
skipped when Chromium or Playwright is missing; under CI (``CI=true``) a missing browser
is a failure, so a green CI always means the page was really played. ``.ci/run`` installs
Chromium when it is missing.

The screenshot of the finished conversation is saved under pytest's tmp dir; with
``UPDATE_SCREENSHOT=1`` it is also copied to ``docs/images/browser.png`` for the README
(a test run never changes tracked files otherwise).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "images" / "browser.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-renderer-backgrounding",  # the second tab of a test is in the background: keep it running
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
]
IDLE = "body[data-busy='0']"


def _missing(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI must run the browser test: .ci/run installs chromium and the dev extra)")
    pytest.skip(reason)


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path or not Path(path).exists():
        _missing("Chromium is not installed (apt-get install -y chromium, or set CHROMIUM=/path/to/chromium)")
    return path


@pytest.fixture(scope="module")
def server_url():
    pytest.importorskip("flask", reason="the web page needs Flask (pip install flask)")
    from difficult_customer.experiments.teaching.serve import create_app, make_server, url_of

    server = make_server("127.0.0.1", 0, create_app())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url_of(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install playwright; in the dev extra)")
    executable = chromium_path()
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 900},
        )
        context.set_default_timeout(30_000)  # a guard against hanging, not a timing assertion
        try:
            yield context
        finally:
            context.close()


def open_page(context, url):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector(IDLE)
    return page, errors


def start(page, persona: str, seed: int, policy: str | None = None) -> None:
    page.check("input[name=mode][value=replay]" if policy else "input[name=mode][value=play]")
    if policy:
        page.select_option("#policy", policy)
    page.select_option("#persona", persona)
    page.fill("#seed", str(seed))
    page.click("#new")
    page.wait_for_selector(IDLE)
    page.wait_for_function(f"document.querySelector('#status').textContent.includes('seed {seed}')")


def test_play_a_full_conversation_by_clicking(browser_context, server_url, tmp_path):
    from difficult_customer.experiments.teaching.session import MOVE_NAMES, Session

    page, errors = open_page(browser_context, server_url)
    page.check("#teacher")
    page.wait_for_selector(IDLE)
    start(page, "naturally_difficult", 7)
    assert page.is_visible("#teacher-panel")

    clicked = []
    for _ in range(16):
        if page.is_visible("#summary"):
            break
        best = page.get_attribute("#advice tbody tr.best", "data-move-name")  # follow the page's own advice
        clicked.append(best)
        page.click(f"#moves button[data-move='{MOVE_NAMES.index(best)}']")
        page.wait_for_selector(IDLE)
    assert page.is_visible("#summary")
    assert page.is_disabled("#moves button[data-move='0']")  # no moves after the end

    expected = Session(persona="naturally_difficult", seed=7)  # the same conversation, played directly
    for move in clicked:
        expected.move(move)
    summary = expected.summary()
    assert expected.done
    assert page.inner_text("#outcome") == summary["outcome"].replace("_", " ")
    shown = page.inner_text("#summary-lines")
    assert f"Outcome: {summary['outcome'].replace('_', ' ')}; return {summary['return']:+.2f}" in shown
    assert "Normalized score of this conversation" in shown
    assert "Every move matched the best move of the belief-based reference policy" in shown  # it followed the advice
    assert page.inner_text("#transcript").count("Agent (") == len(clicked)
    assert not errors

    shot = tmp_path / "browser.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOT"):  # refresh the README's picture on request only
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    page.close()


def test_two_tabs_play_two_conversations(browser_context, server_url):
    one, errors_one = open_page(browser_context, server_url)
    two, errors_two = open_page(browser_context, server_url)
    start(one, "genuine_grievance", 1)
    start(two, "genuine_grievance", 1)
    one.click("#moves button[data-move='0']")
    one.wait_for_selector(IDLE)
    assert "Turn 1 of 16" in one.inner_text("#status")
    two.keyboard.press("1")  # key 1 = listen, in the other tab's own conversation
    two.wait_for_selector(IDLE)
    assert "Turn 1 of 16" in two.inner_text("#status")  # not 2: the first tab's move did not touch it
    assert one.inner_text("#transcript") == two.inner_text("#transcript")  # same seed, same moves
    one.click("#moves button[data-move='1']")
    one.wait_for_selector(IDLE)
    assert "Turn 2 of 16" in one.inner_text("#status") and "Turn 1 of 16" in two.inner_text("#status")
    assert not errors_one and not errors_two
    one.close()
    two.close()


def test_replay_a_policy_and_step_back(browser_context, server_url):
    page, errors = open_page(browser_context, server_url)
    start(page, "mixture", 3, policy="guide_004")
    assert page.is_visible("#replay") and not page.is_visible("#moves")
    page.click("#next")
    page.wait_for_selector(IDLE)
    assert "Turn 1 of 16" in page.inner_text("#status")
    page.click("#to-end")
    page.wait_for_selector(IDLE)
    assert page.is_visible("#summary") and "guide_004 played" in page.inner_text("#summary-lines")
    page.click("#prev")
    assert not page.is_visible("#summary")  # one move back: the conversation is not over there
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(IDLE)
    assert page.is_visible("#summary")
    assert not errors
    page.close()


def test_a_request_the_server_refuses_shows_its_message(browser_context, server_url):
    page, errors = open_page(browser_context, server_url)
    start(page, "reasonable", 2)
    sid = page.evaluate("() => current.id")
    gone = page.request.delete(f"{server_url}api/sessions/{sid}")  # as if the server had restarted
    assert gone.ok
    page.click("#moves button[data-move='0']")
    page.wait_for_selector(IDLE)
    assert page.is_visible("#error")
    assert f"session '{sid}' does not exist" in page.inner_text("#error")
    assert "Turn 0 of 16" in page.inner_text("#status")  # nothing pretended to happen
    assert not errors
    page.close()
