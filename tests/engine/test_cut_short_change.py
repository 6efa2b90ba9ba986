"""A program change cut short: the process dies after the change's checkpoint (the tables' new columns)
and before the catalog (the program before it) is written. The engine must start again, with the rows."""

from __future__ import annotations

import subprocess
import sys

from webapp.engine import Engine
from webapp.engine.testing import wait_until

OLD = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR);"
NEW = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR, extra INT);"
SCRIPT = r"""
import os, sys, time
from webapp.engine import Engine
eng = Engine(sys.argv[1])
eng.put("p", {"name": "p", "program_code": sys.argv[2]})
p = eng.get("p")
p.start()
while p.status != "Running":
    time.sleep(0.01)
_, ans = p.ingest("t", b'{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}', {"format": "json", "update_format": "raw"}, False)
assert p.running().wait_complete(ans["token"], 30)
p.stop()
while p.status != "Stopped":
    time.sleep(0.01)
eng.save = lambda: os._exit(9)  # dies after the change's checkpoint, before the catalog is written
eng.put("p", {"name": "p", "program_code": sys.argv[3]})
"""


def test_an_engine_starts_after_a_program_change_cut_short(tmp_path):
    d = tmp_path / "data"
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(d), OLD, NEW], capture_output=True, text=True, timeout=120)
    assert r.returncode == 9, r.stderr  # it died where it was meant to
    eng = Engine(d)
    try:
        p = eng.get("p")
        assert p.program_code == OLD  # the change was never saved (nor answered)
        p.start()
        wait_until(lambda: p.status == "Running", 30, "the pipeline to run")
        assert p.db.execute("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, "a"), (2, "b")]
    finally:
        eng.shutdown()
