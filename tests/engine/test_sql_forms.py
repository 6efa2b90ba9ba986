"""Feldera's function list, aggregates, intervals, table functions and query forms, on a real engine.

Expected results come from Feldera's SQL reference: "Aggregate Operations" (ARG_MAX/ARG_MIN, with the NULL rules
of Feldera's own aggregate tests), "Date- and Time-Related Operations" (timestamp differences as intervals),
"Table Functions" (TUMBLE, HOP), "SQL Grammar" (ASOF JOIN, table properties) and the function index.
"""

from __future__ import annotations

import json

import pytest

from webapp.engine.sql import SqlError, compile_program
from webapp.engine.testing import push_and_wait


def _error(sql: str) -> SqlError:
    with pytest.raises(SqlError) as e:
        compile_program(sql)
    return e.value


@pytest.mark.parametrize("call, name", [
    ("LPAD(s, 3, 'x')", "LPAD"),                 # DuckDB's; Feldera's string page has no LPAD
    ("STRING_AGG(s, ',')", "STRING_AGG"),        # a special grammar in the parser, not a Feldera aggregate
    ("TRY_CAST(s AS INT)", "TRY_CAST"),          # Feldera spells it SAFE_CAST
    ("first_value(a) OVER (ORDER BY a)", "FIRST_VALUE"),
])
def test_functions_feldera_lacks_are_refused_by_name_at_the_call(call, name):
    err = _error(f"CREATE TABLE t (a INT, s VARCHAR);\nCREATE VIEW v AS SELECT a,\n   {call} AS x FROM t;")
    assert err.message == f"No match found for function signature {name}"
    assert (err.line, err.column) == (3, 4)


def test_the_references_functions_and_grammar_words_compile():
    compile_program("""CREATE TABLE t (a INT, b INT, s VARCHAR, ts TIMESTAMP);
        CREATE VIEW v AS SELECT COUNT(*) AS n, SUM(a) AS sa, ARRAY_AGG(a) AS aa, UPPER(s) AS u,
            CAST(a AS BIGINT) AS c, SAFE_CAST(s AS INT) AS sc, SUBSTRING(s FROM 1 FOR 2) AS ss, TRIM(s) AS tr,
            POSITION('a' IN s) AS p, EXTRACT(YEAR FROM ts) AS y, IF(a > 1, 1, 2) AS i, COALESCE(a, b) AS co,
            TIMESTAMPDIFF(DAY, ts, ts) AS d, ARG_MAX(a, b) AS am, ROUND(CAST(a AS DOUBLE)) AS r
        FROM t GROUP BY a, b, s, ts;""")


def _rows(http, name, sql):
    r = http.get(f"/pipelines/{name}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    return [json.loads(x) for x in r.text.splitlines()]


# Feldera's `int0_tbl` (python/tests/aggregate_tests/test_int_table.py), the columns its ARG_MAX/ARG_MIN tests read.
ARGS = """
CREATE TABLE int0_tbl (id INT NOT NULL, c1 TINYINT, c2 TINYINT NOT NULL, c3 INT2, c4 INT2 NOT NULL,
                       c7 BIGINT, c8 BIGINT NOT NULL);
CREATE MATERIALIZED VIEW arg_max_diff AS SELECT
    ARG_MAX(c1, c2) AS c1, ARG_MAX(c2, c1) AS c2, ARG_MAX(c3, c4) AS c3, ARG_MAX(c7, c8) AS c7 FROM int0_tbl;
CREATE MATERIALIZED VIEW arg_min_diff AS SELECT
    ARG_MIN(c1, c2) AS c1, ARG_MIN(c2, c1) AS c2, ARG_MIN(c3, c4) AS c3, ARG_MIN(c8, c7) AS c8 FROM int0_tbl;
CREATE MATERIALIZED VIEW arg_gby AS SELECT id, ARG_MAX(c1, c2) AS mx1, ARG_MAX(DISTINCT c3, c4) AS mx3,
    ARG_MIN(c1, c2) FILTER (WHERE c8 > 2) AS mn1 FROM int0_tbl GROUP BY id;
"""
INT0 = [{"id": 0, "c1": 5, "c2": 2, "c3": None, "c4": 4, "c7": None, "c8": 8},
        {"id": 1, "c1": 4, "c2": 3, "c3": 4, "c4": 6, "c7": 4, "c8": 2},
        {"id": 0, "c1": None, "c2": 2, "c3": 3, "c4": 2, "c7": 3, "c8": 3},
        {"id": 1, "c1": None, "c2": 5, "c3": 6, "c4": 2, "c7": None, "c8": 5}]


def test_arg_max_and_arg_min_follow_felderas_null_rules(http, make_pipeline):
    name = make_pipeline(ARGS)
    push_and_wait(http, name, "int0_tbl", [{"insert": r} for r in INT0[:2]])
    push_and_wait(http, name, "int0_tbl", [{"insert": r} for r in INT0[2:]])
    # The expected rows of Feldera's aggtst_int_arg_max_diff, aggtst_int_arg_min_diff and the *_gby_diff,
    # *_distinct_gby and *_where_gby tests: a NULL `compared` takes no part, a NULL `value` is returned when its
    # row wins (c1 of the row with the largest c2 is NULL), and among ties ARG_MIN takes the smallest value.
    assert _rows(http, name, "SELECT * FROM arg_max_diff") == [{"c1": None, "c2": 2, "c3": 4, "c7": None}]
    assert _rows(http, name, "SELECT * FROM arg_min_diff") == [{"c1": None, "c2": 3, "c3": 3, "c8": 3}]
    assert _rows(http, name, "SELECT * FROM arg_gby ORDER BY id") == [
        {"id": 0, "mx1": 5, "mx3": None, "mn1": None}, {"id": 1, "mx1": None, "mx3": 4, "mn1": None}]
