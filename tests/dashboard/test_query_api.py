"""The query, export and program endpoints in-process (Flask's test client) against the session's real engine,
with a users file: who may read, who may INSERT (server-side), what the engine refuses, exports, program saves."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import pyarrow.parquet as pq
import pytest

from webapp.dashboard import create_app
from webapp.dashboard.auth import add_user
from webapp.engine.testing import wait_status, wait_until


SQL = ("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR, n INT) WITH ('materialized' = 'true');\n"
       "CREATE MATERIALIZED VIEW v AS SELECT id, name, n FROM t WHERE n >= 0;\n")
PASSWORDS = {"vera": "viewer-pass-1", "ed": "editor-pass-2"}


@pytest.fixture(scope="module")
def app(engine, tmp_path_factory):
    users = tmp_path_factory.mktemp("query-auth") / "users.json"
    add_user(users, "vera", "viewer", PASSWORDS["vera"])
    add_user(users, "ed", "editor", PASSWORDS["ed"])
    app = create_app({"UPSTREAM": engine.url, "USERS_FILE": str(users), "SECRET_KEY": "k" * 40,
                      "DEMO_PIPELINE": "", "LOGIN_ATTEMPTS": 100})
    yield app
    app.extensions["sluice_upstream"].close()


def sign_in(app, name):
    c = app.test_client()
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = c.post("/login", data={"username": name, "password": PASSWORDS[name], "csrf_token": token, "next": "/"})
    assert r.status_code == 302, r.get_data(as_text=True)
    c.csrf = token
    return c


@pytest.fixture(scope="module")
def viewer(app):
    return sign_in(app, "vera")


@pytest.fixture(scope="module")
def editor(app):
    return sign_in(app, "ed")


def engine_rows(http, p, sql):
    r = http.get(f"/pipelines/{p}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    return [json.loads(x) for x in r.text.splitlines() if x.strip()]


def insert(http, p, sql, table, count):
    """INSERT by the engine's query endpoint, then wait until ``table`` has ``count`` rows (the answer may come
    after the engine's --ingress-wait, before the rows are processed)."""
    assert http.get(f"/pipelines/{p}/query", params={"sql": sql}).status_code == 200
    wait_rows(http, p, table, count)


def wait_rows(http, p, table, count):
    wait_until(lambda: engine_rows(http, p, f"SELECT count(*) AS c FROM {table}") == [{"c": count}], 15,
               f"{table} to have {count} rows", interval=0.05)


def q(client, p, sql, **params):
    return client.get(f"/api/pipelines/{p}/query", query_string={"sql": sql, **params})


def test_viewer_reads_but_cannot_insert(viewer, http, make_pipeline):
    p = make_pipeline(SQL)
    insert(http, p, "INSERT INTO t VALUES (1, 'a', 1)", "t", 1)
    r = q(viewer, p, "SELECT * FROM t")
    assert r.status_code == 200 and [json.loads(x) for x in r.data.splitlines()] == [{"id": 1, "name": "a", "n": 1}]
    for sql in ("INSERT INTO t VALUES (2, 'b', 2)", "WITH x AS (SELECT 1) INSERT INTO t VALUES (2, 'b', 2)",
                "/* hidden */ insert into t values (2, 'b', 2)"):
        r = q(viewer, p, sql)
        assert r.status_code == 403, r.data
        assert r.json["error_code"] == "Forbidden" and "viewer" in r.json["message"]
        # the message names every beginning a read may have (a newcomer's FROM and DESCRIBE ran, unnamed)
        assert "FROM" in r.json["message"].split(";")[0] and "DESCRIBE" in r.json["message"], r.json["message"]
    assert q(viewer, p, "FROM t").status_code == 200
    r = viewer.post(f"/api/pipelines/{p}/query", json={"sql": "INSERT INTO t VALUES (2, 'b', 2)"},
                    headers={"X-CSRF-Token": viewer.csrf})
    assert r.status_code == 403 and r.json["error_code"] == "Forbidden"
    assert engine_rows(http, p, "SELECT count(*) AS c FROM t") == [{"c": 1}]


