"""Feldera's data types on a real engine: declared, reported in the schema, ingested and written back.

Expected values are those of Feldera's SQL reference ("Data Types") and its schema names
(``feldera-types``: ``UTINYINT``, ``UINTEGER``, ``UUID``, ``MAP`` with ``key``/``value``, ``STRUCT`` with
``fields``), and its JSON format (a row is an object keyed by column name).
"""

from __future__ import annotations

import uuid

import pytest

from webapp.engine.sql import SqlError, compile_program
from webapp.engine.testing import push_and_wait


def _types(sql: str) -> dict:
    t = compile_program(sql).tables[0]
    return {c.name: c.type.to_json() for c in t.columns}


def test_type_aliases_are_feldera_types():
    got = _types("""CREATE TABLE t (a INT2, b INT4, c INT8, d INT64, e FLOAT4, f FLOAT32, g FLOAT8, h FLOAT64,
                    i STRING, j TEXT, k DEC(5, 2), l NUMBER(7), m NUMERIC(3, 1), n BOOL, o BYTEA, p DATETIME,
                    q SIGNED, r CHARACTER VARYING(4), s CHARACTER(2), u DOUBLE PRECISION)""")
    assert {k: v["type"] for k, v in got.items()} == {
        "a": "SMALLINT", "b": "INTEGER", "c": "BIGINT", "d": "BIGINT", "e": "REAL", "f": "REAL", "g": "DOUBLE",
        "h": "DOUBLE", "i": "VARCHAR", "j": "VARCHAR", "k": "DECIMAL", "l": "DECIMAL", "m": "DECIMAL",
        "n": "BOOLEAN", "o": "VARBINARY", "p": "TIMESTAMP", "q": "INTEGER", "r": "VARCHAR", "s": "CHAR",
        "u": "DOUBLE"}
    # "If scale is missing it is assumed to be 0."
    assert (got["l"]["precision"], got["l"]["scale"]) == (7, 0)
    assert (got["r"]["precision"], got["s"]["precision"], got["i"]["precision"]) == (4, 2, -1)


def test_unsigned_binary_uuid_and_nested_types():
    got = _types("""CREATE TABLE t (a TINYINT UNSIGNED, b SMALLINT UNSIGNED, c INTEGER UNSIGNED, d BIGINT UNSIGNED,
                    e BINARY(4), f VARBINARY, g UUID, h INT ARRAY, i VARCHAR ARRAY ARRAY)""")
    assert [got[k]["type"] for k in "abcdefg"] == ["UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "BINARY",
                                                   "VARBINARY", "UUID"]
    assert got["e"]["precision"] == 4
    assert got["h"]["component"]["type"] == "INTEGER"
    assert got["i"]["component"]["component"]["type"] == "VARCHAR"


def test_an_array_of_maps_is_a_type():
    # "T ARRAY" for any T (the reference's ARRAY type), MAP<K, V> among them.
    got = _types("CREATE TABLE t (a MAP<VARCHAR, INT> ARRAY, b MAP<VARCHAR, INT> ARRAY NOT NULL)")
    assert got["a"]["type"] == "ARRAY" and got["a"]["component"]["type"] == "MAP"
    assert got["a"]["component"]["value"]["type"] == "INTEGER"
    assert (got["a"]["nullable"], got["b"]["nullable"]) == (True, False)


@pytest.mark.parametrize("decl, words", [
    ("x INTERVAL DAY", ["INTERVAL", "not allowed"]),  # the reference: not in table schemas
    ("x DECIMAL(39, 0)", ["DECIMAL(39,0)"]),
    ("x TIME(9)", ["TIME(9)"]),  # DuckDB keeps microseconds: refused, not cut
    ("x GEOMETRY", ["GEOMETRY"]),
])
def test_types_sluice_cannot_hold_are_refused_by_name(decl, words):
    with pytest.raises(SqlError) as e:
        compile_program(f"CREATE TABLE t (\n  {decl})")
    assert all(w in e.value.message for w in words), e.value.message
    assert e.value.line == 2


def test_char_n_pads_and_cuts_varchar_n_cuts():
    # "CHAR(n): Values are truncated if longer, or padded with spaces if shorter."
    p = compile_program("""CREATE TABLE t (s VARCHAR);
        CREATE VIEW v AS SELECT CAST(s AS CHAR(4)) AS c4, CAST(s AS CHAR(2)) AS c2, CAST(s AS VARCHAR(2)) AS v2 FROM t;""")
    import duckdb
    con = duckdb.connect()
    con.execute("CREATE TABLE t (s VARCHAR)")
    con.execute("INSERT INTO t VALUES ('abc')")
    assert con.execute(p.views[0].sql).fetchall() == [("abc ", "ab", "ab")]


