"""``sluice up`` watches over its children: one that dies is started again on the same port, the other
keeps running, and only Ctrl-C/SIGTERM stops everything."""

from __future__ import annotations

import os
import signal

import httpx

from webapp.engine.testing import EngineProcess
from webapp.engine.testing import wait_until as _wait_until


def wait_until(what: str, check, up: EngineProcess, timeout: float = 60):
    """The shared wait, with the server down counting as "not yet" and ``sluice up``'s log on failure."""
    return _wait_until(check, timeout, what, 0.05, ignore=(httpx.HTTPError, OSError), detail=lambda: up.log)


def dashboard_url(up: EngineProcess) -> str:
    return up.wait_for_output(r"Open the dashboard: (http://\S+?)/?\s").group(1)


def running(engine_url: str) -> bool:
    st = httpx.get(f"{engine_url}/v0/pipelines/demo", params={"selector": "status"}, timeout=5).json()
    return st.get("deployment_status") == "Running"


def test_a_killed_engine_or_dashboard_is_started_again(tmp_path):
    with EngineProcess(tmp_path / "data", "--port", "0", "--no-demo-data", command="up") as up:
        dash = dashboard_url(up)
        engine = up.child_pid("engine")
        assert engine, up.log
        os.kill(engine, signal.SIGKILL)
        wait_until("sluice up said it restarts the engine",
                   lambda: "the engine exited unexpectedly (killed by SIGKILL); restarting it in 1 s" in up.log, up)
        wait_until("the engine answers again at the same URL, its demo pipeline running",
                   lambda: up.child_pid("engine") not in (None, engine) and running(up.url), up)
        # The dashboard stayed up and reaches the new engine through the same upstream URL.
        assert httpx.get(dash + "/api/pipelines/demo", timeout=10).status_code == 200

        dashboard = up.child_pid("dashboard")
        assert dashboard, up.log
        os.kill(dashboard, signal.SIGKILL)
        wait_until("sluice up said it restarts the dashboard",
                   lambda: "the dashboard exited unexpectedly (killed by SIGKILL)" in up.log, up)
        wait_until("the dashboard answers again at the same URL",
                   lambda: up.child_pid("dashboard") not in (None, dashboard)
                   and httpx.get(dash + "/", timeout=5).status_code == 200, up)
        assert up.proc.poll() is None, "sluice up itself kept running"
    assert up.proc.returncode == 0, up.log


def test_an_engine_stopped_by_someone_elses_sigterm_is_said_so_and_started_again(tmp_path):
    """``kill PID`` stops the engine gracefully (exit code 0): sluice up names the signal instead of calling a
    clean exit unexpected."""
    with EngineProcess(tmp_path / "data", "--port", "0", "--no-demo-data", command="up") as up:
        dashboard_url(up)
        engine = up.child_pid("engine")
        assert engine, up.log
        os.kill(engine, signal.SIGTERM)
        wait_until("sluice up said what stopped the engine",
                   lambda: "sluice up: the engine stopped on SIGTERM, which sluice up did not send (exit code 0); "
                           "restarting it in 1 s" in up.log, up)
        wait_until("the engine answers again, its demo pipeline running",
                   lambda: up.child_pid("engine") not in (None, engine) and running(up.url), up)
        assert "exited unexpectedly" not in up.log, up.log
    assert up.proc.returncode == 0, up.log


def test_a_child_that_keeps_failing_is_given_up_on(tmp_path):
    """An engine that dies and cannot start again (another live process holds its data directory) is
    retried --max-restarts times, then sluice up stops with a message."""
    from webapp.engine.dirlock import lock_data_dir
    with EngineProcess(tmp_path / "data", "--port", "0", "--no-demo-data", "--max-restarts", "2",
                       command="up") as up:
        dashboard_url(up)
        engine = up.child_pid("engine")
        os.kill(up.proc.pid, signal.SIGSTOP)  # hold sluice up while the directory is taken from its engine
        try:
            os.kill(engine, signal.SIGKILL)
            wait_until("the engine's processes are gone", lambda: not _holds_lock(tmp_path / "data"), up)
            fd = lock_data_dir(tmp_path / "data", wait=30)
        finally:
            os.kill(up.proc.pid, signal.SIGCONT)
        try:
            up.proc.wait(60)
        finally:
            os.close(fd)
        assert up.proc.returncode == 1, up.log
        assert "restarting it in 1 s" in up.log and "restarting it in 2 s" in up.log, up.log
        assert "exited (exit code 1) 3 times in a row" in up.log, up.log


def _holds_lock(data_dir) -> bool:
    import fcntl
    with open(data_dir / "sluice.lock", "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_a_dashboard_that_fails_its_first_start_is_not_retried(tmp_path):
    """A missing users file stops the dashboard before it listens: retrying cannot help, so sluice up stops
    at once with the dashboard's own message (it used to retry with backoff, 42 s by default)."""
    import subprocess
    import sys
    missing = tmp_path / "nonexistent.json"
    r = subprocess.run([sys.executable, "-m", "webapp.cli", "up", "--engine-port", "0", "--port", "0",
                        "--no-demo-data", "--max-restarts", "1", "--data-dir", str(tmp_path / "data"),
                        "--users-file", str(missing)], capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert f"no users file {missing}" in out, out
    assert "restarting" not in out and "Open the dashboard" not in out, out
    assert "the dashboard did not start (exit code 1); stopping" in out, out
