"""The ad-hoc query lock-down (docs/security.md, docs/api.md "Ad-hoc queries") against the real engine:
no statement sent to /query changes a table, a view or an internal object, nothing outside the
pipeline's tables and non-LOCAL views is readable, an INSERT goes through the write-ahead log, and a
query stops when its client leaves or its time limit passes."""

from __future__ import annotations

import math
import socket
import urllib.parse

import httpx
import pytest
from sluice_support import assert_error, query_json, wait_until

from webapp.engine.testing import EngineProcess, push_and_wait

SQL = """
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR, x DOUBLE);
CREATE LOCAL VIEW lv AS SELECT id, v, x FROM t WHERE x > 0;
CREATE MATERIALIZED VIEW g AS SELECT v, AVG(x) AS a, COUNT(*) AS c FROM lv GROUP BY v;
CREATE MATERIALIZED VIEW pos AS SELECT id, v FROM t WHERE x > 0;
"""
ROWS = [{"insert": {"id": i, "v": "ab"[i % 2], "x": i / 7}} for i in range(1, 21)]
INTERNAL = "__sluice_out_g"  # AVG over DOUBLE keeps its state in this table (tests/engine/test_incremental.py)
SURFACE = ("t", "g", "pos")
LONG = "SELECT count(*) FROM range(1000000000000)"


def _q(http, name, sql, fmt="json"):
    return http.get(f"/pipelines/{name}/query", params={"sql": sql, "format": fmt})


def _loaded(http, make_pipeline):
    name = make_pipeline(SQL)
    push_and_wait(http, name, "t", ROWS)
    return name


def _fingerprint(http, name) -> dict:
    """Every readable relation's hash and row count, and the pipeline's state."""
    out = {rel: (_q(http, name, f"SELECT * FROM {rel}", "hash").text,
                 query_json(http, name, f"SELECT count(*) AS c FROM {rel}")) for rel in SURFACE}
    st = http.get(f"/pipelines/{name}", params={"selector": "status"}).json()
    out["status"] = (st["deployment_status"], st.get("deployment_error"))
    # The engine's own objects, which /query cannot read: every node's rows (LOCAL views included) and
    # its internal state tables (``__sluice_*``), as the circuit profile lists them. Their row counts are
    # left out: a view's log table may be written late (batched), which changes no result.
    prof = http.get(f"/pipelines/{name}/circuit_json_profile").json()
    out["internal"] = sorted((n["name"], n["kind"], n["rows"], sorted(n.get("state_tables") or {}))
                             for n in prof["nodes"])
    return out


def _recomputed_matches(http, name) -> None:
    """The maintained views (whose state lives in internal tables) still equal their definitions run
    from scratch: an internal object changed by a query would show here after the next step. ``g``'s
    AVG is the exact mean, DuckDB's from scratch rounds at each addition: equal to 1e-12."""
    push_and_wait(http, name, "t", [{"insert": {"id": 99, "v": "a", "x": 1.5}}, {"delete": {"id": 2, "v": "b", "x": 2 / 7}}])
    assert _q(http, name, "SELECT * FROM pos", "hash").text == \
        _q(http, name, "SELECT id, v FROM t WHERE x > 0", "hash").text
    got = query_json(http, name, "SELECT * FROM g ORDER BY v")
    want = query_json(http, name, "SELECT v, AVG(x) AS a, COUNT(*) AS c FROM t WHERE x > 0 GROUP BY v ORDER BY v")
    assert [(r["v"], r["c"]) for r in got] == [(r["v"], r["c"]) for r in want] and len(got) == 2
    assert all(math.isclose(g["a"], w["a"], rel_tol=1e-12) for g, w in zip(got, want)), (got, want)


# -- the attacks of issue 16 ------------------------------------------------------------------------

@pytest.mark.parametrize("sql", ["EXPLAIN ANALYZE DELETE FROM t WHERE id = 7", "EXPLAIN ANALYZE DROP TABLE t",
                                 "EXPLAIN (ANALYZE) DELETE FROM t", "explain /* x */ analyze UPDATE t SET x = 0"])
