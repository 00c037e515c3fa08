"""The browser harness shared by the journeys: the real app served by waitress on a free port (in
the test's process, so the fixed clock is shared), Debian's chromium through Playwright, and a
log-in helper. Playwright never downloads a browser here."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from local_servers import missing_prerequisite
from webapp.demo import DEMO_PASSWORD

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve_app(app):
    """Start serving `app`; returns its base URL. Call it after the test has prepared its data."""
    from waitress.server import create_server

    running = []
    stopping = threading.Event()

    def start() -> str:
        server = create_server(app, host="127.0.0.1", port=_free_port(), threads=4)

        def run() -> None:
            try:
                server.run()
            except (OSError, ValueError):
                # Closing the listening socket from the test's thread can wake select() in this one
                # with a closed descriptor (EBADF): expected while stopping, a failure otherwise.
                if not stopping.is_set():
                    raise

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.effective_port}"

    yield start
    stopping.set()
    for server, thread in running:
        server.close()
        thread.join(timeout=10)
        server.task_dispatcher.shutdown(timeout=5)  # its worker threads (they hold the app)


@pytest.fixture
def chromium():
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed at /usr/bin/chromium (scripts/test.sh installs it)"
        missing_prerequisite(message)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    """Where journeys leave their screenshots (ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def login():
    return _login


def _login(browser, base: str, username: str):
    """A fresh browser context (its own cookies) logged in as `username`."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_load_state()
    return page
