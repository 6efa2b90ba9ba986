"""``sluice up``: the engine and the dashboard as two child processes, and the demo pipeline between them.

1. start ``sluice engine`` (its own gunicorn) with ``up``'s engine flags, and read its URL from its output;
2. create the demo pipeline through the client if it is missing, start it, seed its customers;
3. start ``sluice dashboard --upstream <engine URL>`` (gunicorn, gevent), with the demo generator on
   unless ``--no-demo-data``, keeping its history in ``<data-dir>/dashboard``;
4. pass both outputs through, each to the stream it was written to (a child's log lines, on its standard
   error, to this one's; the URLs it prints on standard output to this one's), and watch over both: a
   child that exits unexpectedly is started again
   on the same port (backoff 1, 2, 4 ... 30 s, said in the log), so open pages recover by themselves.
   A child that keeps failing at once (``--max-restarts`` exits in a row, each within
   ``HEALTHY_SECS`` of its start) is given up on, and everything stops; one that ends before it listens
   at its very first start is not retried at all. SIGTERM/SIGINT stop everything.

The children die with this process (``PR_SET_PDEATHSIG``) even if it is killed outright.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

from webapp._serving import die_with_parent

_URL = {"engine": re.compile(r"Sluice engine listening on (http://\S+)"),
        "dashboard": re.compile(r"Sluice dashboard listening on (http://\S+?)/?\s")}
# What gunicorn's master logs as it takes a signal that stops it: with a graceful stop the exit code is 0,
# and this line is all that tells a SIGTERM sent by someone else from an exit of the child's own.
_STOP_SIGNAL = re.compile(r"Handling signal: (term|int|quit)\b")


HEALTHY_SECS = 60.0   # a child that ran this long before exiting starts again after the shortest backoff
BACKOFF_MAX = 30.0


def _die_with_parent() -> None:
    die_with_parent(signal.SIGTERM)  # a graceful stop: the engine finishes what it acknowledged


class Child:
    """One ``sluice`` subcommand, its output passed through; ``restart()`` runs it again on the port it
    first got (``--port 0`` picks one once; pages and the dashboard's upstream URL keep working)."""

    def __init__(self, name: str, argv: list[str], port_flag: str = "--port", env: dict | None = None):
        self.name = name
        self.argv = list(argv)
        self.env = dict(env or {})
        self.port_flag = port_flag
        self.url: str | None = None
        self.starts = 0
        self._spawn()

    def _spawn(self) -> None:
        self.ready = threading.Event()
        self.started_at = time.monotonic()
        self.starts += 1
        self.stop_signal: str | None = None  # the signal gunicorn said it stops on (SIGTERM, ...), if any
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self.proc = subprocess.Popen([sys.executable, "-m", "webapp.cli", *self.argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env,
                                     preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self._pumps = [threading.Thread(target=self._pump, args=(self.proc, self.ready), daemon=True,
                                        name=f"pump-{self.name}"),
                       threading.Thread(target=self._pump_log, args=(self.proc,), daemon=True,
                                        name=f"pump-{self.name}-log")]
        for t in self._pumps:
            t.start()

    def restart(self) -> None:
        if self.url and self.port_flag in self.argv:
            self.argv[self.argv.index(self.port_flag) + 1] = self.url.rsplit(":", 1)[1].rstrip("/")
        self._spawn()

    def _pump_log(self, proc: subprocess.Popen) -> None:
        """The child's standard error (its log) to ours: an operator redirecting ``2>`` catches it there."""
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            m = _STOP_SIGNAL.search(line)
            if m and proc is self.proc:
                self.stop_signal = "SIG" + m.group(1).upper()

    def drained(self, timeout: float = 5.0) -> None:
        """Wait until both outputs of an exited child are passed through (its last words come first)."""
        for t in self._pumps:
            t.join(timeout)

    def _pump(self, proc: subprocess.Popen, ready: threading.Event) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            m = _URL[self.name].search(line + " ")
            if m and not ready.is_set():
                self.url = m.group(1)
                ready.set()
        ready.set()

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
            return _failed_first_start(engine)
        upstream = engine.url  # loopback even when listening on every address (browse_url)
        try:
            ensure_demo(upstream, _first_key(a.api_key_file))
        except Exception as e:  # the dashboard is still useful without the demo
            print(f"sluice up: could not set up the demo pipeline: {e}", file=sys.stderr, flush=True)
        print(f"Demo pipeline 'demo': {upstream}/v0/pipelines/demo", flush=True)
        argv = ["dashboard", "--host", a.host, "--port", str(a.port), "--upstream", upstream,
                "--state-dir", os.path.join(os.path.abspath(a.data_dir), "dashboard")]
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
        dash = Child("dashboard", argv, env=stall_env(a.keepalive))
        children.append(dash)
        while not dash.ready.wait(0.2):
            if stopping.is_set():
                return 0
        if dash.url is None:
            return _failed_first_start(dash)
        print(f"Open the dashboard: {dash.url}/", flush=True)
        return _watch(children, stopping, a.max_restarts)
    finally:
        for c in reversed(children):
            c.stop()


def stall_env(keepalive: float) -> dict:
    """The dashboard's ``STREAM_STALL`` for the engine ``sluice up`` runs: a live view calls a stream whose
    server sends nothing for that long "upstream down", so it must outlast the engine's keepalive interval
    (2.5 of them: one late line is not an outage), and be off when the engine sends none. Set by the
    user (``$SLUICE_STREAM_STALL``), it is theirs."""
    from .settings import BY_NAME  # the dashboard's registry: only when a dashboard is started
    if "SLUICE_STREAM_STALL" in os.environ:
        return {}
    stall = max(BY_NAME["STREAM_STALL"].default, 2.5 * keepalive) if keepalive > 0 else 0
    return {"SLUICE_STREAM_STALL": str(stall)}


def _failed_first_start(c: Child) -> int:
    """A child that ended before it listened at its first start (a missing users file, a data directory
    in use): starting it again would fail the same way, so ``sluice up`` stops with its exit status."""
    code = c.proc.wait()
    c.drained()
    print(f"sluice up: the {c.name} did not start ({_exit_text(code)}); stopping (its output above says why)",
          file=sys.stderr, flush=True)
    return code or 1


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _exit_story(c: Child, code: int) -> str:
    """What happened to a child that exited while nobody asked ``sluice up`` to stop, as far as it can tell."""
    if c.stop_signal is not None:  # a graceful stop by a signal from outside (``kill PID``): exit code 0
        return f"the {c.name} stopped on {c.stop_signal}, which sluice up did not send ({_exit_text(code)})"
    if code == 0:
        return f"the {c.name} stopped ({_exit_text(code)}) without sluice up asking it to"
    return f"the {c.name} exited unexpectedly ({_exit_text(code)})"


def _watch(children: list[Child], stopping: threading.Event, max_restarts: int) -> int:
    """Start again each child that exits while nobody asked to stop; returns ``sluice up``'s exit code."""
    failures = {c.name: 0 for c in children}  # exits in a row, each after less than HEALTHY_SECS
    due: dict[str, float] = {}
    while not stopping.wait(0.2):
        now = time.monotonic()
        for c in children:
            if c.name in due:
                if now >= due[c.name]:
                    del due[c.name]
                    c.restart()
                    print(f"sluice up: started the {c.name} again (pid {c.proc.pid})", file=sys.stderr, flush=True)
                continue
            code = c.proc.poll()
            if code is None:
                continue
            failures[c.name] = 1 if now - c.started_at >= HEALTHY_SECS else failures[c.name] + 1
            if failures[c.name] > max_restarts:
                print(f"sluice up: the {c.name} exited ({_exit_text(code)}) {failures[c.name]} times in a row, "
                      f"each within {HEALTHY_SECS:g} s of starting; stopping (its output above says why)",
                      file=sys.stderr, flush=True)
                return code or 1
            delay = min(BACKOFF_MAX, 2.0 ** (failures[c.name] - 1))
            c.drained()
            print(f"sluice up: {_exit_story(c, code)}; restarting it in {delay:g} s", file=sys.stderr, flush=True)
            due[c.name] = now + delay
    return 0


__all__ = ["run_up", "ensure_demo"]
