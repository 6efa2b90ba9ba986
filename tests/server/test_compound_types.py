"""MAP, ROW (and CREATE TYPE) and VARIANT columns through the real engine: JSON and CSV ingress, egress, queries.

Encodings are those of Feldera's JSON format and SQL reference: a MAP is a JSON object, a ROW an object keyed
by its field names, a VARIANT any JSON value ("when ingesting data to or outputting data from columns of type
VARIANT", "the json field can contain an arbitrary JSON value, which gets parsed into VARIANT"); a CSV field of
a VARIANT column is JSON text ("it converts an input field of type string into a VARIANT").
"""

from __future__ import annotations

from decimal import Decimal

import orjson
from sluice_support import completion, push, query_json, wait_until

SQL = """
CREATE TYPE address AS (street VARCHAR, num INT NOT NULL);
CREATE TABLE t (id INT NOT NULL, m MAP<VARCHAR, INT>, r ROW(a INT, b VARCHAR), home address, v VARIANT);
CREATE VIEW picked AS SELECT id, m['a'] AS ma, m['missing'] AS mm, r.b AS rb, home.street AS street,
    CAST(v['name'] AS VARCHAR) AS name, CAST(v['scores'][2] AS DECIMAL(8, 2)) AS s2, v['scores'] AS scores,
    CAST(v['name'] AS INT) AS bad_cast
  FROM t;
CREATE VIEW whole AS SELECT * FROM t;
"""

ROW1 = {"id": 1, "m": {"a": 1, "b": 2}, "r": {"a": 5, "b": "x"}, "home": {"street": "Main", "num": 7},
        "v": {"name": "John Doe", "scores": [8, 10.5]}}


def _done(http, name, token):
    wait_until(lambda: completion(http, name, token)["status"] == "complete", 20, what=f"token {token}")


def test_json_ingress_views_and_egress(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "whole")
    picked = egress(name, "picked")
    _done(http, name, push(http, name, "t", {"insert": ROW1}, update_format="insert_delete"))
    # In ad-hoc results a DECIMAL is a number and a VARIANT its JSON text, as in Feldera's.
    assert query_json(http, name, "SELECT * FROM picked", exact=True) == [
        {"id": 1, "ma": 1, "mm": None, "rb": "x", "street": "Main", "name": "John Doe", "s2": Decimal("10.50"),
         "scores": "[8,10.5]", "bad_cast": None}]
    # Output encodes each value as input does: the row written back is the row sent.
    assert rd.wait_events(1) == [("insert", ROW1)]
    assert picked.wait_events(1)[0][1]["scores"] == [8, 10.5]
    # A delete names the same values: the row goes.
    _done(http, name, push(http, name, "t", {"delete": ROW1}, update_format="insert_delete"))
    assert query_json(http, name, "SELECT * FROM whole") == []
    assert rd.wait_events(2)[1] == ("delete", ROW1)


def test_bad_values_are_refused_per_record(http, make_pipeline):
    name = make_pipeline(SQL)
    body = b"\n".join(orjson.dumps(e) for e in [
        {"insert": {"id": 2, "m": {"a": "x"}}},
        {"insert": {"id": 3, "r": {"a": 1, "zz": 2}}},
        {"insert": {"id": 4, "home": {"street": "s"}}},
        {"insert": {"id": 5, "m": [1, 2]}},
        {"insert": {"id": 6, "v": None, "m": {}}}])
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "insert_delete"},
                  content=body)
    assert r.status_code == 400, r.text
    errors = {e["event_number"]: e["description"] for e in r.json()["details"]["errors"]}
    assert set(errors) == {1, 2, 3, 4}
    assert "column 'm'" in errors[1] and "column 'r'" in errors[2] and "'zz'" in errors[2]
    assert "NOT NULL field 'num'" in errors[3] and "JSON object" in errors[4]
    _done(http, name, r.json()["details"]["token"])
    assert query_json(http, name, "SELECT id, m, v FROM t") == [{"id": 6, "m": {}, "v": None}]


def test_csv_ingress(http, make_pipeline):
    name = make_pipeline(SQL)
    body = b'7,"{""a"": 3}","{""a"": 1, ""b"": ""y""}",,"[1, {""k"": null}]"\n'
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "csv"}, content=body)
    assert r.status_code == 200, r.text
    _done(http, name, r.json()["token"])
    assert query_json(http, name, "SELECT id, m, r, home, v FROM t") == [
        {"id": 7, "m": {"a": 3}, "r": {"a": 1, "b": "y"}, "home": None, "v": '[1,{"k":null}]'}]
