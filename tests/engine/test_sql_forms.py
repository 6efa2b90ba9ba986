"""Feldera's function list, aggregates, intervals, table functions and query forms, on a real engine.

Expected results come from Feldera's SQL reference: "Aggregate Operations" (ARG_MAX/ARG_MIN, with the NULL rules
of Feldera's own aggregate tests), "Date- and Time-Related Operations" (timestamp differences as intervals),
"Table Functions" (TUMBLE, HOP), "SQL Grammar" (ASOF JOIN, table properties) and the function index.
"""

from __future__ import annotations

import json

import pytest

from webapp.engine.sql import SqlError, compile_program


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
