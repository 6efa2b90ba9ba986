"""Ingress update formats beyond inserts and deletes, as Feldera documents them (docs/formats/json.md):

- ``insert_delete`` ``{"update": {...}}``: a partial update by primary key: the named columns change, the
  others keep their value; an update of a key no row holds changes nothing; it needs a PRIMARY KEY;
  an event with several parts applies them in the order delete, insert, update.
- ``debezium``: ``{"payload": {"op": "c"|"r"|"u"|"d", "before": row, "after": row}}``; ``before`` is
  deleted and ``after`` inserted.
"""

from __future__ import annotations

import orjson
import pytest

from sluice_support import assert_error, completion, ndjson, push, query_json, wait_until
from webapp.engine.testing import EngineProcess

SQL = """
CREATE TABLE users (id INT NOT NULL PRIMARY KEY, name VARCHAR, age INT) WITH ('materialized' = 'true');
CREATE TABLE plain (id INT, v VARCHAR);
CREATE MATERIALIZED VIEW adults AS SELECT * FROM users WHERE age >= 18;
"""


def _done(http, name, token):
    wait_until(lambda: completion(http, name, token)["status"] == "complete", what="input processed")


def _users(http, name):
    return query_json(http, name, "SELECT id, name, age FROM users ORDER BY id")