def test_explain_analyze_of_a_write_is_refused(http, make_pipeline, sql):
    name = _loaded(http, make_pipeline)
    before = _fingerprint(http, name)
    d = assert_error(_q(http, name, sql), 400, "AdHocQueryError")
    assert d["details"]["statement_type"] == "EXPLAIN" and d["details"]["explained_statement_type"] in ("DELETE", "DROP", "UPDATE")
    assert _fingerprint(http, name) == before
    _recomputed_matches(http, name)


def test_nested_comment_hides_no_delete(http, make_pipeline):
    name = _loaded(http, make_pipeline)
    sql = "INSERT INTO t /* /* */ SELECT 1; DELETE FROM t WHERE id = 1; -- */ VALUES (1001, 'z', 1e0)"
    assert query_json(http, name, sql) == [{"count": 1}]
    ids = [r["id"] for r in query_json(http, name, "SELECT id FROM t ORDER BY id")]
    assert 1 in ids and 1001 in ids and len(ids) == 21


@pytest.mark.parametrize("sql", [
    f"SELECT E'\\'' AS a, * FROM {INTERNAL} --'",
    "SELECT E'\\'' AS a, * FROM lv --'",
    f"SELECT * FROM query_table('{INTERNAL}')",
    f"SELECT * FROM query('SELECT * FROM {INTERNAL}')",
    "SELECT * FROM query('SELECT * FROM lv')",
    f'SELECT * FROM "{INTERNAL.upper()}"',
    f"SELECT * FROM memory.main.{INTERNAL}",
    f"WITH {INTERNAL} AS (SELECT * FROM {INTERNAL}) SELECT * FROM {INTERNAL}",
    "SELECT * FROM (WITH zz AS (SELECT 1) SELECT * FROM zz), LV",
    "SELECT * FROM lv", "DESCRIBE lv", "SUMMARIZE lv",
    "SELECT * FROM duckdb_tables()", "SELECT * FROM duckdb_views()", "SELECT * FROM duckdb_tables",
    "SELECT sql FROM duckdb_views", "SELECT * FROM information_schema.tables", "SELECT * FROM sqlite_master",
    "SELECT * FROM pg_catalog.pg_views", "SHOW TABLES", "SHOW ALL TABLES",
    "SELECT pg_get_viewdef(view_oid) FROM (SELECT 1 AS view_oid)",
    "EXPLAIN ANALYZE SELECT * FROM lv",
    f"INSERT INTO t SELECT 1000, v, a FROM {INTERNAL}",
])
def test_nothing_outside_the_read_surface_is_readable(http, make_pipeline, sql):
    name = _loaded(http, make_pipeline)
    assert_error(_q(http, name, sql), 400, "AdHocQueryError")
    assert query_json(http, name, "SELECT count(*) AS c FROM t") == [{"c": 20}]


def test_the_read_surface_is_readable(http, make_pipeline):
    """Tables, non-LOCAL views, CTEs and row-generating functions, with quoted names, still work."""
    name = _loaded(http, make_pipeline)
    # A quoted name is exact, as in Feldera: "t" is t ("T" would be another table).
    assert query_json(http, name, 'SELECT count(*) AS c FROM "t" JOIN main.pos USING (id)') == [{"c": 20}]
    assert query_json(http, name, "WITH lv2 AS (SELECT * FROM g) SELECT count(*) AS c FROM lv2") == [{"c": 2}]
    assert query_json(http, name, "SELECT count(*) AS c FROM range(3), unnest([1, 2])") == [{"c": 6}]
    assert query_json(http, name, "SELECT E'\\'' || '--' AS s") == [{"s": "'--"}]
    assert _q(http, name, "EXPLAIN ANALYZE SELECT * FROM g").status_code == 200


# -- every statement kind DuckDB knows ---------------------------------------------------------------

