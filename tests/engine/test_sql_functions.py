"""Expressions whose DuckDB meaning differs from Feldera's, on a real engine, with the results Feldera's SQL
reference documents: "Integer Operations" (the `%` table), "Floating Point Operations" (division by zero,
Bankers Rounding, TRUNCATE, LOG(value, base)), "Aggregate Operations" (EVERY, SOME, LOGICAL_AND/OR, COUNTIF,
COUNT of several values) and "Data Types" (CHAR(n) pads and truncates)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from webapp.engine.sql import SqlError, compile_program
from webapp.engine.testing import push_and_wait

PROGRAM = """
CREATE TABLE t (i INT, j INT, d DOUBLE, s VARCHAR, b BOOLEAN);
CREATE VIEW ints AS SELECT i, j, i / j AS q, i % j AS m FROM t;
CREATE VIEW floats AS SELECT d, ROUND(d) AS r, TRUNCATE(d) AS tr FROM t;
CREATE VIEW aggs AS SELECT EVERY(b) AS e, SOME(b) AS so, LOGICAL_AND(b) AS la, LOGICAL_OR(b) AS lo,
    COUNTIF(i > 0) AS ci, COUNT(i, s) AS c2, AVG(i) AS ai, ARRAY_AGG(i) FILTER (WHERE i > 100) AS none FROM t;
CREATE VIEW ieee AS SELECT IS_INF(d / CAST(0 AS DOUBLE)) AS inf,
    IS_NAN(CAST(0 AS DOUBLE) / CAST(0 AS DOUBLE)) AS nan, LOG(CAST(8 AS DOUBLE), CAST(2 AS DOUBLE)) AS l
    FROM t WHERE i = -8;
CREATE VIEW chars AS SELECT CAST(s AS CHAR(4)) AS c4, CAST(s AS CHAR(2)) AS c2 FROM t WHERE s = 'abc';
CREATE VIEW implicit AS SELECT SQRT(CAST('16' AS VARCHAR)) AS sq, ABS(s) AS a FROM t WHERE s = 'abc';
"""

ROWS = [{"i": 8, "j": 3, "d": 2.5, "s": "abc", "b": True},
        {"i": -8, "j": 3, "d": 3.5, "s": None, "b": False},
        {"i": 8, "j": -3, "d": -2.5, "s": "x", "b": True}]


def _rows(http, name, sql):
    r = http.get(f"/pipelines/{name}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    # Read as Feldera's client reads ad-hoc results: a number with a fraction is a Decimal, every digit kept.
    return [json.loads(x, parse_float=Decimal) for x in r.text.splitlines()]


def test_feldera_expressions_give_the_references_results(http, make_pipeline):
    name = make_pipeline(PROGRAM)
    push_and_wait(http, name, "t", [{"insert": r} for r in ROWS])
    # x % y: 8 % 3 = 2, 8 % -3 = 2, -8 % 3 = -2; integers divide as integers.
    assert _rows(http, name, "SELECT i, j, q, m FROM ints ORDER BY j, i") == [
        {"i": 8, "j": -3, "q": -2, "m": 2}, {"i": -8, "j": 3, "q": -2, "m": -2}, {"i": 8, "j": 3, "q": 2, "m": 2}]
    # "Rounding follows Bankers Rounding (rounds 0.5 to the nearest even number)"; TRUNCATE is true truncation.
    assert _rows(http, name, "SELECT d, r, tr FROM floats ORDER BY d") == [
        {"d": -2.5, "r": -2.0, "tr": -2.0}, {"d": 2.5, "r": 2.0, "tr": 2.0}, {"d": 3.5, "r": 4.0, "tr": 3.0}]
    # COUNT(a, b) "counts only expressions where all fields are non-null"; "the aggregate result type is the
    # same as the type of the value aggregated" (AVG of 8, -8, 8 as an INTEGER is 2); ARRAY_AGG of no rows is
    # an empty array (issue 17, measured on Feldera).
    assert _rows(http, name, "SELECT * FROM aggs") == [
        {"e": False, "so": True, "la": False, "lo": True, "ci": 2, "c2": 2, "ai": 2, "none": []}]
    # "Division by zero returns Infinity, (or NaN in case of 0e0 / 0e0)"; LOG(value, base).
    assert _rows(http, name, "SELECT * FROM ieee") == [{"inf": True, "nan": True, "l": 3.0}]
    # CHAR(n): "Values are truncated if longer, or padded with spaces if shorter".
    assert _rows(http, name, "SELECT * FROM chars") == [{"c4": "abc ", "c2": "ab"}]
    # A string given to a numeric function is read as CAST(s AS DOUBLE) reads it: "Casting a string to a
    # floating-point value will produce the value 0 when parsing fails".
    assert _rows(http, name, "SELECT * FROM implicit") == [{"sq": 4.0, "a": 0.0}]


STRINGS = """
CREATE TABLE one (x INT);
CREATE VIEW strings AS SELECT
    CONCAT_WS(',', 'Post', 'greSQL', NULL, '1') AS cws, chr(65) AS a, chr(-1) AS bad, initcap('hi THOMAS') AS ic,
    overlay('Txxxxas' placing 'hom' from 2 for 4) AS ov, position('om' in 'Thomas') AS pos,
    SPLIT('a|b|c|', '|') AS sp, SPLIT('', '|') AS sp_empty, SPLIT_PART('a|b|c|', '|', -2) AS part,
    SUBSTRING('Thomas' for 2) AS sub, TRIM(leading 'xyz' from 'yxTomxx') AS tr, RLIKE('string', 's..i.*') AS rl,
    regexp_replace('1078910', '[^01]') AS rr, regexp_replace('Springsteen, Bruce', '([^,\\s]+),\\s+(\\S+)', '$2 $1') AS rr2,
    'h%wkeye' LIKE 'h#%%' ESCAPE '#' AS lk, char_length('josé') AS n
    FROM one;
