"""``sluice up``: the engine and the dashboard as two child processes, and the demo pipeline between them.

1. start ``sluice engine`` (its own gunicorn) with ``up``'s engine flags, and read its URL from its output;
2. create the demo pipeline through the client if it is missing, start it, seed its customers;
3. start ``sluice dashboard --upstream <engine URL>`` (gunicorn, gevent), with the demo generator on
   unless ``--no-demo-data``;
4. pass both outputs through; on SIGTERM/SIGINT, or when one child ends, stop the other.

The children die with this process (``PR_SET_PDEATHSIG``) even if it is killed outright.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time

_URL = {"engine": re.compile(r"Sluice engine listening on (http://\S+)"),
        "dashboard": re.compile(r"Sluice dashboard listening on (http://\S+?)/?\s")}


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Child:
    def __init__(self, name: str, argv: list[str]):
        self.name = name
        self.url: str | None = None
        self.ready = threading.Event()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "webapp.cli", *argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env,
                                     preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        threading.Thread(target=self._pump, daemon=True, name=f"pump-{name}").start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            m = _URL[self.name].search(line + " ")
            if m and self.url is None:
                self.url = m.group(1)
                self.ready.set()
        self.ready.set()

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ensure_demo(url: str, api_key: str | None = None) -> None:
    """Create the demo pipeline if missing, start it if stopped, and seed its customers when empty."""
    from webapp.client import Client
    from webapp.demo import DEMO_CUSTOMERS, DEMO_NAME, DEMO_SQL
    with Client(url, api_key=api_key, timeout=30, wait_timeout=60) as client:
        # Listed rather than asked for by name: a first start should not log a 404 a newcomer would worry about.
        if DEMO_NAME in {q.name for q in client.pipelines()}:
            p = client.pipeline(DEMO_NAME)
        else:
            p = client.create_pipeline(DEMO_NAME, DEMO_SQL, description="Sluice demo pipeline")
        if p.status() == "Stopped":
            p.start()
        elif p.status() != "Running":
            p.wait_for_status("Running", timeout=60)
        rows = list(p.query("SELECT COUNT(*) AS n FROM customers"))
        if rows and not rows[0].get("n"):
            p.input_json("customers", DEMO_CUSTOMERS, force=True)


def _first_key(path: str | None) -> str | None:
    """The first key of an API key file (``SLUICE_API_KEY`` is used by the client by itself)."""
    from .settings import read_key_file
    return read_key_file(path) if path else None


def run_up(a, engine_argv: list[str]) -> int:
    stopping = threading.Event()

    def _stop(signum, frame):
        stopping.set()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    engine = Child("engine", ["engine", *engine_argv])
    children = [engine]
    try:
        while not engine.ready.wait(0.2):
            if stopping.is_set():
                return 0
        if engine.url is None:
            return engine.proc.wait() or 1
        upstream = engine.url.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:")
        try:
            ensure_demo(upstream, _first_key(a.api_key_file))
        except Exception as e:  # the dashboard is still useful without the demo
            print(f"sluice up: could not set up the demo pipeline: {e}", file=sys.stderr, flush=True)
        print(f"Demo pipeline 'demo': {upstream}/v0/pipelines/demo", flush=True)
        argv = ["dashboard", "--host", a.host, "--port", str(a.port), "--upstream", upstream]
        for h in a.allowed_host:
            argv += ["--allowed-host", h]
        if a.api_key_file:
            argv += ["--api-key-file", os.path.abspath(a.api_key_file)]
        if a.insecure:
            argv.append("--insecure")
        if getattr(a, "users_file", None):
            argv += ["--users-file", os.path.abspath(a.users_file)]
        if getattr(a, "proxy_fix", False):
            argv.append("--proxy-fix")
        if not a.no_demo_data:
            argv.append("--demo-data")
        dash = Child("dashboard", argv)
        children.append(dash)
        while not dash.ready.wait(0.2):
            if stopping.is_set():
                return 0
        if dash.url:
            print(f"Open the dashboard: {dash.url}/", flush=True)
        while not stopping.is_set():
            for c in children:
                if c.proc.poll() is not None:
                    print(f"sluice up: the {c.name} exited ({c.proc.returncode}); stopping", file=sys.stderr,
                          flush=True)
                    return c.proc.returncode or 1
            time.sleep(0.2)
        return 0
    finally:
        for c in reversed(children):
            c.stop()


__all__ = ["run_up", "ensure_demo"]
