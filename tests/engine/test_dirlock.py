"""The data directory's lock: a live engine is refused at once, a dying one is waited for (bounded)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from webapp.engine.dirlock import DataDirLocked, lock_data_dir

# Takes the lock, forks a child that inherits it (as a gunicorn worker does), and exits unless asked to
# stay: the child then holds the lock under a PID that is gone, until its stdin closes.
HOLDER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from webapp.engine.dirlock import lock_data_dir
    fd = lock_data_dir(Path(sys.argv[1]))
    if os.fork() == 0:
        print("child", os.getpid(), flush=True)
        sys.stdin.read()          # holds the inherited lock until the test closes our stdin
        os._exit(0)
    if sys.argv[2] == "stay":
        sys.stdin.read()
    os._exit(0)
""")


def _holder(tmp_path, mode: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), mode], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("child")
    return p


def test_a_live_engine_is_refused_at_once(tmp_path):
    p = _holder(tmp_path, "stay")
    try:
        with pytest.raises(DataDirLocked, match=rf"in use by another Sluice engine \(pid {p.pid}\)"):
            lock_data_dir(tmp_path, wait=60)
    finally:
        p.stdin.close()
        p.wait()
        p.stdout.close()


def test_a_lock_left_by_an_exited_engine_is_waited_for_and_taken(tmp_path):
    p = _holder(tmp_path, "go")
    p.wait()  # the PID in the lock file is gone; its child still holds the lock
    said: list[str] = []
    spoke = threading.Event()
    got: list = []

    def say(m):
        said.append(m)
        spoke.set()

    t = threading.Thread(target=lambda: got.append(lock_data_dir(tmp_path, wait=60, say=say)))
    t.start()
    assert spoke.wait(30), "the waiting engine never said what it waits for"
    assert not got, "took a lock that is still held"
    assert f"pid {p.pid}, exited" in said[0] and str(tmp_path) in said[0]
    p.stdin.close()  # the child goes away: the lock is free
    t.join(30)
    p.stdout.close()
    assert got and isinstance(got[0], int)


def test_the_wait_is_bounded(tmp_path):
    p = _holder(tmp_path, "go")
    p.wait()
    try:
        with pytest.raises(DataDirLocked, match="still locked"):
            lock_data_dir(tmp_path, wait=0.3)
    finally:
        p.stdin.close()
        p.stdout.close()
