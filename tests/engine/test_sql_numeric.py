"""Numbers as Feldera's SQL reference states them, on a real engine: "Aggregate operations" (the result
type is the type of the value aggregated), "Decimal Operations" (DECIMAL division is DECIMAL, division by
zero and a cast that does not fit are runtime errors, rounding ties away from zero), "Floating point types"
(a bad string is 0, out of range is inf) and "Integer Operations" (overflow is a runtime error)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from webapp.engine.sql import compile_program
from webapp.engine.testing import push_and_wait, wait_status

PROGRAM = """
CREATE TABLE t (a DECIMAL(10, 2), b DECIMAL(5, 3), i INT, s VARCHAR, d DOUBLE, w DECIMAL(8, 4), f REAL);
CREATE VIEW aggs AS SELECT SUM(a) AS sa, AVG(a) AS aa, MIN(a) AS mi, MAX(a) AS ma, SUM(i) AS si,
    AVG(a) FILTER (WHERE i > 0) AS af FROM t;
CREATE VIEW devs AS SELECT STDDEV(a) AS sd, SUM(f) AS sf, AVG(f) AS af, STDDEV_SAMP(i) AS si FROM t;
CREATE VIEW wins AS SELECT i, SUM(i) OVER (ORDER BY i) AS si, AVG(a) OVER (ORDER BY i) AS aa FROM t;
CREATE VIEW divs AS SELECT a / b AS q, a / 4 AS h, 1.5 / 0.5 AS lit FROM t WHERE i = 1;
CREATE VIEW floats AS SELECT s, CAST(s AS DOUBLE) AS f, CAST(s AS REAL) AS r, IS_INF(CAST(d AS REAL)) AS big,
    f AS r32 FROM t;
CREATE VIEW rounds AS SELECT w, CAST(w AS DECIMAL(6, 2)) AS r2, CAST('1234.1234' AS DECIMAL(6, 2)) AS lit,
    CAST('0.5' AS DECIMAL) AS half FROM t;
