"""The step thread keeps view state out of Python's full garbage collections while a pipeline runs
(``gc.freeze``), and gives it back when the pipeline stops: a stopped pipeline's state is freed,
also when the pipeline starts again at once.

In-process (no HTTP): what is checked is the Python heap of the engine itself."""

from __future__ import annotations

import gc
import weakref

from webapp.engine import Engine
from webapp.engine.testing import wait_until

PROGRAM = """
CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, k INT, v DOUBLE);
CREATE VIEW g AS SELECT k, COUNT(*) AS c, SUM(v) AS s, MIN(v) AS lo FROM t GROUP BY k;
"""


def _wait(p, status: str) -> None:
    wait_until(lambda: p.status == status, 30, f"pipeline {p.name} to be {status}")


def _run_once(p) -> tuple[weakref.ref, weakref.ref]:
    p.start()
    _wait(p, "Running")
    rt = p.runtime
    assert gc.get_freeze_count() > 0, "the running pipeline's state is frozen"
    # An egress stream that came and went: the runtime now sits in a reference cycle with it.
    rt.subscribe("g", "json", False, False).close()
    refs = weakref.ref(rt), weakref.ref(rt.views["g"].root.child)  # the GROUP BY holding per-group state
    del rt
    p.stop()
    _wait(p, "Stopped")
    return refs


def test_a_stopped_pipeline_leaves_no_frozen_state(tmp_path):
    eng = Engine(tmp_path / "data")
    gc.disable()  # only the engine's own collections (and the one below) run: the outcome is fixed
    try:
        eng.put("p", {"name": "p", "program_code": PROGRAM, "runtime_config": {"fault_tolerance": {"model": None}}})
        p = eng.get("p")
        first = _run_once(p)
        assert gc.get_freeze_count() == 0, "stopping unfreezes"
        p.start()  # again, without a collection in between: the first run's state must not be frozen now
        _wait(p, "Running")
        gc.collect()
        assert first[0]() is None and first[1]() is None, "the first run's runtime or view state was kept"
        p.stop()
        _wait(p, "Stopped")
        second = _run_once(p)
        gc.collect()
        assert second[0]() is None and second[1]() is None, "a stopped pipeline's runtime or view state was kept"
    finally:
        gc.enable()
        eng.shutdown()
