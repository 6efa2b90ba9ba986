"""MAP, ROW, CREATE TYPE and VARIANT in views, on a real engine, with the results of Feldera's SQL reference:
"Operations on Maps" (map.md) and "Dynamically-typed values and JSON support" (json.md). Each expected value
is the reference's own example output."""

from __future__ import annotations

from decimal import Decimal

import pytest

from webapp.engine.sql import SqlError, compile_program
from webapp.engine.testing import push_and_wait, query_rows

PROGRAM = """
CREATE TABLE one (x INT);
CREATE VIEW maps AS SELECT
    MAP['x', 4, 'y', 3]['x'] AS hit, MAP['x', 4, 'y', 3]['z'] AS miss, CARDINALITY(MAP['x', 4, 'y', 3]) AS card,
    MAP_CONTAINS_KEY(MAP['x', 4], 'x') AS has, MAP_CONTAINS_KEY(MAP['x', 4], 'z') AS has_not
  FROM one;
CREATE VIEW variants AS SELECT
    CAST(CAST(1 AS VARIANT) AS INT) AS back, CAST(CAST(1 AS VARIANT) AS TINYINT) AS narrower,
    CAST('string' AS VARIANT) AS quoted, CAST(CAST('abc' AS VARIANT) AS VARCHAR) AS str,
    ARRAY[CAST(1 AS VARIANT), CAST('abc' AS VARIANT)] AS mixed, (CAST(1 AS VARIANT))[1] AS not_array,
    CAST(ARRAY[1,2,3] AS VARIANT)[1] AS first, CAST(ARRAY[1,2,3] AS VARIANT)['name'] AS no_field,
    CAST(Map['a',1,'b',2,'c',3] AS VARIANT)['a'] AS by_key,
    CAST(MAP['a', CAST(1 AS VARIANT), 'b', CAST('abc' AS VARIANT), 'c', CAST(ARRAY[1,2,3] AS VARIANT)]
         ['c'][1] AS INTEGER) AS nav,
    CAST(PARSE_JSON('"x"') AS INT) AS wrong_type, CAST(PARSE_JSON('{"a": 1}') AS MAP<VARCHAR, INT>) AS as_map,
    CAST(ROW(1, 'x') AS ROW(l INT, r VARCHAR)) AS as_row
  FROM one;
CREATE VIEW json AS SELECT
    PARSE_JSON('1') AS one_, PARSE_JSON('false') AS f, PARSE_JSON('[1,2,3]') AS arr, PARSE_JSON(NULL) AS nul,
    PARSE_JSON('{"a": 1, "b": 2}') AS obj, PARSE_JSON('{') AS bad,
    TO_JSON(PARSE_JSON('[1,2,3]')) AS t_arr, TO_JSON(PARSE_JSON('{ "a": 1, "b": 2 }')) AS t_obj,
    PARSE_JSON('{ "a": 1, "b": 2 }') = PARSE_JSON('{"b":2,"a":1}') AS same,
    TO_JSON(CAST(DATE '2020-01-01' AS VARIANT)) AS t_date,
    TO_JSON(CAST(TIMESTAMP '2020-01-01 10:00:00' AS VARIANT)) AS t_ts
  FROM one;
CREATE TYPE pair AS (l INT, r VARCHAR);
CREATE TABLE docs (id INT, json VARIANT, p pair);
CREATE VIEW average AS SELECT
    CAST(json['name'] AS VARCHAR) as name,
    (CAST(json['scores'][1] AS DECIMAL(8, 2)) + CAST(json['scores'][2] AS DECIMAL(8, 2))) as total,
    p.r AS r, CAST(ROW(2, 'w') AS pair) AS typed, p[2] AS r2
  FROM docs;
CREATE TABLE pairs (id INT, ps pair ARRAY);
CREATE VIEW pair_items AS SELECT id, l, r, n FROM pairs, UNNEST(ps) WITH ORDINALITY AS x (l, r, n);
"""