def test_compile_errors_in_calcites_words_at_the_users_token():
    with pytest.raises(SqlError) as e:
        compile_program("CREATE TABLE t (id INT);\nCREATE VIEW v AS\n  SELECT idd FROM t;\n")
    assert e.value.message == "Column 'idd' not found in any table"
    assert (e.value.line, e.value.column, e.value.end_column) == (3, 10, 12)
    with pytest.raises(SqlError) as e:
        compile_program("CREATE TABLE t (id INT);\nCREATE VIEW v AS SELECT nosuchfn(id) FROM t;")
    assert e.value.message.startswith("No match found for function signature NOSUCHFN")
    assert (e.value.line, e.value.column) == (2, 25)


def test_unnamed_columns_are_named_as_calcite_names_them():
    p = compile_program("CREATE TABLE t (a INT, b INT);\nCREATE VIEW v AS SELECT a, a + b, COUNT(*) AS n FROM t GROUP BY a, b;")
    assert p.views[0].column_names == ["a", "EXPR$1", "n"]


def test_a_repeated_column_name_gets_calcites_suffix():
    # Calcite makes a repeated name unique with a counter from 0 (`i1`, `i10`, `i11`); DuckDB would say `i1_1`.
    p = compile_program("""CREATE TABLE a (id INT, r ROW(i1 INT, i2 INT));\nCREATE TABLE b (id INT, r ROW(i1 INT, i2 INT));
        CREATE VIEW v AS SELECT a.id, b.id, a.r.i1, b.r.i1, b.r.i1 AS x, a.r.i1 FROM a JOIN b ON a.id = b.id;""")
    assert p.views[0].column_names == ["id", "id0", "i1", "i10", "x", "i11"]


def test_new_types_round_trip_through_ingress_and_egress(http, make_pipeline):
    name = make_pipeline("""CREATE TABLE t (id INT NOT NULL PRIMARY KEY, u INT UNSIGNED, big BIGINT UNSIGNED,
        b VARBINARY, g UUID) WITH ('materialized' = 'true');
        CREATE MATERIALIZED VIEW v AS SELECT * FROM t;""")
    g = str(uuid.UUID(int=12345))
    row = {"id": 1, "u": 4294967295, "big": 18446744073709551615, "b": [0, 1, 255], "g": g}
    push_and_wait(http, name, "t", [{"insert": row}])
    r = http.get(f"/pipelines/{name}/query", params={"sql": "SELECT * FROM v", "format": "json"})
    assert r.status_code == 200, r.text
    import json
    # Ad-hoc results write bytes as hex (as Feldera's do); ingress and change streams use an array of numbers.
    assert json.loads(r.text.splitlines()[0]) == {**row, "b": "0001ff"}
    bad = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"},
                    content=json.dumps({"insert": {"id": 2, "u": -1}}))
    assert bad.status_code == 400 and "out of range" in bad.text


def test_window_table_functions_are_refused_by_name():
    with pytest.raises(SqlError) as e:
        compile_program("CREATE TABLE t (ts TIMESTAMP, v INT);\nCREATE VIEW w AS SELECT * FROM TABLE(\n"
                        "  SESSION(TABLE t, DESCRIPTOR(ts), INTERVAL '1' HOUR));")
    assert e.value.message == "SESSION windows are not supported by Sluice yet"
    assert (e.value.line, e.value.column, e.value.error_type) == (3, 3, "Not yet implemented")


