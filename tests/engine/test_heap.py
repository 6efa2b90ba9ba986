"""Freed memory goes back to the operating system once bulk work is over (``webapp/engine/heap.py``)."""

from __future__ import annotations

import subprocess
import sys

from webapp.engine import heap

# Threads allocate and free many small blocks, as request threads parsing a load do; what glibc then
# still holds is measured before and after ``after_bulk`` decides to trim.
CHILD = r"""
import os, threading
from webapp.engine import heap

def rss():
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

pins = []

def churn():
    keep = [bytearray(2000) for _ in range(20_000)]
    pins.append(bytearray(2000))  # still in use above the freed blocks: the arena cannot just shrink
    keep.clear()

base = rss()
ts = [threading.Thread(target=churn) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
held = rss()
busy = heap.after_bulk(heap.TRIM_AFTER_BYTES, idle=False)
after_busy = rss()
trimmed = heap.after_bulk(0, idle=True)
print(held - base, after_busy - base, rss() - base, busy, trimmed)
"""


def test_a_trim_waits_for_enough_input_and_an_empty_queue(monkeypatch):
    # From nothing counted: an in-process engine of an earlier test in this worker counted its input.
    monkeypatch.setattr(heap, "_since", 0)
    assert not heap.after_bulk(heap.TRIM_AFTER_BYTES - 1, idle=True)
    assert not heap.after_bulk(1, idle=False)  # enough input, but more is queued: not yet
    assert heap.after_bulk(0, idle=True)
    assert not heap.after_bulk(0, idle=True)  # counted again from zero


def test_a_trim_gives_freed_memory_back():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    held, after_busy, after_trim, busy, trimmed = out.stdout.split()
    assert (busy, trimmed) == ("False", "True")
    held, after_busy, after_trim = int(held), int(after_busy), int(after_trim)
    assert held > 60 << 20, f"the threads' blocks were not held after all: {held >> 20} MiB"
    assert after_busy > held // 2  # nothing given back while busy
    assert after_trim < held // 4, f"{held >> 20} MiB held, {after_trim >> 20} MiB after the trim"