"""


def test_string_functions_give_the_references_examples(http, make_pipeline):
    name = make_pipeline(STRINGS)
    push_and_wait(http, name, "one", [{"insert": {"x": 1}}])
    assert _rows(http, name, "SELECT * FROM strings") == [{
        "cws": "Post,greSQL,,1", "a": "A", "bad": "", "ic": "Hi Thomas", "ov": "Thomas", "pos": 3,
        "sp": ["a", "b", "c", ""], "sp_empty": [], "part": "c", "sub": "Th", "tr": "Tomxx", "rl": True,
        "rr": "1010", "rr2": "Bruce Springsteen", "lk": True, "n": 4}]


DATES = """
CREATE TABLE one (x INT);
CREATE VIEW dates AS SELECT
    DATE_TRUNC('2020-01-10', MONTH) AS dt, TIMESTAMP_TRUNC('2020-01-10 10:00:00', MONTH) AS tt,
    TIME_TRUNC('12:34:56.78', MINUTE) AS mt, EXTRACT(DOW FROM DATE '2024-07-07') AS sunday,
    DAYOFWEEK(DATE '2024-07-13') AS saturday,
    TIMESTAMPDIFF(MONTH, TIMESTAMP '2020-01-31 00:00:00', TIMESTAMP '2020-02-29 00:00:00') AS short_month,
    TIMESTAMPDIFF(MONTH, TIMESTAMP '2020-01-31 00:00:00', TIMESTAMP '2020-03-31 00:00:00') AS two_months,
    INTERVAL '20-07' YEAR TO MONTH = INTERVAL '247' MONTH AS ym,
    INTERVAL '-1 2:03:04' DAYS TO SECONDS = -(INTERVAL '1' DAY + INTERVAL '7384' SECOND) AS neg,
    FORMAT_DATE('%Y-%m', DATE '2020-10-05') AS fd, PARSE_TIMESTAMP('%Y-%m', '2020-10') AS pt,
    PARSE_TIME('%H:%M', '10:10') AS ptime,
    DATE '2020-01-10' + INTERVAL '1' DAY AS dpi, DATE '2020-01-10' - INTERVAL '25' HOUR AS dmi,
    FLOOR(TIME '14:23:44.456' TO MINUTE) AS ft, CEIL(DATE '2020-06-21' TO MONTH) AS cd,
    DATE_PART(YEAR, DATE '2020-06-21') AS dp,
    CAST(CAST('-1 2:03:04' AS VARCHAR) AS INTERVAL DAY TO SECOND) = INTERVAL '-1 2:03:04' DAY TO SECOND AS cspan
    FROM one;
"""


def test_date_functions_give_the_references_examples(http, make_pipeline):
    name = make_pipeline(DATES)
    push_and_wait(http, name, "one", [{"insert": {"x": 1}}])
    # DOW: "Sunday being 1 and Saturday being 7"; a month has elapsed "when the calendar month has increased
    # and the calendar day and time is greater than or equal to the start"; a leading sign applies to all fields;
    # date +/- interval is a DATE, the interval first converted "to a whole number days (rounding down)";
    # FLOOR/CEIL(x TO unit) of a TIME or DATE is one; "DATE_PART is a synonym for EXTRACT"; a string cast to an
    # interval type reads as that type's literal does.
    assert _rows(http, name, "SELECT * FROM dates") == [{
        "dt": "2020-01-01", "tt": "2020-01-01T00:00:00", "mt": "12:34:00", "sunday": 1, "saturday": 7,
        "short_month": 0, "two_months": 2, "ym": True, "neg": True, "fd": "2020-10",
        "pt": "2020-10-01T00:00:00", "ptime": "10:10:00", "dpi": "2020-01-11", "dmi": "2020-01-09",
        "ft": "14:23:00", "cd": "2020-07-01", "dp": 2020, "cspan": True}]


ARRAYS = """
CREATE TABLE one (x INT);
CREATE VIEW arrays AS SELECT
    ARRAY[2,3][2] AS idx, ARRAY_DISTINCT(ARRAY [1, 1, 2, 2]) AS dis, ARRAY_INSERT(ARRAY [1, 2, 3], 3, 4) AS ins,
    ARRAY_INTERSECT(ARRAY [1, 2, 3], ARRAY [3,1,4]) AS inter, ARRAY_UNION(ARRAY [1, 2, 3], ARRAY [3,1,4]) AS uni,
    ARRAYS_OVERLAP(ARRAY [1, 2, 3], ARRAY [3, 4, 5]) AS ov, ARRAY_POSITION(ARRAY [1, 3, 4, 6], 4) AS pos,
    ARRAY_REPEAT(3, 4) AS rep, ELEMENT(ARRAY[2]) AS el, SORT_ARRAY(ARRAY [4, 7, 1, null]) AS srt,
    ARRAY_TO_STRING(ARRAY['1', '2', '3', NULL, '5'], ',', '*') AS joined, ARRAY_MIN(ARRAY [9, 1, 2, 5, 8, null]) AS mn
    FROM one;