def test_maps_and_variants_give_the_references_results(http, make_pipeline):
    name = make_pipeline(PROGRAM)
    push_and_wait(http, name, "one", [{"insert": {"x": 1}}])
    # "MAP['x', 4, 'y', 3]['x'] => 4"; "If there is no such key, the result is NULL".
    # CARDINALITY and MAP_CONTAINS_KEY are the map page's entries of the function index.
    assert query_rows(http, name, "SELECT * FROM maps") == [{"hit": 4, "miss": None, "card": 2, "has": True,
                                                            "has_not": False}]
    # A VARIANT is written as its JSON text in ad-hoc results, as Feldera's (Arrow's) are.
    assert query_rows(http, name, "SELECT * FROM variants") == [{
        "back": 1, "narrower": 1, "quoted": '"string"', "str": "abc", "mixed": ["1", '"abc"'], "not_array": None,
        "first": "1", "no_field": None, "by_key": "1", "nav": 1,
        # "If the types are identical or there is a natural conversion ... Otherwise the CAST returns NULL."
        "wrong_type": None,
        # "A value of type VARIANT can be cast to any type" (casts page); a JSON object is a MAP (PARSE_JSON).
        "as_map": {"a": 1},
        # A ROW cast to a ROW type takes the fields by position (Calcite's conversion rules, which the
        # casts page says Feldera inherits).
        "as_row": {"l": 1, "r": "x"}}]
    assert query_rows(http, name, "SELECT * FROM json") == [{
        "one_": "1", "f": "false", "arr": "[1,2,3]", "nul": None, "obj": '{"a":1,"b":2}',
        # "returns a VARIANT object, or NULL if parsing fails"
        "bad": None, "t_arr": "[1,2,3]", "t_obj": '{"a":1,"b":2}', "same": True,
        "t_date": '"2020-01-01"', "t_ts": '"2020-01-01 10:00:00"'}]
    # The reference's example of processing JSON data with VARIANT (its "/ 2" left out: DECIMAL division is
    # the functions family's, see sql/README.md).
    push_and_wait(http, name, "docs", [{"insert": {"id": 123, "json": {"name": "John Doe", "scores": [8, 10]},
                                                   "p": {"l": 1, "r": "z"}}}])
    # A ROW's fields are also read by position, from 1 (Calcite's field numbering: p[2] is p.r).
    assert query_rows(http, name, "SELECT * FROM average") == [
        {"name": "John Doe", "total": Decimal("18.00"), "r": "z", "typed": {"l": 2, "r": "w"}, "r2": "z"}]
    # UNNEST of an array of ROWs gives each ROW's fields as columns, then the position WITH ORDINALITY adds.
    push_and_wait(http, name, "pairs", [{"insert": {"id": 7, "ps": [{"l": 1, "r": "a"}, {"l": 2, "r": "b"}]}}])
    assert sorted(query_rows(http, name, "SELECT * FROM pair_items"), key=lambda x: x["n"]) == [
        {"id": 7, "l": 1, "r": "a", "n": 1}, {"id": 7, "l": 2, "r": "b", "n": 2}]


@pytest.mark.parametrize("expr, words", [
    ("TYPEOF(PARSE_JSON('1'))", "TYPEOF of a VARIANT is not supported"),
    ("VARIANTNULL()", "VARIANTNULL() is not supported"),
])
def test_variant_forms_sluice_cannot_answer_are_refused_by_name(expr, words):
    with pytest.raises(SqlError) as e:
        compile_program(f"CREATE TABLE t (x INT);\nCREATE VIEW v AS SELECT\n  {expr} AS y FROM t;")
    assert words in e.value.message and (e.value.line, e.value.column) == (3, 3)
    assert e.value.error_type == "Not yet implemented"


def test_map_row_and_user_types_in_the_schema():
    t = compile_program("CREATE TYPE address AS (street VARCHAR, num INT NOT NULL);\n"
                        "CREATE TABLE t (m MAP<VARCHAR, INT>, r ROW(a INT, \"B\" VARCHAR), h address, v VARIANT);"
                        ).tables[0]
    got = {c.name: c.type.to_json() for c in t.columns}
    # "map keys are not nullable, while values elements are nullable"
    assert got["m"]["key"] == {"type": "VARCHAR", "nullable": False, "precision": -1}
    assert got["m"]["value"] == {"type": "INTEGER", "nullable": True}
    assert [(f["name"], f["case_sensitive"]) for f in got["r"]["fields"]] == [("a", False), ("B", True)]
    assert [(f["name"], f["columntype"]["nullable"]) for f in got["h"]["fields"]] == [("street", True),
                                                                                     ("num", False)]
    assert got["v"] == {"type": "VARIANT", "nullable": True}
