"""DuckDB optimizers that give wrong results are off in the engine's DuckDB (``duckconfig.DUCKDB_CONFIG``).

DuckDB 2.0's ``common_subplan`` answered ``SELECT l_id ... UNION ALL SELECT r_id ... FROM v0`` with l_id
in both branches when v0 joins a table to itself: the ad-hoc query, and the state a view starts from,
were wrong (the property test in tests/engine/test_incremental.py found it: its recomputation
uses the same configuration). The expected rows are the query's meaning, worked out by hand: t1 holds (id 2, x 1) and
(id 1, x 0); the self-join on a.id = b.x pairs a = (1, 0) with b = (2, 1) only, so v0 is the one row
(l_id 1, r_id 2) and the union is 1 and 2."""

from __future__ import annotations

import duckdb

from sluice_support import push, query_json
from webapp.engine.duckconfig import DUCKDB_CONFIG
from webapp.engine.testing import wait_processed

SQL = """CREATE TABLE t1 (id INT, x INT, s VARCHAR);
CREATE VIEW v0 AS SELECT a.id AS l_id, a.s AS l_s, b.id AS r_id FROM t1 a JOIN t1 b ON a.id = b.x;
CREATE MATERIALIZED VIEW v1 AS SELECT l_id AS n, l_s AS t FROM v0 UNION ALL SELECT r_id, l_s FROM v0;"""
ROWS = [{"id": 2, "x": 1, "s": None}, {"id": 1, "x": 0, "s": None}]
UNION = [{"n": 1, "t": None}, {"n": 2, "t": None}]


def test_the_engines_duckdb_answers_the_union_of_a_self_join_rightly():
    con = duckdb.connect(":memory:", config=dict(DUCKDB_CONFIG))
    for stmt in SQL.replace("MATERIALIZED ", "").split(";")[:-1]:
        con.execute(stmt)
    con.execute("INSERT INTO t1 VALUES (2, 1, NULL), (1, 0, NULL)")
    assert sorted(con.execute("SELECT * FROM v1").fetchall()) == [(1, None), (2, None)]


def test_ad_hoc_query_over_http(http, make_pipeline):
    name = make_pipeline(SQL)
    wait_processed(http, name, push(http, name, "t1", ROWS, update_format="raw", array="true"))
    assert query_json(http, name, "SELECT * FROM v1 ORDER BY n") == UNION