REFUSED = [
    ("UPDATE t SET x = 0", "UPDATE"), ("DELETE FROM t", "DELETE"), ("CREATE TABLE z (a INT)", "CREATE"),
    ("CREATE VIEW z AS SELECT 1", "CREATE"), ("CREATE OR REPLACE VIEW pos AS SELECT 1 AS id", "CREATE"),
    ("CREATE MACRO m(a) AS a", "CREATE"), ("CREATE FUNCTION f(a) AS a", "CREATE"), ("DROP TABLE t", "DROP"),
    (f"DROP TABLE {INTERNAL}", "DROP"), ("DROP VIEW g", "DROP"), ("ALTER TABLE t ADD COLUMN y INT", "ALTER"),
    ("COMMENT ON TABLE t IS 'x'", "ALTER"), ("PRAGMA version", "PRAGMA"), ("PRAGMA enable_profiling", "PRAGMA"),
    ("SET threads = 4", "SET"), ("SET VARIABLE x = 1", "SET"), ("RESET threads", "SET"), ("USE system", "SET"),
    ("ATTACH ':memory:' AS a", "ATTACH"), ("DETACH memory", "DETACH"), ("COPY t TO '/tmp/sluice-x.csv'", "COPY"),
    ("COPY t FROM '/etc/hostname'", "COPY"), ("COPY FROM DATABASE memory TO a", "PRAGMA"),
    ("EXPORT DATABASE '/tmp/sluice-x'", "EXPORT"), ("IMPORT DATABASE '/tmp/sluice-x'", "PRAGMA"),
    ("LOAD httpfs", "LOAD"), ("INSTALL httpfs", "LOAD"), ("CALL checkpoint()", "CALL"), ("CHECKPOINT", "CALL"),
    ("FORCE CHECKPOINT", "CALL"), ("CALL pragma_version()", "CALL"), ("BEGIN TRANSACTION", "TRANSACTION"),
    ("COMMIT", "TRANSACTION"), ("ROLLBACK", "TRANSACTION"), ("PREPARE p AS DELETE FROM t", "PREPARE"),
    ("EXECUTE p", "EXECUTE"), ("DEALLOCATE p", "DROP"), ("VACUUM", "VACUUM"), ("ANALYZE", "VACUUM"),
    ("UPDATE EXTENSIONS", "UNKNOWN"), ("PIVOT t ON v USING sum(x)", "MULTI"),
    ("MERGE INTO t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE", "MERGE_INTO"),
    ("CREATE SECRET s (TYPE s3)", "CREATE"), ("INSERT OR REPLACE INTO t VALUES (1, 'q', 0)", None),
    ("INSERT INTO t VALUES (5000, 'q', 1) RETURNING *", None), ("WITH a AS (SELECT 1) DELETE FROM t", "DELETE"),
    ("SELECT 1; DELETE FROM t", None), ("SELECT 1 /* /* */ ; DELETE FROM t; -- */ ; DROP TABLE t", None),
    ("DELETE /* /* */ */ FROM t", "DELETE"), ("DELETE /* /* */ FROM t -- */", None), ("SELECT E'\\''; DELETE FROM t; --'", None),
    ("SELECT * FROM t; EXPLAIN ANALYZE DELETE FROM t", None), ("EXPLAIN EXPLAIN ANALYZE DELETE FROM t", None),
    ("SELECT nextval('s')", None), ("SELECT * FROM force_checkpoint()", None),
    ("SELECT * FROM read_csv('/etc/passwd')", None), ("SELECT * FROM duckdb_settings()", None),
]
EXPLAINABLE = [s for s, k in REFUSED if k not in (None, "UNKNOWN", "TRANSACTION", "MULTI")]


def test_every_statement_kind_changes_nothing(http, make_pipeline):
    name = _loaded(http, make_pipeline)
    before = _fingerprint(http, name)
    failures = []
    # DuckDB cannot parse EXPLAIN of some kinds at all (EXPLAIN ATTACH): those fail without a kind
    cases = REFUSED + [(f"EXPLAIN {s}", "EXPLAIN?") for s in EXPLAINABLE] + \
        [(f"EXPLAIN ANALYZE {s}", "EXPLAIN?") for s in EXPLAINABLE]
    for sql, kind in cases:
        r = _q(http, name, sql)
        body = r.json() if r.headers.get("content-type") == "application/json" and r.status_code != 200 else {}
        if r.status_code != 400 or body.get("error_code") != "AdHocQueryError":
            failures.append((sql, r.status_code, r.text[:200]))
        elif kind == "EXPLAIN?":
            if (body.get("details") or {}).get("statement_type") not in (None, "EXPLAIN"):
                failures.append((sql, "statement_type", body.get("details")))
        elif kind is not None and (body.get("details") or {}).get("statement_type") != kind:
            failures.append((sql, "statement_type", body.get("details")))
    assert not failures, failures
    # allowed statements that look like attacks run, and change nothing either
    assert query_json(http, name, "SELECT 1 AS a /* /* */ ; DELETE FROM t; -- */") == [{"a": 1}]
    assert query_json(http, name, "SELECT E'\\'; DELETE FROM t; --' AS a") == [{"a": "'; DELETE FROM t; --"}]
    assert _fingerprint(http, name) == before
    _recomputed_matches(http, name)


