"""The data-entry endpoints of the real dashboard (gunicorn) against the session's real engine: the error
envelope for each refusal, nothing sent upstream when any row is wrong (checked with a sentinel record sent
after), the key-existence query run by the engine, completion, force on a paused pipeline, the body limit
and a viewer's page without controls.

One case keeps an upstream faked with ``httpx.MockTransport`` (in Flask's test client): the engine's own
``ParseErrors`` mapped back to rows, which the engine cannot be made to answer through the dashboard,
because the dashboard checks every value the engine checks before sending anything."""

from __future__ import annotations

import base64
import json
import re
from contextlib import closing
from decimal import Decimal

import httpx
import pytest

from webapp.dashboard import auth, create_app
from webapp.dashboard.testing import DashboardProcess
from webapp.dashboard.upstream import Upstream
from webapp.engine.testing import push_and_wait, wait_processed

from .conftest import TEST_SETTINGS
from .support import csrf_client, sign_in

SQL = """
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, price DECIMAL(6, 2) NOT NULL, at TIMESTAMP) WITH ('materialized' = 'true');
CREATE TABLE nk (id INT NOT NULL, price DECIMAL(6, 2) NOT NULL, at TIMESTAMP) WITH ('materialized' = 'true');
-- keyed, but not materialized: LATENESS on a key column turns Feldera's materializing of keyed tables off
CREATE TABLE nm (id INT NOT NULL, price DECIMAL(6, 2) NOT NULL, at TIMESTAMP NOT NULL LATENESS INTERVAL 1 HOUR,
                 PRIMARY KEY (id, at));
"""
SENTINEL = {"id": -1, "price": "0.00", "at": None}


@pytest.fixture(scope="module")
def dash(dashboard):
    with closing(csrf_client(dashboard.url)) as c:
        yield c


@pytest.fixture
def p(make_pipeline):
    return make_pipeline(SQL)


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?")


def _as_sent(v):
    if isinstance(v, Decimal):
        return format(v, "f")
    return v.replace("T", " ") if isinstance(v, str) and _TIMESTAMP.fullmatch(v) else v


def rows(http, pipeline, table="t") -> list[dict]:
    """The table's rows with DECIMAL and TIMESTAMP in the forms rows are sent in (``"12.50"``, ``"2024-01-31
    10:00:00"``), where ad-hoc JSON writes Feldera's (a number with every digit, a ``T``)."""
    r = http.get(f"/pipelines/{pipeline}/query", params={"sql": f"SELECT * FROM {table} ORDER BY id", "format": "json"})
    assert r.status_code == 200, r.text
    return [{k: _as_sent(v) for k, v in json.loads(x, parse_float=Decimal).items()}
            for x in r.text.splitlines() if x.strip()]


def rows_after_sentinel(http, pipeline, table="t") -> list[dict]:
    """The table's rows once a sentinel pushed after everything before it is processed (a row the dashboard
    wrongly sent would be there), without the sentinel."""
    push_and_wait(http, pipeline, table, [{"insert": SENTINEL}])
    got = rows(http, pipeline, table)
    assert SENTINEL in got, got
    return [r for r in got if r != SENTINEL]


def send(dash, pipeline, table, body, kind="rows") -> httpx.Response:
    return dash.post(f"/api/pipelines/{pipeline}/tables/{table}/{kind}", json=body)


def sent(http, pipeline, r: httpx.Response) -> dict:
    """The answer of an accepted entry, once the engine has processed what it sent."""
    assert r.status_code == 202, r.text
    wait_processed(http, pipeline, r.json()["token"])
    return r.json()