def test_editor_inserts_by_post_with_csrf_only(editor, http, make_pipeline):
    p = make_pipeline(SQL)
    sql = "INSERT INTO t VALUES (7, 'x', 3)"
    r = q(editor, p, sql)
    assert r.status_code == 400 and r.json["error_code"] == "NotReadOnly" and "POST" in r.json["message"]
    assert editor.post(f"/api/pipelines/{p}/query", json={"sql": sql}).status_code == 403  # no CSRF token
    assert engine_rows(http, p, "SELECT count(*) AS c FROM t") == [{"c": 0}]
    r = editor.post(f"/api/pipelines/{p}/query", json={"sql": sql}, headers={"X-CSRF-Token": editor.csrf})
    assert r.status_code == 200, r.data
    assert r.json == {"rows": [{"count": 1}], "truncated": False}
    wait_rows(http, p, "t", 1)
    assert engine_rows(http, p, "SELECT * FROM t") == [{"id": 7, "name": "x", "n": 3}]


@pytest.mark.parametrize("sql, needle", [
    # refused by name before DuckDB's own file and network lock-down (a Permission Error) is reached
    ("SELECT * FROM read_csv('/etc/passwd')", "table function read_csv() cannot be used"),
    ("SELECT * FROM read_text('/etc/hostname')", "table function read_text() cannot be used"),
    ("SELECT * FROM read_csv('http://127.0.0.1:1/x.csv')", "table function read_csv() cannot be used"),
    ("SELECT * FROM __sluice_meta", "internal to the engine"),
])
def test_files_network_and_internals_are_refused_clearly(viewer, editor, make_pipeline, sql, needle):
    p = make_pipeline(SQL)
    r = q(viewer, p, sql)
    assert r.status_code == 400, r.data
    assert r.json["error_code"] == "AdHocQueryError" and needle in r.json["message"]
    r = editor.post(f"/api/pipelines/{p}/query", json={"sql": f"INSERT INTO t {sql.replace('*', '1, 2, 3')}"},
                    headers={"X-CSRF-Token": editor.csrf})
    assert r.status_code == 400 and r.json["error_code"] == "AdHocQueryError", r.data


def test_query_error_carries_line_and_column(viewer, make_pipeline):
    p = make_pipeline(SQL)
    r = q(viewer, p, "SELECT id,\n  nope\nFROM t")
    assert r.status_code == 400
    assert (r.json["details"]["line"], r.json["details"]["column"]) == (2, 3)
    r = q(viewer, p, "SELECT * FRM t")
    assert "syntax error" in r.json["message"] and r.json["details"]["line"] == 1


def test_exports_match_the_engine(viewer, http, make_pipeline):
    p = make_pipeline(SQL)
    rows = [{"id": i, "name": name, "n": n} for i, (name, n) in
            enumerate([("=1+1", -1), ("-1", 5), ("+x", 0), ("@a", None), (None, 7), ("plain, \"q\"", 2)])]
    body = "\n".join(json.dumps({"insert": r}) for r in rows)
    r = http.post(f"/pipelines/{p}/ingress/t", params={"format": "json"}, content=body)
    assert r.status_code == 200, r.text
    wait_rows(http, p, "t", len(rows))
    sql = "SELECT * FROM t ORDER BY id"
    expected = engine_rows(http, p, sql)
    assert expected == rows

    r = q(viewer, p, sql, format="csv", download="1")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert re.match(rf'attachment; filename="{p}-query-\d{{8}}-\d{{6}}\.csv"', r.headers["Content-Disposition"])
    got = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert got[0] == ["id", "name", "n"]
    escape = {"=1+1": "'=1+1", "-1": "'-1", "+x": "'+x", "@a": "'@a"}
    assert got[1:] == [[str(x["id"]), "" if x["name"] is None else escape.get(x["name"], x["name"]),
                        "" if x["n"] is None else str(x["n"])] for x in expected]
    assert got[1][2] == "-1"  # an INT -1 stays a number

    r = q(viewer, p, sql, format="json", download="1", what="t")
    assert r.headers["Content-Disposition"].endswith('.ndjson"') and f"{p}-t-" in r.headers["Content-Disposition"]
    assert [json.loads(x) for x in r.data.splitlines()] == expected  # untouched: no escaping in JSON

    r = q(viewer, p, sql, format="parquet", download="1")
    assert r.status_code == 200 and r.data[:4] == b"PAR1"
    assert pq.read_table(io.BytesIO(r.data)).to_pylist() == expected

    assert q(viewer, p, sql, format="xlsx").status_code == 400


