"""The data directory's lock: one engine per directory, and a prompt restart after a crash.

``lock_data_dir(path)`` takes an exclusive ``flock`` on ``path/sluice.lock`` and writes the taker's PID
into it. The lock belongs to the open file, so an engine's gunicorn worker, which inherits the master's
descriptor, holds it too: a worker that outlived a killed master would keep the directory (and its
write-ahead log) to itself. Two things make a restart work the first time:

- the worker dies with its master (``webapp._serving.die_with_parent``, a parent-death signal set right
  after the fork);
- a starting engine that finds the lock held while the PID written in the file is gone (dead, or a
  zombie) knows the holder is going away and waits for it, up to ``wait`` seconds, saying what it
  waits for. A live holder is another engine: refused at once.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

class DataDirLocked(Exception):
    """Raised when another engine holds the data directory (or a dying one held it past the wait)."""


def _going_away(pid: int) -> bool:
    """True when ``pid`` no longer runs: gone, or a zombie whose descriptors are already closed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def _holder(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or "0") or None
    except (OSError, ValueError):
        return None


def lock_data_dir(path: Path, wait: float = 15.0, say=None) -> int:
    """Take the directory's exclusive lock; the returned fd holds it (also across fork).

    Waits up to ``wait`` seconds while the holder is an engine that is going away (its recorded PID is
    gone), calling ``say(message)`` once; raises ``DataDirLocked`` at once if a live engine holds it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / "sluice.lock", os.O_RDWR | os.O_CREAT, 0o644)
    deadline = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            pid = _holder(fd)
            if pid is None or not _going_away(pid):
                os.close(fd)
                who = f" (pid {pid})" if pid else ""
                raise DataDirLocked(f"data directory {path} is in use by another Sluice engine{who}") from None
            now = time.monotonic()
            if deadline is None:
                deadline = now + wait
                if say is not None:
                    say(f"waiting up to {wait:g} s for the engine that used {path} (pid {pid}, exited) to "
                        "finish letting go of it")
            elif now > deadline:
                os.close(fd)
                raise DataDirLocked(f"data directory {path} is still locked {wait:g} s after its engine "
                                    f"(pid {pid}) exited; a process it started may still be running") from None
            time.sleep(0.05)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


__all__ = ["DataDirLocked", "lock_data_dir"]