"""

ROWS = [{"a": "10.00", "b": "4.000", "i": 1, "s": "abc", "d": 1e300, "w": "1234.1250", "f": 0.1},
        {"a": "2.50", "b": "1.000", "i": -1, "s": "2.5", "d": 1.0, "w": "-1234.1250", "f": 2.5},
        {"a": None, "b": None, "i": None, "s": None, "d": None, "w": "1234.1234", "f": None}]


def _rows(http, name, sql):
    r = http.get(f"/pipelines/{name}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    # Read as Feldera's client reads ad-hoc results: a number with a fraction is a Decimal, every digit kept.
    return [json.loads(x, parse_float=Decimal) for x in r.text.splitlines()]


def _types(view: str) -> dict:
    v = next(v for v in compile_program(PROGRAM).views if v.name == view)
    return {c.name: c.type.duckdb() for c in v.columns}


def test_aggregates_keep_the_aggregated_type():
    # "The aggregate result type is the same as the type of the value aggregated."
    assert _types("aggs") == {"sa": "DECIMAL(10,2)", "aa": "DECIMAL(10,2)", "mi": "DECIMAL(10,2)",
                              "ma": "DECIMAL(10,2)", "si": "INTEGER", "af": "DECIMAL(10,2)"}
    assert _types("devs") == {"sd": "DECIMAL(10,2)", "sf": "REAL", "af": "REAL", "si": "INTEGER"}
    assert _types("wins") == {"i": "INTEGER", "si": "INTEGER", "aa": "DECIMAL(10,2)"}
    # Decimal division is a DECIMAL operation, not a floating point one.
    assert all(t.startswith("DECIMAL") for t in _types("divs").values()), _types("divs")


def test_numbers_give_the_references_results(http, make_pipeline):
    name = make_pipeline(PROGRAM)
    # The rewritten aggregates and divisions are still maintained incrementally.
    views = http.get(f"/pipelines/{name}").json()["program_info"]["sluice"]["views"]
    assert {v: views[v]["strategy"] for v in ("aggs", "divs", "floats")} == dict.fromkeys(
        ("aggs", "divs", "floats"), "incremental")
    push_and_wait(http, name, "t", [{"insert": r} for r in ROWS])
    [agg] = _rows(http, name, "SELECT * FROM aggs")
    assert agg == {"sa": Decimal("12.50"), "aa": Decimal("6.25"), "mi": Decimal("2.50"), "ma": Decimal("10.00"),
                   "si": 0, "af": Decimal("10.00")}
    # The sample deviation of 10.00 and 2.50 is 7.5 / sqrt(2) = 5.303..., kept at the column's scale.
    # STDDEV of an INTEGER is an INTEGER ("the aggregate result type is the same as the type of the value
    # aggregated"; converted to an integer, a value is truncated): the sample deviation of 1 and -1 is 1.
    assert _rows(http, name, "SELECT * FROM devs") == [{"sd": Decimal("5.30"), "sf": Decimal("2.6"), "af": Decimal("1.3"), "si": 1}]
    # Windowed too; NULL sorts first (Feldera's NULL collation is LOW), so its running window is itself.
    assert _rows(http, name, "SELECT * FROM wins ORDER BY i NULLS LAST") == [
        {"i": -1, "si": -1, "aa": Decimal("2.50")}, {"i": 1, "si": 0, "aa": Decimal("6.25")}, {"i": None, "si": None, "aa": None}]
    [div] = _rows(http, name, "SELECT * FROM divs")
    assert {k: Decimal(v) for k, v in div.items()} == {"q": Decimal("2.5"), "h": Decimal("2.5"), "lit": Decimal(3)}
    # "Casting a string to a floating-point value will produce the value 0 when parsing fails"; "casting a
    # value that is out of the supported range to a floating point type will produce a value that is inf".
    # A REAL is written as its own shortest text (0.1), as Feldera's JSON encoder writes a 32-bit float.
    assert _rows(http, name, "SELECT * FROM floats ORDER BY s NULLS LAST") == [
        {"s": "2.5", "f": 2.5, "r": 2.5, "big": False, "r32": 2.5},
        {"s": "abc", "f": 0.0, "r": 0.0, "big": True, "r32": Decimal("0.1")},
        {"s": None, "f": None, "r": None, "big": None, "r32": None}]
    # "Rounding is performed using to nearest, ties away from zero" (the reference's DECIMAL(8, 4) to
    # DECIMAL(6, 2) table), and CAST('1234.1234' AS DECIMAL(6, 2)) is 1234.12; egress keeps the scale.
    # "SELECT CAST('0.5' AS DECIMAL) will return 1 as the scale is 0".
    assert _rows(http, name, "SELECT w, r2, lit, half FROM rounds ORDER BY w") == [
        {"w": Decimal("-1234.1250"), "r2": Decimal("-1234.13"), "lit": Decimal("1234.12"), "half": 1},
        {"w": Decimal("1234.1234"), "r2": Decimal("1234.12"), "lit": Decimal("1234.12"), "half": 1},
        {"w": Decimal("1234.1250"), "r2": Decimal("1234.13"), "lit": Decimal("1234.12"), "half": 1}]


@pytest.mark.parametrize("program, rows", [
    # "Division or modulus by zero cause a runtime error" (decimal page).
    ("CREATE TABLE t (a DECIMAL(10, 2), b DECIMAL(10, 2));\nCREATE VIEW v AS SELECT a / b AS q FROM t;",
     [{"a": "1.00", "b": "0.00"}]),
    # An aggregate keeps its argument's type, and "this can cause overflows ... runtime exceptions".
    ("CREATE TABLE t (a INT, b INT);\nCREATE VIEW v AS SELECT SUM(a) AS s FROM t;",
     [{"a": 2147483647, "b": 0}, {"a": 1, "b": 0}]),
    # "Division or modulus by zero cause a runtime error" (integer page).
    ("CREATE TABLE t (a INT, b INT);\nCREATE VIEW v AS SELECT a / b AS q FROM t;", [{"a": 1, "b": 0}]),
], ids=["decimal-division-by-zero", "integer-sum-overflow", "integer-division-by-zero"])
def test_runtime_errors_stop_the_pipeline(http, make_pipeline, program, rows):
    name = make_pipeline(program)
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw"},
                  content="\n".join(json.dumps(x) for x in rows))
    assert r.status_code == 200, r.text
    err = wait_status(http, name, "Stopped")["deployment_error"]
    assert err and err["message"], err


@pytest.mark.parametrize("expr, row, words", [
    # The expected errors of Feldera's negative_tests (python/tests/runtime_aggtest/negative_tests):
    # neg_add_tiny_int, neg_sub_un_intt, neg_div_tiny_int and neg_mod_intt.
    ("a + b", {"a": 120, "b": 100}, "'120 + 100' causes overflow for type TINYINT"),
    ("CAST(b AS INT UNSIGNED) - CAST(a AS INT UNSIGNED)", {"a": 120, "b": 100},
     "'100 - 120' causes overflow for type INTEGER UNSIGNED"),
    ("a / b", {"a": -128, "b": -1}, "'-128 / -1' causes overflow for type TINYINT"),
    ("CAST(a AS INT) % 0", {"a": 5, "b": 0}, "attempt to calculate the remainder with a divisor of zero"),
], ids=["add", "unsigned-sub", "div", "remainder-by-zero"])
def test_integer_arithmetic_errors_say_felderas_words(http, make_pipeline, expr, row, words):
    name = make_pipeline(f"CREATE TABLE t (a TINYINT, b TINYINT);\nCREATE VIEW v AS SELECT {expr} AS x FROM t;")
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw"},
                  content=json.dumps(row))
    assert r.status_code == 200, r.text
    err = wait_status(http, name, "Stopped")["deployment_error"]
    assert words in err["message"], err


def test_only_a_remainder_by_zero_is_called_one():
    """Feldera's words for a remainder by zero, only when ``%`` is the operator that divided: a division
    whose operand holds a ``%`` keeps DuckDB's words (docs/sql.md), as any division by zero does."""
    import duckdb

    from webapp.engine.sql.runtime_errors import feldera_runtime_text

    def said(expr: str) -> str:
        with pytest.raises(duckdb.Error) as e:
            duckdb.sql(f"SELECT {expr} FROM (VALUES (5, 4, 0)) t(a, b, z)").fetchall()
        return feldera_runtime_text(str(e.value).split("\n")[0])

    assert said("a % z") == "attempt to calculate the remainder with a divisor of zero"
    assert said("(a % 3) % z") == "attempt to calculate the remainder with a divisor of zero"
    for expr in ("a // z", "(a % 3) // z", "a // (b % 2)"):
        assert "Division by zero" in said(expr), expr