def test_program_save_reports_errors_and_kept_tables(viewer, editor, http):
    name = f"ed{uuid.uuid4().hex[:8]}"
    put = lambda c, body: c.put(f"/api/pipelines/{name}/program", json=body,  # noqa: E731
                                headers={"X-CSRF-Token": c.csrf})
    try:
        assert put(viewer, {"program_code": SQL, "create": True}).status_code == 403
        bad = "CREATE TABLE t (id INT);\nCREATE VIEW v AS\n  SELECT idd FROM t;\n"
        r = put(editor, {"program_code": bad, "create": True, "description": "d"})
        assert r.status_code == 200, r.data
        assert r.json["program_status"] == "SqlError" and r.json["created"] is True
        (m,) = r.json["errors"]
        assert (m["start_line_number"], m["start_column"]) == (3, 10) and "idd" in m["message"]
        assert put(editor, {"program_code": SQL, "create": True}).status_code == 409  # exists: no clobbering
        two = SQL + "CREATE TABLE u (k INT);\n"
        r = put(editor, {"program_code": two})
        assert r.json["program_status"] == "Success" and r.json["errors"] == []
        # base_version: the version the editor's text was based on; another client's save since is not replaced
        stored = editor.get(f"/api/pipelines/{name}/program").json
        assert stored["program_code"] == two and stored["program_version"] == r.json["program_version"]
        r = put(editor, {"program_code": SQL, "base_version": stored["program_version"] - 1})
        assert r.status_code == 409 and r.json["error_code"] == "ProgramChanged", r.json
        assert editor.get(f"/api/pipelines/{name}/program").json["program_code"] == two
        assert put(editor, {"program_code": two, "base_version": "1"}).status_code == 400
        assert put(editor, {"program_code": two, "base_version": stored["program_version"]}).status_code == 200
        assert http.post(f"/pipelines/{name}/start").status_code == 202
        wait_status(http, name, "Running")
        insert(http, name, "INSERT INTO t VALUES (1, 'a', 1)", "t", 1)
        insert(http, name, "INSERT INTO u VALUES (5)", "u", 1)
        r = put(editor, {"program_code": SQL + "CREATE TABLE u (k VARCHAR);\n"})
        assert r.status_code == 409 and "stop it first" in r.json["message"]
        http.post(f"/pipelines/{name}/stop", params={"force": "true"})
        wait_status(http, name, "Stopped")
        r = put(editor, {"program_code": SQL + "CREATE TABLE u (k VARCHAR);\n"})
        assert r.json["program_status"] == "Success" and r.json["had_data"] is True
        assert r.json["kept_tables"] == ["t"] and sorted(r.json["tables"]) == ["t", "u"]
        assert sorted(r.json["tables_before"]) == ["t", "u"]  # u was there: it lost its row (the page warns)
        page = editor.get(f"/pipelines/{name}/program")
        assert page.status_code == 200 and b'id="save"' in page.data
        assert b'id="save"' not in viewer.get(f"/pipelines/{name}/program").data
    finally:
        http.post(f"/pipelines/{name}/stop", params={"force": "true"})
        wait_status(http, name, "Stopped")
        http.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
        http.delete(f"/pipelines/{name}")


def test_the_editor_pages_allow_styles_by_a_fresh_nonce_and_scripts_never(viewer, make_pipeline):
    p = make_pipeline(SQL)
    nonces = []
    for path in (f"/pipelines/{p}/query", f"/pipelines/{p}/query", f"/pipelines/{p}/program"):
        r = viewer.get(path)
        csp = r.headers["Content-Security-Policy"]
        nonce = re.search(r'<meta name="style-nonce" content="([^"]+)">', r.get_data(as_text=True)).group(1)
        assert f"style-src 'self' 'nonce-{nonce}';" in csp
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        nonces.append(nonce)
    assert len(set(nonces)) == 3  # one per answer, never reused
    assert "nonce-" not in viewer.get("/").headers["Content-Security-Policy"]  # pages without the editor: none
