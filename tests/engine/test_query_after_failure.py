"""An ad-hoc query's read after a failed step (in-process, the real Engine).

A view nothing else reads keeps its changes back from its log table between steps; a query flushes them
first (``Runtime.begin_read``). After a step failed and was rolled back, the views hold that step's changes
and the committed ones they kept back cannot be told apart: a query must be refused, not answered with
views a few steps behind the tables (the pipeline is stopping)."""

from __future__ import annotations

import pytest

from webapp.engine import Engine
from webapp.engine.errors import Terminating
from webapp.engine.testing import wait_until

PROGRAM = """
CREATE TABLE m (id INT NOT NULL PRIMARY KEY, k INT, x DOUBLE);
CREATE MATERIALIZED VIEW ms AS SELECT k, SUM(x) AS s, COUNT(*) AS n FROM m GROUP BY k;
CREATE MATERIALIZED VIEW bad AS SELECT id / (k - 3) AS q FROM m;
"""


def test_a_query_after_a_failed_step_is_refused(tmp_path):
    eng = Engine(tmp_path / "data")
    try:
        eng.put("p", {"name": "p", "program_code": PROGRAM, "runtime_config": {"fault_tolerance": {"model": None}}})
        p = eng.get("p")
        p.start()
        wait_until(lambda: p.status == "Running", 30, "the pipeline to run")
        rt = p.running()
        for i in range(3):
            _, ans = p.ingest("m", f'{{"id": {i}, "k": 1, "x": 1.5}}'.encode(),
                              {"format": "json", "update_format": "raw"}, False)
            assert rt.wait_complete(ans["token"], 30)
        assert rt.views["ms"]._pending, "the view keeps its changes back (the case this test is about)"
        p.ingest("m", b'{"id": 9, "k": 3, "x": 1.0}', {"format": "json", "update_format": "raw"}, False)
        wait_until(lambda: rt.failed, 30, "the step dividing by zero to fail")
        cur = rt.db.cursor()
        try:
            with pytest.raises(Terminating, match="failed step"):
                rt.begin_read(cur)
        finally:
            cur.close()
    finally:
        eng.shutdown()
