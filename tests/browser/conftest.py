"""Playwright in Debian's Chromium against real processes: the session's engine, the dashboard under
gunicorn, and a loopback TCP proxy between the browser and the dashboard that tests can cut.

Chromium is never downloaded: it is /usr/bin/chromium (``scripts/test.sh`` installs it when missing),
or ``$SLUICE_CHROMIUM``; without it these tests are skipped with the reason (and fail under ``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading

import pytest

from webapp.dashboard.testing import DashboardProcess
from webapp.engine.testing import wait_until

CHROMIUM = os.environ.get("SLUICE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TEST_SETTINGS = {"BATCH_MS": 20, "FEED_LINGER": 20, "RETRY_MAX": 1, "SNAPSHOT_QUIET_MS": 150, "DEMO_PIPELINE": "",
                 "HISTORY_INTERVAL": 1.0, "LOG_PAGE_LINES": 6}


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``. ``cut()`` closes every open connection at once, from
    outside the browser; ``block()`` refuses new ones (accepted, then closed) until ``unblock()``."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.blocked = threading.Event()
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        self.accepted = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.blocked.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def block(self):
        self.blocked.set()

    def unblock(self):
        self.blocked.clear()

    def close(self):
        self.closed = True
        self.cut()
        self.listener.close()


@pytest.fixture(scope="session")
def dashboard(engine):
    with DashboardProcess(engine.url, settings=TEST_SETTINGS) as dash:
        yield dash


@pytest.fixture(scope="session")
def proxy(dashboard):
    host, port = dashboard.url.split("//")[1].rsplit(":", 1)
    p = TcpProxy(host, int(port))
    yield p
    p.close()


@pytest.fixture(scope="package")  # ended when this package is done: one sync Playwright per thread at a time
def browser():
    from playwright.sync_api import expect
    expect.set_options(timeout=15_000)  # waits, not timing assertions: generous for slow machines
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/test.sh (it installs Debian's chromium) "
                    "or set SLUICE_CHROMIUM")
    from playwright.sync_api import sync_playwright
    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page(browser):
    """A fresh context (cookies, storage) per test; any page error or CSP violation fails the test."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = ctx.new_page()
    problems: list[str] = []
    dialogs: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
          if m.type == "error" and "WebSocket" not in m.text and "Failed to load resource" not in m.text
          and "net::ERR" not in m.text else None)

    def on_dialog(d):
        dialogs.append(d.message)
        d.dismiss()
    pg.on("dialog", on_dialog)
    pg.problems = problems
    pg.dialogs = dialogs
    pg.set_default_timeout(15000)
    yield pg
    ctx.close()
    assert not problems, problems


@pytest.fixture
def cleanup(http):
    """Names of pipelines a test makes through the dashboard: stopped and deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        http.post(f"/pipelines/{name}/stop", params={"force": "true"})
        try:
            wait_until(lambda name=name: http.get(f"/pipelines/{name}", params={"selector": "status"}).json()
                       .get("deployment_status") in ("Stopped", None), 20, f"pipeline {name} to stop", interval=0.05)
        except AssertionError:
            pass  # deleted regardless, as before: cleanup must not hide the test's own outcome
        http.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
        http.delete(f"/pipelines/{name}")