"""


def test_array_functions_give_the_references_examples(http, make_pipeline):
    name = make_pipeline(ARRAYS)
    push_and_wait(http, name, "one", [{"insert": {"x": 1}}])
    assert _rows(http, name, "SELECT * FROM arrays") == [{
        "idx": 3, "dis": [1, 2], "ins": [1, 2, 4, 3], "inter": [1, 3], "uni": [1, 2, 3, 4], "ov": True, "pos": 3,
        "rep": [3, 3, 3, 3], "el": 2, "srt": [None, 1, 4, 7], "joined": "1,2,3,*,5", "mn": 1}]


CASTS = """
CREATE TABLE c (d DOUBLE, s VARCHAR, n BIGINT);
CREATE VIEW casts AS SELECT CAST(2.9 AS INTEGER) AS pos, CAST(-2.9 AS INTEGER) AS neg, CAST(d AS INTEGER) AS di,
    CAST(s AS DATE) AS bad_date, SAFE_CAST(s AS INTEGER) AS safe, CAST(n AS TIMESTAMP) AS ts,
    CAST(CAST(n AS TIMESTAMP) AS BIGINT) AS ms FROM c;
"""


def test_casts_give_the_references_results(http, make_pipeline):
    name = make_pipeline(CASTS)
    push_and_wait(http, name, "c", [{"insert": {"d": -2.7, "s": "not a date", "n": 1000}}])
    # "CAST(2.9 AS INTEGER) returns 2, while CAST(-2.9 AS INTEGER) returns -2"; a string that is not a DATE
    # casts to NULL; SAFE_CAST gives NULL instead of an error; a number cast to TIMESTAMP is milliseconds
    # since the Unix epoch, and back.
    assert _rows(http, name, "SELECT * FROM casts") == [{
        "pos": 2, "neg": -2, "di": -2, "bad_date": None, "safe": None, "ts": "1970-01-01T00:00:01", "ms": 1000}]


@pytest.mark.parametrize("call, message", [
    ("ABS(b)", "Cannot apply 'ABS' to arguments of type 'ABS(<BOOLEAN>)'"),
    ("AVG(r)", "Cannot apply 'AVG' to arguments of type 'AVG(<ROW>)'"),
    ("EVERY(i)", "Cannot apply 'EVERY' to arguments of type 'EVERY(<INTEGER>)'. Supported form(s): 'EVERY(<BOOLEAN>)'"),
    # DuckDB would parse the string, or the time of day, when the first row arrives
    ("DATE_TRUNC(s, DAY)", "Cannot apply 'DATE_TRUNC' to arguments of type 'DATE_TRUNC(<VARCHAR>)'"),
    ("TIME_TRUNC(ts, HOUR)", "Cannot apply 'TIME_TRUNC' to arguments of type 'TIME_TRUNC(<TIMESTAMP>)'"),
    # sqlglot would keep the first argument and drop the others
    ("ARRAY_AGG(i, i)", "Invalid number of arguments to function 'ARRAY_AGG'. Was expecting 1 arguments"),
    ("ARG_MIN(i, i, i)", "Invalid number of arguments to function 'ARG_MIN'. Was expecting 2 arguments"),
    ("BOOL_AND(b, b)", "Invalid number of arguments to function 'BOOL_AND'. Was expecting 1 arguments"),
    ("COUNT(i, COUNT(i))", "Aggregate expressions cannot be nested"),
])
def test_calls_no_form_of_the_function_takes_are_refused_in_calcites_words(call, message):
    with pytest.raises(SqlError) as e:
        compile_program(f"""CREATE TABLE t (i INT, b BOOLEAN, s VARCHAR, ts TIMESTAMP, r ROW(x INT));
            CREATE VIEW v AS SELECT {call} AS x FROM t""")
    assert e.value.message == message