def test_good_rows_are_stored_with_checked_values(dash, http, p):
    a = sent(http, p, send(dash, p, "t", {"op": "insert", "rows": [
        {"id": "1", "price": "12.5", "at": "2024-01-31T10:00"}, {"ID": 2, "price": 3, "at": None}]}))
    assert a["inserted"] == 2 and a["keys_checked"] is True
    assert rows(http, p) == [{"id": 1, "price": "12.50", "at": "2024-01-31 10:00:00"},
                             {"id": 2, "price": "3.00", "at": None}]
    # a delete on a keyed table goes by key: the other fields are not checked
    sent(http, p, send(dash, p, "t", {"op": "delete", "rows": [{"id": "1", "price": "bad"}]}))
    assert rows(http, p) == [{"id": 2, "price": "3.00", "at": None}]
    # without a key, the whole row says what to delete
    sent(http, p, send(dash, p, "nk", {"rows": [{"id": 1, "price": "1"}, {"id": 1, "price": "2"}]}))
    a = sent(http, p, send(dash, p, "nk", {"op": "delete", "rows": [{"id": 1, "price": "1"}]}))
    assert a["deletes_found"] is None  # no key: nothing to ask
    assert rows(http, p, "nk") == [{"id": 1, "price": "2.00", "at": None}]


def test_any_wrong_row_sends_nothing(dash, http, p):
    r = send(dash, p, "t", {"rows": [{"id": 1, "price": "1"}, {"id": "x", "price": "12345.6", "colour": 1}]})
    assert r.status_code == 400
    assert r.json()["error_code"] == "InvalidRows" and "nothing was sent" in r.json()["message"]
    assert sorted((e["row"], e["field"]) for e in r.json()["details"]["errors"]) == [(1, "colour"), (1, "id"),
                                                                                  (1, "price")]
    assert rows_after_sentinel(http, p) == []


def test_refusals_use_the_envelope(dash, http, p):
    cases = [
        ({"op": "upsert", "rows": [{"id": 1, "price": 1}]}, "nk", "rows", 400, "NoPrimaryKey"),
        ({"op": "merge", "rows": []}, "t", "rows", 400, "UnknownOp"),
        ({"rows": "x"}, "t", "rows", 400, "InvalidJson"),
        ({"rows": []}, "t", "rows", 400, "NoRows"),
        ({"rows": [{}]}, "nope", "rows", 404, "UnknownTable"),
        ({"text": "{\"id\": 1,"}, "t", "json", 400, "InvalidJson"),
    ]
    for body, table, kind, status, code in cases:
        r = send(dash, p, table, body, kind)
        assert (r.status_code, r.json()["error_code"]) == (status, code), (table, body, r.text)
        assert set(r.json()) == {"message", "error_code", "details"}
    assert rows_after_sentinel(http, p) == [] and rows_after_sentinel(http, p, "nk") == []


def test_json_editor_documents(dash, http, p):
    push_and_wait(http, p, "t", [{"insert": {"id": 2, "price": "9", "at": None}}])
    text = '{"id": 1, "price": 1.10}\n{"delete": {"id": 2}, "insert": {"id": 2, "price": "2"}}'
    a = sent(http, p, send(dash, p, "t", {"text": text}, "json"))
    assert a["deletes_found"] == 1
    assert rows(http, p) == [{"id": 1, "price": "1.10", "at": None}, {"id": 2, "price": "2.00", "at": None}]
    r = send(dash, p, "t", {"text": '[{"id": 3, "price": "1"}, {"id": 4, "price": "1.234"}]'}, "json")
    assert r.status_code == 400
    assert [(e["where"], e["field"]) for e in r.json()["details"]["errors"]] == [("item 2", "price")]
    assert [x["id"] for x in rows_after_sentinel(http, p)] == [1, 2]


