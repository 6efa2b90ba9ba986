"""Input a failed run left unapplied (``Runtime.leftover``), put into the tables a program change keeps: all of
it or none of it, and none of it lost when it does not fit.

In-process with the real Engine: a batch that fails in a table (NOT NULL) cannot come through ingress, which
checks it, so the failed run's leftover is set as ``Runtime.leftover`` hands it over."""

from __future__ import annotations

from webapp.engine import Engine
from webapp.engine.runtime import Batch
from webapp.engine.testing import wait_until

PROGRAM = """
CREATE TABLE a (id INT NOT NULL, v INT);
CREATE TABLE b (id INT NOT NULL, v INT);
CREATE VIEW s AS SELECT COUNT(*) AS n FROM a;
"""


def _wait(p, status: str) -> None:
    wait_until(lambda: p.status == status, 30, f"pipeline {p.name} to be {status}")


def _rows(p, table: str) -> list[tuple]:
    return p.db.execute(f"SELECT id, v FROM {table} ORDER BY id").fetchall()


def _ran(eng, code: str):
    """Pipeline ``p`` of ``code``, started and stopped (its storage in use), without a log."""
    eng.put("p", {"name": "p", "program_code": code, "runtime_config": {"fault_tolerance": {"model": None}}})
    p = eng.get("p")
    p.start()
    _wait(p, "Running")
    p.stop()
    _wait(p, "Stopped")
    return p


def test_carried_input_that_does_not_fit_stays_out_of_the_tables_and_is_kept(tmp_path):
    eng = Engine(tmp_path / "data")
    try:
        p = _ran(eng, PROGRAM)
        # A failed step's input, in log order: a row for `a` that fits, then one for `b` that does not.
        carried = [Batch(1, "a", [(1, (1, 10))], 1, 8), Batch(2, "b", [(1, (None, 20))], 1, 8)]
        p.unapplied = list(carried)

        # The tables are kept (unchanged); the view changes.
        eng.put("p", {"name": "p", "program_code": PROGRAM.replace("COUNT(*)", "COUNT(v)"),
                      "runtime_config": {"fault_tolerance": {"model": None}}})
        assert p.program_status == "Success" and p.kept_tables == ["a", "b"]
        assert _rows(p, "a") == [] and _rows(p, "b") == [], "part of the carried input went into the tables"
        assert p.unapplied == carried, "acknowledged input was dropped"
        msg = p.deployment_error["message"]
        assert "'b'" in msg and "NOT NULL" in msg and "2 records" in msg and "kept" in msg, msg

        # The next start applies it first, as a step: it fails there too, and is still kept.
        p.dismiss_error()
        p.start()
        wait_until(lambda: p.status == "Stopped" and p.deployment_error is not None, 30, "the carried step to fail")
        assert "kept" in p.deployment_error["message"], p.deployment_error
        assert _rows(p, "a") == [] and [(b.table, b.records) for b in p.unapplied] == [("a", 1), ("b", 1)]
    finally:
        eng.shutdown()


def test_carried_input_goes_into_a_table_that_gained_columns(tmp_path):
    """A failed run's input was read for the table's old columns: a program change that adds NULL-able
    columns keeps the table's rows, and the input too, the new columns NULL (a partial update leaves them)."""
    import pyarrow as pa

    eng = Engine(tmp_path / "data")
    code = "CREATE TABLE a (id INT NOT NULL PRIMARY KEY, v INT);\nCREATE TABLE b (id INT NOT NULL, v INT);\n"
    try:
        p = _ran(eng, code)
        arrow = pa.table({"id": pa.array([3], pa.int32()), "v": pa.array([30], pa.int32())})
        p.unapplied = [Batch(1, "a", [(1, (1, 10)), (1, (2, 20))], 2, 8), Batch(2, "b", None, 1, 8, arrow=arrow)]
        wider = ("CREATE TABLE a (id INT NOT NULL PRIMARY KEY, note VARCHAR, v INT);\n"
                 "CREATE TABLE b (id INT NOT NULL, v BIGINT, w INT);\n")
        eng.put("p", {"name": "p", "program_code": wider, "runtime_config": {"fault_tolerance": {"model": None}}})
        assert p.program_status == "Success" and p.kept_tables == ["a", "b"]
        assert p.unapplied == [] and p.deployment_error is None, p.deployment_error
        assert p.db.execute("SELECT id, note, v FROM a ORDER BY id").fetchall() == [(1, None, 10), (2, None, 20)]
        assert p.db.execute("SELECT id, v, w FROM b").fetchall() == [(3, 30, None)]
    finally:
        eng.shutdown()
