"""The buffer limit counts the records a step has not taken yet (Feldera's ``buffered_records``: what its
circuit has not consumed), not the running step's: while a step works, the next step's input gathers up
to the limit, so a load's steps are as large as the limit instead of half of it.

In-process with the real Engine: the view's step is held on an event, so that a step is known to be
running while the test pushes and reads the statistics."""

from __future__ import annotations

import threading

import orjson
import pytest

from webapp.engine import Engine
from webapp.engine.errors import BufferFull
from webapp.engine.settings import Settings
from webapp.engine.testing import wait_until

PROGRAM = """
CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, v INT);
CREATE VIEW s AS SELECT COUNT(*) AS n, SUM(v) AS total FROM t;
"""
CAP = 50


def _body(lo: int, n: int) -> bytes:
    return b"\n".join(orjson.dumps({"id": i, "v": 1}) for i in range(lo, lo + n))


def _metrics(p) -> tuple[dict, dict]:
    st = p.runtime.stats()
    (inp,) = [i for i in st["inputs"] if i["config"]["stream"] == "t"]
    return st["global_metrics"], inp["metrics"]


def test_input_gathers_up_to_the_limit_while_a_step_runs(tmp_path):
    eng = Engine(tmp_path / "data", Settings(max_buffered_records=CAP, ingress_wait_secs=1.0))
    release = threading.Event()
    try:
        eng.put("p", {"name": "p", "program_code": PROGRAM,
                      "runtime_config": {"fault_tolerance": {"model": None}}})
        p = eng.get("p")
        p.start()
        wait_until(lambda: p.status == "Running", 30, "the pipeline to run")
        view = p.runtime.views["s"]
        entered = threading.Event()
        step = view.step

        def held(con, deltas):
            entered.set()
            assert release.wait(30), "the test never released the step"
            return step(con, deltas)
        view.step = held

        params = {"format": "json", "update_format": "raw"}
        status, _ = p.ingest("t", _body(0, CAP), params, force=False)
        assert status == 200
        assert entered.wait(30), "the step never started"
        gm, m = _metrics(p)
        # The running step's records are neither waiting nor processed yet.
        assert m["buffered_records"] == 0 and gm["buffered_input_records"] == 0, (gm, m)
        assert gm["total_processed_records"] == 0 and gm["pipeline_complete"] is False, gm

        # A whole limit's worth more is taken while the step runs: it waited for that step to end before,
        # and was refused 503 BufferFull once --ingress-wait had passed.
        status, ans = p.ingest("t", _body(CAP, CAP), params, force=False)
        assert status == 200, ans
        gm, m = _metrics(p)
        assert m["buffered_records"] == CAP and gm["buffered_input_records"] == CAP, (gm, m)
        # The limit still holds for what waits: one more request is held back, then refused.
        with pytest.raises(BufferFull):
            p.ingest("t", _body(2 * CAP, 1), params, force=False)

        release.set()
        wait_until(lambda: _metrics(p)[0]["pipeline_complete"], 30, "both batches to be processed")
        gm, m = _metrics(p)
        assert gm["total_processed_records"] == 2 * CAP and m["buffered_records"] == 0, (gm, m)
        assert p.db.execute("SELECT n, total FROM s").fetchall() == [(2 * CAP, 2 * CAP)]
    finally:
        release.set()
        eng.shutdown()