def test_engine_parse_errors_map_back_to_rows():
    """The one faked upstream (see the module's docstring): the engine's ParseErrors for a row the dashboard
    passed, pointed back at the row."""
    fields = [{"name": "id", "case_sensitive": False, "columntype": {"type": "INTEGER", "nullable": False}},
              {"name": "at", "case_sensitive": False, "columntype": {"type": "TIMESTAMP", "nullable": True}}]
    answer = {"message": "Errors parsing input data (1 errors)", "error_code": "ParseErrors",
              "details": {"num_errors": 1, "errors": [{"event_number": 2, "field": "at",
                                                       "description": "column 'at': out of range", "suggestion": None}]}}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/v0/pipelines/p":
            table = {"name": "nk", "case_sensitive": False, "fields": fields, "materialized": False}
            return httpx.Response(200, json={"name": "p", "deployment_status": "Running", "program_status": "Success",
                                             "program_info": {"schema": {"inputs": [table], "outputs": []}}})
        if request.method == "POST" and request.url.path == "/v0/pipelines/p/ingress/nk":
            return httpx.Response(400, json=answer)
        return httpx.Response(404, json={"message": "unknown", "error_code": "NotFound", "details": None})

    app = create_app({"UPSTREAM_CLIENT": Upstream("http://fake", transport=httpx.MockTransport(handle)),
                      "DEMO_PIPELINE": ""})
    c = app.test_client()
    c.get("/pipelines/p/tables/nk")
    r = c.post("/api/pipelines/p/tables/nk/rows", json={"rows": [{"id": 1}, {"id": 2}]},
               headers={"X-CSRF-Token": c.get_cookie("sluice_csrf").value})
    assert r.status_code == 400 and r.json["error_code"] == "ParseErrors"
    assert r.json["details"]["errors"] == [{"row": 1, "where": "row 2", "field": "at", "message": "out of range"}]


def test_paused_needs_force(dash, http, make_pipeline):
    p = make_pipeline(SQL, initial="paused")
    r = send(dash, p, "t", {"rows": [{"id": 1, "price": 1}]})
    assert r.status_code == 409 and r.json()["error_code"] == "PipelinePaused" and "force" in r.json()["message"]
    a = sent(http, p, send(dash, p, "t", {"rows": [{"id": 2, "price": 2}], "force": True}))
    assert a["forced"] is True
    assert http.get(f"/pipelines/{p}", params={"selector": "status"}).json()["deployment_status"] == "Paused"
    assert rows(http, p) == [{"id": 2, "price": "2.00", "at": None}]  # processed while paused; row 1 never sent


def test_completion(dash, http, p):
    a = sent(http, p, send(dash, p, "t", {"rows": [{"id": 1, "price": 1}]}))
    r = dash.get(f"/api/pipelines/{p}/completion", params={"token": a["token"]})
    assert r.json() == {"token": a["token"], "status": "complete", "step": r.json()["step"]}
    assert isinstance(r.json()["step"], int)
    # a token of input the engine has not processed yet (the same run, 1000 batches further on)
    d = json.loads(base64.urlsafe_b64decode(a["token"] + "=" * (-len(a["token"]) % 4)))
    ahead = base64.urlsafe_b64encode(json.dumps({**d, "s": d["s"] + 1000}).encode()).decode().rstrip("=")
    assert dash.get(f"/api/pipelines/{p}/completion", params={"token": ahead}).json()["status"] == "inprogress"
    assert dash.get(f"/api/pipelines/{p}/completion").status_code == 400


def test_page_shows_controls_to_editors(dash, p):
    page = dash.get(f"/pipelines/{p}/tables/t")
    assert page.status_code == 200 and 'id="entry"' in page.text and 'data-op="upsert"' in page.text
    assert 'data-op="upsert"' not in dash.get(f"/pipelines/{p}/tables/nk").text  # no key, no upsert
    assert dash.get(f"/pipelines/{p}/tables/nope").status_code == 404


# -- a dashboard with users and a small form limit ---------------------------------------------------------

PASSWORDS = {"bob": "password-bob", "ed": "password-ed"}


@pytest.fixture(scope="module")
def signed(engine, tmp_path_factory):
    users = tmp_path_factory.mktemp("entry-auth") / "users.json"
    for name, role in (("bob", "viewer"), ("ed", "editor")):  # `sluice user add` itself is tested in test_auth
        auth.add_user(users, name, role, PASSWORDS[name])
    with DashboardProcess(engine.url, "--users-file", str(users), "--proxy-fix",
                          settings=TEST_SETTINGS | {"FORM_MAX_BYTES": 100}) as d:
        yield d


