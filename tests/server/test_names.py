"""Case-sensitive names over the REST API: ingress, egress, the schema, ad-hoc queries and incremental views.

Feldera's rules ("Identifiers" in its SQL reference, and its REST API): an unquoted name is folded to lower case,
a quoted one is exact, so ``"V"`` and ``v`` are two views and ``"Id"`` and ``id`` two columns. In a URL, a
quoted name is sent in quotes (``%22V%22``) and matches exactly; an unquoted one matches its lower-case form.
JSON rows use the declared (canonical) column names.
"""

from __future__ import annotations

from sluice_support import assert_error, completion, push, query_json, wait_until

from webapp.engine.testing import EngineProcess, wait_status

SQL = """
CREATE TABLE "EMP" ("Id" INT, id INT);
CREATE TABLE emp (id INT);
CREATE MATERIALIZED VIEW v AS SELECT id FROM emp;
CREATE MATERIALIZED VIEW "V" AS SELECT "Id", id FROM "EMP";
CREATE MATERIALIZED VIEW "Tot" AS SELECT "Id", SUM(id) AS "Sum" FROM "EMP" GROUP BY "Id";
CREATE MATERIALIZED VIEW j AS SELECT e."Id", x.id FROM "EMP" e JOIN emp x ON e.id = x.id;
CREATE LOCAL VIEW "Loc" AS SELECT id FROM emp;
"""


def _done(http, name, token):
    wait_until(lambda: completion(http, name, token)["status"] == "complete", 15, f"token {token} to complete")


def _query(http, name, sql) -> list[dict]:
    return sorted(query_json(http, name, sql), key=lambda d: sorted(d.items()))


def test_names_differing_in_case_are_different_relations(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    schema = http.get(f"/pipelines/{name}").json()["program_info"]["schema"]
    assert [(r["name"], r["case_sensitive"]) for r in schema["inputs"]] == [("EMP", True), ("emp", False)]
    assert [(r["name"], r["case_sensitive"]) for r in schema["outputs"]] == [
        ("v", False), ("V", True), ("Tot", True), ("j", False)]
    assert [(f["name"], f["case_sensitive"]) for f in schema["inputs"][0]["fields"]] == [("Id", True), ("id", False)]

    upper, lower = egress(name, '"V"'), egress(name, "V")  # the second is v: an unquoted name is folded
    _done(http, name, push(http, name, '"EMP"', [{"insert": {"Id": 1, "id": 2}}, {"insert": {"Id": 1, "id": 3}}],
                           array="true"))
    _done(http, name, push(http, name, "EMP", [{"insert": {"id": 2}}], array="true"))  # the table emp
    assert sorted(upper.wait_events(2), key=lambda e: e[1]["id"]) == [("insert", {"Id": 1, "id": 2}),
                                                                       ("insert", {"Id": 1, "id": 3})]
    assert lower.wait_events(1) == [("insert", {"id": 2})]

    # Ad-hoc queries read the relation each name means, and answer in the declared column names.
    assert _query(http, name, 'SELECT * FROM "V"') == [{"Id": 1, "id": 2}, {"Id": 1, "id": 3}]
    assert _query(http, name, "SELECT * FROM V") == [{"id": 2}]
    assert _query(http, name, 'SELECT * FROM "Tot"') == [{"Id": 1, "Sum": 5}]
    assert _query(http, name, "SELECT * FROM j") == [{"Id": 1, "id": 2}]
    r = http.get(f"/pipelines/{name}/query", params={"sql": 'SELECT "ID" FROM "EMP"', "format": "json"})
    assert r.status_code == 400 and '"ID"' in r.json()["message"] and "^" not in r.text, r.text
    r = http.get(f"/pipelines/{name}/query", params={"sql": 'SELECT * FROM "Loc"', "format": "json"})
    assert r.status_code == 400 and "'Loc' is a LOCAL view" in r.json()["message"], r.text

    # A second change goes through the incremental plans of the aggregate and the join.
    views = http.get(f"/pipelines/{name}").json()["program_info"]["sluice"]["views"]
    assert views["Tot"]["strategy"] == "incremental" and views["j"]["strategy"] == "incremental", views
    _done(http, name, push(http, name, '"EMP"', [{"delete": {"Id": 1, "id": 2}}, {"insert": {"Id": 7, "id": 3}}],
                           array="true"))
    _done(http, name, push(http, name, '"emp"', [{"insert": {"id": 3}}], array="true"))
    assert _query(http, name, 'SELECT * FROM "Tot"') == [{"Id": 1, "Sum": 3}, {"Id": 7, "Sum": 3}]
    assert _query(http, name, "SELECT * FROM j") == [{"Id": 1, "id": 3}, {"Id": 7, "id": 3}]

    # An ad-hoc INSERT names its table as SQL does.
    r = http.get(f"/pipelines/{name}/query", params={"sql": 'INSERT INTO "EMP" ("Id", id) VALUES (9, 9)',
                                                      "format": "json"})
    assert r.status_code == 200, r.text
    wait_until(lambda: _query(http, name, 'SELECT * FROM "V" WHERE "Id" = 9') == [{"Id": 9, "id": 9}], 15,
               "the inserted row")
    assert_error(http.post(f"/pipelines/{name}/ingress/%22Emp%22", params={"format": "json"}, content=b""),
                 404, "UnknownInputStream")

    # A table's snapshot is the table the name means (it read emp's rows for "EMP").
    snap = egress(name, '"EMP"', send_snapshot="true")
    assert sorted(snap.wait_events(3), key=lambda e: e[1]["Id"]) == [
        ("insert", {"Id": 1, "id": 3}), ("insert", {"Id": 7, "id": 3}), ("insert", {"Id": 9, "id": 9})]


V1 = """CREATE TABLE "K" (id INT NOT NULL PRIMARY KEY);
CREATE TABLE k (id INT);
CREATE MATERIALIZED VIEW "KV" AS SELECT * FROM "K";"""
V2 = V1 + "\nCREATE TABLE fresh (x INT);"


def test_tables_differing_in_case_keep_their_rows_across_a_checkpoint_an_edit_and_a_crash(tmp_path):
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        assert c.put("/pipelines/pn", json={"program_code": V1}).status_code == 201
        assert c.post("/pipelines/pn/start").status_code == 202 and wait_status(c, "pn", "Running")
        _done(c, "pn", push(c, "pn", '"K"', [{"insert": {"id": 1}}, {"insert": {"id": 2}}], array="true"))
        assert c.post("/pipelines/pn/checkpoint").status_code == 200
        wait_until(lambda: c.get("/pipelines/pn/checkpoint_status").json()["success"] == 1, 20, "the checkpoint")
        _done(c, "pn", push(c, "pn", "k", [{"insert": {"id": 3}}], array="true"))  # in the log only
        c.post("/pipelines/pn/stop?force=true")
        wait_status(c, "pn", "Stopped")
        assert c.put("/pipelines/pn", json={"program_code": V2}).status_code == 200
        assert c.get("/pipelines/pn").json()["program_info"]["sluice"]["kept_tables"] == ["K", "k"]
        c.post("/pipelines/pn/start")
        wait_status(c, "pn", "Running")
        expected = [[{"id": 1}, {"id": 2}], [{"id": 3}], [{"id": 1}, {"id": 2}]]
        assert [_query(c, "pn", f"SELECT * FROM {t}") for t in ('"K"', "k", '"KV"')] == expected
        eng.kill()
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        wait_status(c, "pn", "Running")
        assert [_query(c, "pn", f"SELECT * FROM {t}") for t in ('"K"', "k", '"KV"')] == expected
