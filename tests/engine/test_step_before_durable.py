"""A step applies logged input to the tables while the write-ahead log fsyncs it, and goes on to the views
and COMMIT only once it is durable: a batch the log then fails is rolled back out of the tables, its request
is refused (503 StorageUnavailable, nothing stored), and the pipeline goes on.

In-process with the real Engine and its log; the log's fsync is held on an event (and made to fail), so
that the batch is known to be in a step and not yet durable."""

from __future__ import annotations

import errno
import threading

import orjson

from webapp.engine import Engine, fsio
from webapp.engine.errors import StorageUnavailable
from webapp.engine.testing import wait_until

PROGRAM = """
CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, v INT);
CREATE VIEW s AS SELECT COUNT(*) AS n, SUM(v) AS total FROM t;
"""
PARAMS = {"format": "json", "update_format": "raw"}


def _push(p, i: int):
    return p.ingest("t", orjson.dumps({"id": i, "v": i}), PARAMS, force=False)


def test_a_step_takes_input_before_it_is_durable_and_drops_it_when_the_log_fails(tmp_path, monkeypatch):
    hold, fail = threading.Event(), threading.Event()
    entered, gate = threading.Event(), threading.Event()
    real = fsio.fsync

    def fsync(fd, path):
        if hold.is_set() and str(path).endswith(".wal"):
            entered.set()
            assert gate.wait(30), "the test never let the fsync end"
            if fail.is_set():
                raise OSError(errno.EIO, "injected by the test", str(path))
        return real(fd, path)
    monkeypatch.setattr(fsio, "fsync", fsync)

    eng = Engine(tmp_path / "data")
    try:
        eng.put("p", {"name": "p", "program_code": PROGRAM})
        p = eng.get("p")
        p.start()
        wait_until(lambda: p.status == "Running", 30, "the pipeline to run")
        status, ans = _push(p, 1)
        assert status == 200
        wait_until(lambda: p.runtime.completion(ans["token"])["status"] == "complete", 30, "the first row")

        hold.set()
        fail.set()
        answers: list = []

        def push_refused():
            try:
                answers.append(_push(p, 2))
            except StorageUnavailable as e:
                answers.append(e)
        th = threading.Thread(target=push_refused, daemon=True)
        th.start()
        assert entered.wait(30), "the log never fsynced"
        # The step has taken the batch while the log still holds its fsync (it waited for the fsync before).
        wait_until(lambda: p.runtime.processing == 1, 30, "a step to take the batch before it is durable")
        gm = p.runtime.stats()["global_metrics"]
        assert gm["total_input_records"] == 1 and gm["total_processed_records"] == 1, gm  # not accepted yet

        gate.set()  # the fsync fails
        th.join(30)
        assert len(answers) == 1 and isinstance(answers[0], StorageUnavailable), answers
        hold.clear()
        wait_until(lambda: p.runtime.processing == 0 and not p.runtime.queue, 30, "the step to let go of it")
        assert p.runtime.stats()["global_metrics"]["total_processed_records"] == 1

        # Nothing of the refused batch is in the tables or the view, and the pipeline goes on.
        status, ans = _push(p, 3)
        assert status == 200, ans
        wait_until(lambda: p.runtime.completion(ans["token"])["status"] == "complete", 30, "the row after")
        assert p.status == "Running"
        assert p.db.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (3,)]
        assert p.db.execute("SELECT n, total FROM s").fetchall() == [(2, 4)]
    finally:
        gate.set()
        eng.shutdown()