def test_viewer_page_has_no_controls_and_viewer_rows_are_refused(signed, http, p):
    with closing(sign_in(signed.url, "bob", PASSWORDS["bob"])) as v:
        page = v.get(f"/pipelines/{p}/tables/t")
        assert page.status_code == 200 and 'id="entry"' not in page.text and "force-push" not in page.text
        assert "viewer" in page.text
        r = v.post(f"/api/pipelines/{p}/tables/t/rows", json={"rows": [{"id": 1, "price": 1}]})
        assert r.status_code == 403
    assert rows_after_sentinel(http, p) == []


def test_body_limit_is_checked_before_reading(signed, http, p):
    with closing(sign_in(signed.url, "ed", PASSWORDS["ed"])) as c:
        r = c.post(f"/api/pipelines/{p}/tables/t/rows", content=b"{" + b" " * 200 + b"}",
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error_code"] == "PayloadTooLarge"
        assert r.json()["details"] == {"limit": 100}
    assert rows_after_sentinel(http, p) == []


def test_insert_refuses_keys_already_in_the_table(dash, http, p):
    """Insert on a keyed table asks the engine which keys exist and refuses (409 KeyExists) rather than
    replace rows."""
    push_and_wait(http, p, "t", [{"insert": {"id": 2, "price": "5", "at": None}}])
    r = send(dash, p, "t", {"op": "insert", "rows": [{"id": "1", "price": "1"}, {"id": "2", "price": "2"}]})
    assert r.status_code == 409, r.text
    body = r.json()
    assert set(body) == {"message", "error_code", "details"} and body["error_code"] == "KeyExists"
    assert "nothing was sent" in body["message"] and "Upsert by key" in body["message"]
    assert body["details"]["existing"] == [{"id": 2}] and body["details"]["rows"] == [1]
    assert [(e["row"], e["field"]) for e in body["details"]["errors"]] == [(1, "id")]
    assert rows_after_sentinel(http, p) == [{"id": 2, "price": "5.00", "at": None}]
    u = sent(http, p, send(dash, p, "t", {"op": "upsert", "rows": [{"id": "2", "price": "2"}]}))  # replaces on purpose
    assert (u["inserted"], u["updated"]) == (0, 1), u  # an update counted as one
    a = sent(http, p, send(dash, p, "t", {"op": "insert", "rows": [{"id": "3", "price": "2"}]}))
    assert a["keys_checked"] is True and a["note"] is None
    assert [(x["id"], x["price"]) for x in rows(http, p) if x != SENTINEL] == [(2, "2.00"), (3, "2.00")]


def test_keys_of_every_type_are_looked_up(dash, http, make_pipeline):
    """The existence query for keys of several columns and types (text with quotes, decimals, timestamps)."""
    p = make_pipeline("CREATE TABLE k (name VARCHAR NOT NULL, d DECIMAL(10, 2) NOT NULL, at TIMESTAMP NOT NULL, "
                      "n INT, PRIMARY KEY (name, d, at)) WITH ('materialized' = 'true');")
    existing = {"name": "it's \"x\"", "d": "1.50", "at": "2024-01-31 10:00:00", "n": 1}
    push_and_wait(http, p, "k", [{"insert": existing}])
    r = send(dash, p, "k", {"op": "insert", "rows": [{"name": "it's \"x\"", "d": "1.5", "at": "2024-01-31T10:00"},
                                                     {"name": "it's \"x\"", "d": "1.51", "at": "2024-01-31T10:00"}]})
    assert r.status_code == 409, r.text
    assert r.json()["details"]["rows"] == [0]


def test_json_inserts_are_checked_unless_deleted_first(dash, http, p):
    push_and_wait(http, p, "t", [{"insert": {"id": 2, "price": "5", "at": None}}])
    r = send(dash, p, "t", {"text": '{"id": 1, "price": 1}\n{"insert": {"id": 2, "price": 1}}'}, "json")
    assert r.status_code == 409 and r.json()["error_code"] == "KeyExists"
    assert [e["where"] for e in r.json()["details"]["errors"]] == ["line 2"]
    assert '{"delete": row}' in r.json()["message"]
    assert rows_after_sentinel(http, p) == [{"id": 2, "price": "5.00", "at": None}]
    a = sent(http, p, send(dash, p, "t", {"text": '{"delete": {"id": 2}, "insert": {"id": 2, "price": 1}}'}, "json"))
    assert a["deletes_found"] == 1


def test_insert_repeating_a_key_in_one_batch_is_refused(dash, http, p):
    r = send(dash, p, "t", {"rows": [{"id": 1, "price": 1}, {"id": "1", "price": 2}]})
    assert r.status_code == 400 and r.json()["error_code"] == "InvalidRows"
    [e] = r.json()["details"]["errors"]
    assert (e["row"], e["field"]) == (1, "id") and "same key as row 1" in e["message"]
    assert rows_after_sentinel(http, p) == []


def test_unmaterialized_keyed_table_is_sent_with_a_note(dash, http, p):
    push_and_wait(http, p, "nm", [{"insert": {"id": 1, "price": "5", "at": "2026-01-01 00:00:00"}}])
    a = sent(http, p, send(dash, p, "nm", {"rows": [{"id": 1, "price": 1, "at": "2026-01-01 00:00:00"}]}))
    assert a["keys_checked"] is False
    assert "not materialized" in a["note"] and "replace any with the same key" in a["note"]


def test_rows_the_tables_lateness_drops_are_counted(dash, http, p):
    """The engine drops a row more than its table's LATENESS behind: the dashboard's answers give the table's
    late count before the push and once it is processed, so that the page can say how many were dropped."""
    push_and_wait(http, p, "nm", [{"insert": {"id": 1, "price": "5", "at": "2026-01-01 12:00:00"}}])
    a = sent(http, p, send(dash, p, "nm", {"rows": [{"id": 2, "price": 1, "at": "2026-01-01 10:00:00"},  # late
                                                    {"id": 3, "price": 1, "at": "2026-01-01 11:30:00"}]}))
    assert a["inserted"] == 2 and a["late_records"] == 0
    done = dash.get(f"/api/pipelines/{p}/completion", params={"token": a["token"], "table": "nm"}).json()
    assert done["status"] == "complete" and done["late_records"] == 1
    assert dash.get(f"/api/pipelines/{p}/tables/nm/upload/tally").json()["late"] == 1
    assert [r["id"] for r in rows(http, p, "nm")] == [1, 3]
    assert sent(http, p, send(dash, p, "t", {"rows": [{"id": 1, "price": 1}]}))["late_records"] is None  # none


def test_delete_reports_how_many_keys_were_in_the_table(dash, http, p):
    push_and_wait(http, p, "t", [{"insert": {"id": 1, "price": "5", "at": None}}])
    a = sent(http, p, send(dash, p, "t", {"op": "delete", "rows": [{"id": 1}, {"id": 3}]}))
    assert a["deleted"] == 2 and a["deletes_found"] == 1
    assert rows(http, p) == []


def test_json_editor_messages_for_nothing_and_duplicate_names(dash, http, p):
    for text in ("", "  \n\t "):
        r = send(dash, p, "t", {"text": text}, "json")
        assert (r.status_code, r.json()["error_code"], r.json()["details"]) == (400, "NoRows", None)
        assert r.json()["message"] == "nothing to send: type rows or documents"
    r = send(dash, p, "t", {"text": "[]"}, "json")
    assert r.status_code == 400 and r.json()["message"] == "no rows in the JSON: nothing was sent"
    r = send(dash, p, "t", {"text": '{"id": 1, "price": 1, "id": 2}'}, "json")
    assert r.status_code == 400 and r.json()["error_code"] == "InvalidJson"
    assert 'duplicate name "id"' in r.json()["details"]["errors"][0]["message"]
    r = dash.post(f"/api/pipelines/{p}/tables/t/rows", content=b'{"rows": [{"id": 1, "price": 1, "price": 2}]}',
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and 'duplicate name "price"' in r.json()["message"]
    assert rows_after_sentinel(http, p) == []
