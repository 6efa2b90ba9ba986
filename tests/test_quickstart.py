"""The README's Quick start as a newcomer meets it: a fresh virtual environment, ``pip install .`` with no
extras, then ``sluice up``. Every module the main job imports must come from the project's own
dependencies; the test environment (which has pytest, Playwright, ...) cannot lend it one here.

This runs in CI on every run (it is part of the README's test command). It needs the package index that
``pip`` is configured with, as the Quick start itself does.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from webapp.engine.testing import wait_until

ROOT = Path(__file__).resolve().parent.parent
VIEWS = ("big_orders", "order_details", "city_totals")


def _copy_source(dest: Path) -> Path:
    """The checkout as ``git clone`` would give it: no virtual environment, no build leftovers."""
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "build", "sluice-data", ".hypothesis",
                                    "node_modules", ".pytest_cache", "results")
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def _wait(what: str, check, timeout: float, log) -> object:
    return wait_until(check, timeout, what, 0.2, ignore=(httpx.HTTPError,), detail=lambda: f"output of sluice up:\n{log()}")


def _rows(engine: str, view: str) -> int:
    r = httpx.get(f"{engine}/v0/pipelines/demo/query", params={"sql": f"SELECT COUNT(*) AS n FROM {view}",
                                                             "format": "json"}, timeout=10)
    return r.json()["n"] if r.status_code == 200 else 0


@pytest.mark.timeout(900)
def test_quick_start_in_a_fresh_virtual_environment(tmp_path):
    src = _copy_source(tmp_path / "sluice")
    venv = tmp_path / "venv"
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    # The test environment's pip installs into the new environment (``--python``): bootstrapping a pip
    # into it first (ensurepip) and compiling every installed module to bytecode (``--no-compile``; Python
    # compiles what it imports) took most of this test's time, and neither changes what gets installed.
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-compile",
                          str(src)], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, f"pip install . failed:\n{pip.stdout}\n{pip.stderr}"
    # No extras: nothing of the test environment is there to hide a missing dependency.
    for module in ("pytest", "playwright", "feldera"):
        probe = subprocess.run([str(py), "-c", f"import {module}"], capture_output=True, cwd=tmp_path)
        assert probe.returncode != 0, f"{module} is installed without the test extras"

    # Run from outside the checkout so the children import the installed package, not the source tree.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "PYTHON", "VIRTUAL_ENV"))}
    proc = subprocess.Popen([str(venv / "bin" / "sluice"), "up", "--port", "0", "--engine-port", "0",
                             "--data-dir", str(tmp_path / "data")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    log = lambda: "".join(out[-200:])  # noqa: E731
    try:
        def urls():
            text = "".join(out)
            dash = re.search(r"Open the dashboard: (http://\S+?)/?\s", text)
            engine = re.search(r"Demo pipeline 'demo': (http://\S+?)/v0/pipelines/demo", text)
            assert proc.poll() is None, f"sluice up exited ({proc.returncode}):\n{log()}"
            return (dash.group(1), engine.group(1)) if dash and engine else None
        dash, engine = _wait("sluice up printed its URLs", urls, 120, log)
        _wait("the dashboard answers", lambda: httpx.get(dash + "/", timeout=10).status_code == 200, 60, log)
        page = httpx.get(f"{dash}/pipelines/demo", timeout=10)
        assert page.status_code == 200 and "order_details" in page.text, page.text[:500]
        for view in VIEWS:  # the generator places orders at once; every view fills from them
            _wait(f"the demo view {view} holds rows", lambda: _rows(engine, view) > 0, 120, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reader.join(30)  # the output ends with the process; then the pipe can be closed
        proc.stdout.close()
    assert proc.returncode == 0, f"sluice up did not stop cleanly on Ctrl-C ({proc.returncode}):\n{log()}"
    with pytest.raises(ProcessLookupError):  # nothing it started is left running
        os.killpg(proc.pid, 0)