# -- INSERT goes through the write-ahead log; nothing removes an acknowledged row -------------------

def _running_engine(data_dir):
    eng = EngineProcess(data_dir).start()
    http = eng.client()
    return eng, http


def test_inserted_rows_survive_a_crash_and_query_removes_none(tmp_path):
    eng, http = _running_engine(tmp_path)
    try:
        r = http.put("/pipelines/w", json={"name": "w", "program_code": SQL, "runtime_config": {
            "fault_tolerance": {"model": "exactly_once", "checkpoint_interval_secs": 1}}})
        assert r.status_code in (200, 201), r.text
        assert http.post("/pipelines/w/start").status_code == 202
    finally:
        eng.stop()
        http.close()
    # the checkpointer picks its interval (here 1 s) from the pipelines the engine starts with
    eng, http = _running_engine(tmp_path)
    try:
        wait_until(lambda: http.get("/pipelines/w").json()["deployment_status"] == "Running", 30, what="Running")
        push_and_wait(http, "w", "t", ROWS)
        checkpoints = lambda: set((tmp_path / "checkpoints").glob("*/ckpt-*"))  # noqa: E731
        seen = checkpoints()
        assert query_json(http, "w", "INSERT INTO t VALUES (500, 'q', 25e-1)") == [{"count": 1}]
        for sql in ("EXPLAIN ANALYZE DELETE FROM t WHERE id = 500", "EXPLAIN ANALYZE DELETE FROM t WHERE id = 7",
                    "EXPLAIN ANALYZE DROP TABLE t", "CHECKPOINT", "FORCE CHECKPOINT"):
            assert _q(http, "w", sql).status_code == 400, sql
        wait_until(lambda: checkpoints() - seen, 30, what="a checkpoint after the INSERT")
        eng.kill()
    finally:
        eng.stop()
        http.close()
    eng, http = _running_engine(tmp_path)
    try:
        wait_until(lambda: http.get("/pipelines/w").json()["deployment_status"] == "Running", 60, what="Running")
        ids = {r["id"] for r in query_json(http, "w", "SELECT id FROM t")}
        assert ids == set(range(1, 21)) | {500}
    finally:
        eng.stop()
        http.close()


# -- abandoned and overlong queries stop -------------------------------------------------------------

def test_a_query_stops_when_its_client_leaves(engine, http, make_pipeline):
    name = make_pipeline(SQL)
    stops = engine.log.count("ad-hoc query stopped: its client went away")
    host, port = urllib.parse.urlsplit(engine.url).hostname, urllib.parse.urlsplit(engine.url).port
    s = socket.create_connection((host, port))
    path = f"/v0/pipelines/{name}/query?" + urllib.parse.urlencode({"sql": LONG})
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    s.close()
    wait_until(lambda: engine.log.count("ad-hoc query stopped: its client went away") > stops, 30,
               what="the abandoned query to stop")
    assert query_json(http, name, "SELECT 1 AS a") == [{"a": 1}]


def test_a_query_past_its_time_limit_is_stopped(tmp_path):
    with EngineProcess(tmp_path, "--query-timeout", "0.5") as eng, \
            httpx.Client(base_url=eng.url + "/v0", timeout=60) as http:
        assert http.put("/pipelines/q", json={"name": "q", "program_code": SQL}).status_code in (200, 201)
        assert http.post("/pipelines/q/start").status_code == 202
        wait_until(lambda: http.get("/pipelines/q").json()["deployment_status"] == "Running", 30, what="Running")
        d = assert_error(_q(http, "q", LONG), 400, "QueryTimeout")
        assert d["details"] == {"sql": LONG, "timeout_secs": 0.5} and "--query-timeout" in d["message"]
        d = assert_error(_q(http, "q", "INSERT INTO t SELECT 1, 'a', count(*) FROM range(1000000000000)"),
                         400, "QueryTimeout")
        assert query_json(http, "q", "SELECT count(*) AS c FROM t") == [{"c": 0}]
