"""The step thread keeps view state out of Python's full garbage collections while a pipeline runs
(``gc.freeze``), and gives it back when the pipeline stops: a stopped pipeline's state is freed.

In-process (no HTTP): what is checked is the Python heap of the engine itself."""

from __future__ import annotations

import gc
import time
import weakref

from webapp.engine import Engine

PROGRAM = """
CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, k INT, v DOUBLE);
CREATE VIEW g AS SELECT k, COUNT(*) AS c, SUM(v) AS s, MIN(v) AS lo FROM t GROUP BY k;
"""


def _wait(p, status: str) -> None:
    deadline = time.monotonic() + 30
    while p.status != status:
        assert time.monotonic() < deadline, f"pipeline stayed {p.status}, never {status}"
        time.sleep(0.02)


def test_a_stopped_pipeline_leaves_no_frozen_state(tmp_path):
    eng = Engine(tmp_path / "data")
    try:
        p, _ = eng.put("p", {"name": "p", "program_code": PROGRAM,
                             "runtime_config": {"fault_tolerance": {"model": None}}})
        p.start()
        _wait(p, "Running")
        rt = p.runtime
        assert gc.get_freeze_count() > 0, "the running pipeline's state is frozen"
        agg = weakref.ref(rt.views["g"].root.child)  # the GROUP BY operator holding per-group state
        rt_ref = weakref.ref(rt)
        del rt
        p.stop()
        _wait(p, "Stopped")
        p.runtime = None
        deadline = time.monotonic() + 10
        while rt_ref() is not None or agg() is not None:
            gc.collect()
            assert time.monotonic() < deadline, "the stopped pipeline's runtime and view state were never freed"
            time.sleep(0.05)
        assert gc.get_freeze_count() == 0
    finally:
        eng.shutdown()