def test_update_changes_only_the_named_columns(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    _done(http, name, push(http, name, "users", ndjson([{"insert": {"id": 1, "name": "ann", "age": 17}},
                                                        {"insert": {"id": 2, "name": "bob", "age": 40}}])))
    stream = egress(name, "adults")
    tok = push(http, name, "users", ndjson([{"update": {"id": 1, "age": 18}}, {"update": {"ID": 2, "name": None}},
                                             {"update": {"id": 9, "age": 99}}]))
    _done(http, name, tok)
    assert _users(http, name) == [{"id": 1, "name": "ann", "age": 18}, {"id": 2, "name": None, "age": 40}]
    changes = stream.wait_events(3)
    assert sorted(changes, key=lambda e: (e[0], e[1]["id"])) == [
        ("delete", {"id": 2, "name": "bob", "age": 40}),
        ("insert", {"id": 1, "name": "ann", "age": 18}),
        ("insert", {"id": 2, "name": None, "age": 40}),
    ]


def test_update_within_one_request_and_one_event(http, make_pipeline):
    name = make_pipeline(SQL)
    body = ndjson([{"insert": {"id": 5, "name": "eve", "age": 30}}, {"update": {"id": 5, "age": 31}},
                   {"delete": {"id": 6}, "insert": {"id": 6, "name": "fay", "age": 1}, "update": {"id": 6, "age": 2}}])
    _done(http, name, push(http, name, "users", body))
    assert _users(http, name) == [{"id": 5, "name": "eve", "age": 31}, {"id": 6, "name": "fay", "age": 2}]


def test_bad_updates_are_parse_errors(http, make_pipeline):
    name = make_pipeline(SQL)
    r = http.post(f"/pipelines/{name}/ingress/users", params={"format": "json"},
                  content=ndjson([{"update": {"age": 3}}, {"update": [1, "x", 3]}, {"insert": {"id": 7, "age": 20}}]))
    body = assert_error(r, 400, "ParseErrors")
    assert body["details"]["num_errors"] == 2 and "primary key" in body["details"]["errors"][0]["description"]
    _done(http, name, body["details"]["token"])
    assert _users(http, name) == [{"id": 7, "name": None, "age": 20}]
    r = http.post(f"/pipelines/{name}/ingress/plain", params={"format": "json"},
                  content=ndjson([{"update": {"id": 1, "v": "x"}}]))
    assert "PRIMARY KEY" in assert_error(r, 400, "ParseErrors")["details"]["errors"][0]["description"]


def test_debezium_update_format(http, make_pipeline):
    name = make_pipeline(SQL)
    events = [{"payload": {"op": "c", "after": {"id": 1, "name": "a", "age": 20}}},
              {"payload": {"op": "r", "after": {"id": 2, "name": "b", "age": 21}}},
              {"payload": {"op": "u", "before": {"id": 1, "name": "a", "age": 20}, "after": {"id": 1, "name": "A", "age": 22}}},
              {"payload": {"op": "d", "before": {"id": 2, "name": "b", "age": 21}}}]
    _done(http, name, push(http, name, "users", ndjson(events), update_format="debezium"))
    assert _users(http, name) == [{"id": 1, "name": "A", "age": 22}]
    r = http.post(f"/pipelines/{name}/ingress/users", params={"format": "json", "update_format": "debezium"},
                  content=ndjson([{"payload": {"op": "x"}}, {"payload": {"op": "u", "after": {"id": 3}}}, {"op": "c"}]))
    assert assert_error(r, 400, "ParseErrors")["details"]["num_errors"] == 3


def test_updates_survive_a_crash(tmp_path):
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        assert c.put("/pipelines/u", json={"program_code": SQL}).status_code == 201
        c.post("/pipelines/u/start")
        wait_until(lambda: c.get("/pipelines/u").json()["deployment_status"] == "Running", 20, what="running")
        _done(c, "u", push(c, "u", "users", ndjson([{"insert": {"id": 1, "name": "a", "age": 1}},
                                                     {"insert": {"id": 2, "name": "b", "age": 2}}])))
        _done(c, "u", push(c, "u", "users", ndjson([{"update": {"id": 1, "age": 10}}])))
        # a body with a bad record is logged as its kept operations, updates among them
        r = c.post("/pipelines/u/ingress/users", params={"format": "json"},
                   content=ndjson([{"update": {"id": 2, "name": "B"}}, {"update": {"name": "no key"}}]))
        _done(c, "u", r.json()["details"]["token"])
        before = _users(c, "u")
        eng.kill()
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        wait_until(lambda: c.get("/pipelines/u").json()["deployment_status"] == "Running", 30, what="restarted")
        assert before == [{"id": 1, "name": "a", "age": 10}, {"id": 2, "name": "B", "age": 2}]
        assert _users(c, "u") == before


def test_official_client_sends_updates(engine, make_pipeline):
    feldera = pytest.importorskip("feldera")
    name = make_pipeline(SQL)
    p = feldera.Pipeline.get(name, feldera.FelderaClient(engine.url))
    p.input_json("users", [{"insert": {"id": 1, "name": "a", "age": 5}}], update_format="insert_delete")
    p.input_json("users", [{"update": {"id": 1, "age": 6}}], update_format="insert_delete")
    assert list(p.query("SELECT name, age FROM users")) == [{"name": "a", "age": 6}]


def test_updates_on_a_compound_key_as_feldera_tests_them(http, make_pipeline, egress):
    """Feldera's python/tests/platform/test_ingress_formats.py::test_upsert, over Sluice."""
    name = make_pipeline("CREATE TABLE t1 (id1 BIGINT NOT NULL, id2 BIGINT NOT NULL, str1 VARCHAR NOT NULL, "
                         "str2 VARCHAR, int1 BIGINT NOT NULL, int2 BIGINT, PRIMARY KEY (id1, id2)) "
                         "WITH ('materialized' = 'true');")
    stream = egress(name, "t1")

    def row(id1, str1="1", str2=None, int1=1, int2=None):
        return {"id1": id1, "id2": 1, "str1": str1, "str2": str2, "int1": int1, "int2": int2}

    def send(events):
        r = http.post(f"/pipelines/{name}/ingress/t1", params={"format": "json", "array": "true"},
                      content=orjson.dumps(events))
        assert r.status_code == 200, r.text
        _done(http, name, r.json()["token"])

    send([{"insert": {"id1": i, "id2": 1, "str1": "1", "int1": 1}} for i in (1, 2, 3)])
    send([{"update": {"id1": 1, "id2": 1, "str1": "2"}}, {"update": {"id1": 2, "id2": 1, "str2": "foo"}},
          {"insert": row(3, str2="2", int1=3, int2=33)}])
    send([{"update": {"id1": 1, "id2": 1}}, {"update": {"id1": 2, "id2": 1, "str2": None}},
          {"delete": {"id1": 3, "id2": 1}}, {"delete": {"id1": 4, "id2": 1}},
          {"update": {"id1": 4, "id2": 1, "int1": 0, "str1": ""}}])
    events = stream.wait_events(12)
    steps = [sorted(events[:3], key=str), sorted(events[3:9], key=str), sorted(events[9:], key=str)]
    assert steps[1] == sorted([("delete", row(1)), ("delete", row(2)), ("delete", row(3)), ("insert", row(1, "2")),
                               ("insert", row(2, str2="foo")), ("insert", row(3, str2="2", int1=3, int2=33))], key=str)
    assert steps[2] == sorted([("delete", row(2, str2="foo")), ("delete", row(3, str2="2", int1=3, int2=33)),
                               ("insert", row(2))], key=str)
    assert query_json(http, name, "SELECT * FROM t1 ORDER BY id1") == [row(1, "2"), row(2)]