_NULLABILITY_SQL = """
CREATE TABLE t (k INT NOT NULL, v INT, s VARCHAR NOT NULL);
CREATE TABLE u (k INT NOT NULL, w INT NOT NULL);
CREATE VIEW g AS SELECT k, COUNT(*) AS c, COUNT(v) AS cv, SUM(k) AS sk, SUM(v) AS sv, MIN(s) AS ms, AVG(k) AS ak,
    SUM(k) FILTER (WHERE v > 0) AS sf FROM t GROUP BY k;
CREATE VIEW total AS SELECT COUNT(*) AS c, SUM(k) AS sk, MAX(s) AS ms FROM t;
CREATE VIEW inner_j AS SELECT t.k, u.w, t.v, t.k + u.w AS kw, UPPER(s) AS us, CAST(t.k AS BIGINT) AS ck FROM t JOIN u ON t.k = u.k;
CREATE VIEW left_j AS SELECT t.k, u.w FROM t LEFT JOIN u ON t.k = u.k;
CREATE VIEW right_j AS SELECT t.k, u.w FROM t RIGHT JOIN u ON t.k = u.k;
CREATE VIEW over_g AS SELECT k, c FROM g WHERE c > 1;
CREATE VIEW forms AS SELECT 1 AS one, NULL AS nothing, v IS NULL AS isn, COALESCE(v, k) AS co,
    CASE WHEN v > 0 THEN 1 END AS no_else, CASE WHEN v > 0 THEN 1 ELSE 0 END AS with_else,
    CAST(s AS DATE) AS d FROM t;
CREATE VIEW rolled AS SELECT k, SUM(k) AS sk FROM t GROUP BY ROLLUP(k);
CREATE VIEW both_sides AS SELECT k FROM t UNION ALL SELECT w FROM u;
"""


def test_view_columns_are_not_null_by_calcites_rules(http):
    # Feldera types views with Calcite: a NOT NULL column stays NOT NULL through projections, GROUP BY keys and
    # inner joins; COUNT is never NULL; SUM/MIN/MAX/AVG of a NOT NULL argument are NOT NULL per group (a group
    # has a row) but NULL in a global aggregate over an empty table and with FILTER; an outer join's padded side,
    # a CASE without ELSE, a string cast to DATE (NULL when badly formed) and ROLLUP's keys can be NULL.
    name = f"p{uuid.uuid4().hex[:10]}"
    assert http.put(f"/pipelines/{name}", json={"name": name, "program_code": _NULLABILITY_SQL}).status_code == 201
    try:
        p = http.get(f"/pipelines/{name}").json()
        assert p["program_status"] == "Success", p["program_error"]
        got = {v["name"]: {f["name"]: f["columntype"]["nullable"] for f in v["fields"]}
               for v in p["program_info"]["schema"]["outputs"]}
    finally:
        http.delete(f"/pipelines/{name}")
    assert got == {
        "g": {"k": False, "c": False, "cv": False, "sk": False, "sv": True, "ms": False, "ak": False, "sf": True},
        "total": {"c": False, "sk": True, "ms": True},
        "inner_j": {"k": False, "w": False, "v": True, "kw": False, "us": False, "ck": False},
        "left_j": {"k": False, "w": True},
        "right_j": {"k": True, "w": False},
        "over_g": {"k": False, "c": False},
        "forms": {"one": False, "nothing": True, "isn": False, "co": False, "no_else": True, "with_else": False,
                  "d": True},
        "rolled": {"k": True, "sk": True},
        "both_sides": {"k": False},
    }


def test_a_keyed_table_is_materialized(http):
    # Feldera's "Materialized Tables and Views": a table with a PRIMARY KEY is materialized by itself (the
    # pipeline keeps an index to enforce the key), except when a key column has a LATENESS: then only
    # 'materialized' = 'true' makes it so.
    name = f"p{uuid.uuid4().hex[:10]}"
    code = """
    CREATE TABLE keyed (id INT NOT NULL PRIMARY KEY, v INT);
    CREATE TABLE bag (id INT, v INT);
    CREATE TABLE bag_m (id INT, v INT) WITH ('materialized' = 'true');
    CREATE TABLE late_key (id INT NOT NULL, ts TIMESTAMP NOT NULL LATENESS INTERVAL 1 HOUR, PRIMARY KEY (id, ts));
    CREATE TABLE late_key_m (id INT NOT NULL, ts TIMESTAMP NOT NULL LATENESS INTERVAL 1 HOUR, PRIMARY KEY (id, ts))
        WITH ('materialized' = 'true');
    CREATE TABLE late_other (id INT NOT NULL PRIMARY KEY, ts TIMESTAMP NOT NULL LATENESS INTERVAL 1 HOUR);
    """
    assert http.put(f"/pipelines/{name}", json={"name": name, "program_code": code}).status_code == 201
    try:
        p = http.get(f"/pipelines/{name}").json()
        assert p["program_status"] == "Success", p["program_error"]
        got = {t["name"]: t["materialized"] for t in p["program_info"]["schema"]["inputs"]}
    finally:
        http.delete(f"/pipelines/{name}")
    assert got == {"keyed": True, "bag": False, "bag_m": True, "late_key": False, "late_key_m": True,
                   "late_other": True}
