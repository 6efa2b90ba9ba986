"""The data-entry endpoints in Flask's test client, against an upstream faked with ``httpx.MockTransport``:
the error envelope for each refusal, nothing sent upstream when any row is wrong, the engine's
``ParseErrors`` mapped back to rows, the body limit, completion, and a viewer's page without controls."""

from __future__ import annotations

import json

import httpx
import pytest

from webapp.dashboard import create_app
from webapp.dashboard.auth import add_user
from webapp.dashboard.upstream import Upstream

FIELDS = [
    {"name": "id", "case_sensitive": False, "columntype": {"type": "INTEGER", "nullable": False}},
    {"name": "price", "case_sensitive": False, "columntype": {"type": "DECIMAL", "precision": 6, "scale": 2,
                                                              "nullable": False}},
    {"name": "at", "case_sensitive": False, "columntype": {"type": "TIMESTAMP", "nullable": True}},
]


class FakeUpstream:
    """Answers describe, ingress and completion_status for pipeline ``p`` with tables ``t`` (keyed) and ``nk``."""

    def __init__(self):
        self.status = "Running"
        self.pushed: list[dict] = []
        self.ingress_answer: tuple[int, dict] | None = None
        self.complete = True
        self.existing: list[dict] = []  # what the existence query answers (the fake cannot run SQL)
        self.queries: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, dict(request.url.params)
        if request.method == "GET" and path == "/v0/pipelines/p":
            tables = [{"name": "t", "case_sensitive": False, "fields": FIELDS, "materialized": True,
                       "primary_key": ["id"]},
                      {"name": "nk", "case_sensitive": False, "fields": FIELDS, "materialized": False},
                      {"name": "nm", "case_sensitive": False, "fields": FIELDS, "materialized": False,
                       "primary_key": ["id"]}]
            return httpx.Response(200, json={"name": "p", "deployment_status": self.status, "program_status": "Success",
                                             "program_info": {"schema": {"inputs": tables, "outputs": []}}})
        if request.method == "POST" and path.startswith("/v0/pipelines/p/ingress/"):
            self.pushed.append({"table": path.rsplit("/", 1)[1], "params": params,
                                "body": json.loads(request.content)})
            if self.ingress_answer:
                return httpx.Response(self.ingress_answer[0], json=self.ingress_answer[1])
            return httpx.Response(200, json={"token": "tok-1"})
        if request.method == "GET" and path == "/v0/pipelines/p/query":
            self.queries.append(params["sql"])
            return httpx.Response(200, content="".join(json.dumps(r) + "\n" for r in self.existing).encode())
        if path == "/v0/pipelines/p/completion_status":
            return httpx.Response(200, json={"status": "complete" if self.complete else "inprogress", "step": 4})
        return httpx.Response(404, json={"message": "unknown", "error_code": "UnknownPipelineName", "details": None})


@pytest.fixture
def fake():
    return FakeUpstream()


def _client(fake, **config):
    upstream = Upstream("http://fake", transport=httpx.MockTransport(fake.handle))
    app = create_app({"UPSTREAM_CLIENT": upstream, "DEMO_PIPELINE": "", **config})
    c = app.test_client()
    c.post_json = lambda url, body, **kw: c.post(url, json=body, headers={"X-CSRF-Token": _csrf(c)}, **kw)
    return c


def _csrf(c) -> str:
    for page in ("/pipelines/p/tables/t", "/login"):  # /login: the one open page when sign-in is on
        if c.get_cookie("sluice_csrf") is None:
            c.get(page)
    return c.get_cookie("sluice_csrf").value


def test_good_rows_are_sent_as_insert_delete_events_with_checked_values(fake):
    c = _client(fake)
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"op": "insert", "rows": [
        {"id": "1", "price": "12.5", "at": "2024-01-31T10:00"}, {"ID": 2, "price": 3, "at": None}]})
    assert r.status_code == 202, r.json
    assert r.json["token"] == "tok-1" and r.json["inserted"] == 2
    [sent] = fake.pushed
    assert sent["params"]["update_format"] == "insert_delete" and sent["params"]["array"] == "true"
    assert sent["body"] == [{"insert": {"id": 1, "price": "12.5", "at": "2024-01-31 10:00"}},
                            {"insert": {"id": 2, "price": "3", "at": None}}]
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"op": "delete", "rows": [{"id": "1", "price": "bad"}]})
    assert r.status_code == 202 and fake.pushed[-1]["body"] == [{"delete": {"id": 1}}]  # by key
    r = c.post_json("/api/pipelines/p/tables/nk/rows", {"op": "delete", "rows": [{"id": 1, "price": "1"}]})
    assert fake.pushed[-1]["body"] == [{"delete": {"id": 1, "price": "1", "at": None}}]  # no key: whole row


def test_any_wrong_row_sends_nothing(fake):
    c = _client(fake)
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"rows": [{"id": 1, "price": "1"},
                                                                {"id": "x", "price": "12345.6", "colour": 1}]})
    assert r.status_code == 400
    assert r.json["error_code"] == "InvalidRows" and "nothing was sent" in r.json["message"]
    assert sorted((e["row"], e["field"]) for e in r.json["details"]["errors"]) == [(1, "colour"), (1, "id"), (1, "price")]
    assert fake.pushed == []


def test_refusals_use_the_envelope(fake):
    c = _client(fake)
    cases = [
        ({"op": "upsert", "rows": [{"id": 1, "price": 1}]}, "/api/pipelines/p/tables/nk/rows", 400, "NoPrimaryKey"),
        ({"op": "merge", "rows": []}, "/api/pipelines/p/tables/t/rows", 400, "UnknownOp"),
        ({"rows": "x"}, "/api/pipelines/p/tables/t/rows", 400, "InvalidJson"),
        ({"rows": []}, "/api/pipelines/p/tables/t/rows", 400, "NoRows"),
        ({"rows": [{}]}, "/api/pipelines/p/tables/nope/rows", 404, "UnknownTable"),
        ({"text": "{\"id\": 1,"}, "/api/pipelines/p/tables/t/json", 400, "InvalidJson"),
    ]
    for body, url, status, code in cases:
        r = c.post_json(url, body)
        assert (r.status_code, r.json["error_code"]) == (status, code), (url, body, r.json)
        assert set(r.json) == {"message", "error_code", "details"}
    assert fake.pushed == []


def test_json_editor_documents(fake):
    c = _client(fake)
    text = '{"id": 1, "price": 1.10}\n{"delete": {"id": 2}, "insert": {"id": 2, "price": "2"}}'
    r = c.post_json("/api/pipelines/p/tables/t/json", {"text": text})
    assert r.status_code == 202, r.json
    assert fake.pushed[-1]["body"] == [{"insert": {"id": 1, "price": "1.1", "at": None}}, {"delete": {"id": 2}},
                                       {"insert": {"id": 2, "price": "2", "at": None}}]
    r = c.post_json("/api/pipelines/p/tables/t/json", {"text": '[{"id": 3, "price": "1"}, {"id": 4, "price": "1.234"}]'})
    assert r.status_code == 400
    assert [(e["where"], e["field"]) for e in r.json["details"]["errors"]] == [("item 2", "price")]


def test_engine_parse_errors_map_back_to_rows(fake):
    fake.ingress_answer = (400, {"message": "Errors parsing input data (1 errors)", "error_code": "ParseErrors",
                                 "details": {"num_errors": 1, "errors": [{"event_number": 2, "field": "at",
                                             "description": "column 'at': out of range", "suggestion": None}]}})
    c = _client(fake)
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"rows": [{"id": 1, "price": 1}, {"id": 2, "price": 2}]})
    assert r.status_code == 400 and r.json["error_code"] == "ParseErrors"
    assert r.json["details"]["errors"] == [{"row": 1, "where": "row 2", "field": "at", "message": "out of range"}]


def test_paused_needs_force(fake):
    fake.status = "Paused"
    c = _client(fake)
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"rows": [{"id": 1, "price": 1}]})
    assert r.status_code == 409 and r.json["error_code"] == "PipelinePaused" and "force" in r.json["message"]
    assert fake.pushed == []
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"rows": [{"id": 1, "price": 1}], "force": True})
    assert r.status_code == 202 and r.json["forced"] is True
    assert fake.pushed[-1]["params"]["force"] == "true"


def test_body_limit_is_checked_before_reading(fake):
    c = _client(fake, FORM_MAX_BYTES=100)
    r = c.post("/api/pipelines/p/tables/t/rows", data=b"{" + b" " * 200 + b"}",
               headers={"X-CSRF-Token": _csrf(c), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json["error_code"] == "PayloadTooLarge"
    assert r.json["details"] == {"limit": 100}
    assert fake.pushed == []


def test_completion(fake):
    c = _client(fake)
    assert c.get("/api/pipelines/p/completion?token=tok-1").json == {"token": "tok-1", "status": "complete", "step": 4}
    fake.complete = False
    assert c.get("/api/pipelines/p/completion?token=tok-1").json["status"] == "inprogress"
    assert c.get("/api/pipelines/p/completion").status_code == 400


def test_page_shows_controls_to_editors_only(fake, tmp_path):
    c = _client(fake)
    page = c.get("/pipelines/p/tables/t")
    assert page.status_code == 200 and b'id="entry"' in page.data and b'data-op="upsert"' in page.data
    assert b'data-op="upsert"' not in c.get("/pipelines/p/tables/nk").data  # no key, no upsert
    assert c.get("/pipelines/p/tables/nope").status_code == 404
    users = tmp_path / "users.json"
    add_user(users, "bob", "viewer", "password-bob")
    v = _client(fake, USERS_FILE=str(users), SECRET_KEY="k" * 32)
    v.post("/login", data={"username": "bob", "password": "password-bob", "csrf_token": _csrf(v)})
    page = v.get("/pipelines/p/tables/t")
    assert page.status_code == 200 and b'id="entry"' not in page.data and b"force-push" not in page.data
    assert b"viewer" in page.data
    r = v.post_json("/api/pipelines/p/tables/t/rows", {"rows": [{"id": 1, "price": 1}]})
    assert r.status_code == 403 and fake.pushed == []


def test_insert_refuses_keys_already_in_the_table(fake):
    """Insert on a keyed table asks which keys exist and refuses (409 KeyExists) rather than replace rows."""
    fake.existing = [{"id": 2}]
    c = _client(fake)
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"op": "insert", "rows": [{"id": "1", "price": "1"},
                                                                             {"id": "2", "price": "2"}]})
    assert r.status_code == 409, r.json
    assert set(r.json) == {"message", "error_code", "details"} and r.json["error_code"] == "KeyExists"
    assert "nothing was sent" in r.json["message"] and "Upsert by key" in r.json["message"]
    assert r.json["details"]["existing"] == [{"id": 2}] and r.json["details"]["rows"] == [1]
    assert [(e["row"], e["field"]) for e in r.json["details"]["errors"]] == [(1, "id")]
    assert fake.queries == ['SELECT "id" FROM "t" WHERE ("id") IN ((1), (2))']
    assert fake.pushed == []
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"op": "upsert", "rows": [{"id": "2", "price": "2"}]})
    # upsert replaces on purpose: asked only to count the update as one
    assert r.status_code == 202 and len(fake.queries) == 2, r.json
    assert (r.json["inserted"], r.json["updated"]) == (0, 1)
    fake.existing = []
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"op": "insert", "rows": [{"id": "3", "price": "2"}]})
    assert r.status_code == 202 and r.json["keys_checked"] is True and r.json["note"] is None


def test_json_inserts_are_checked_unless_deleted_first(fake):
    fake.existing = [{"id": 2}]
    c = _client(fake)
    r = c.post_json("/api/pipelines/p/tables/t/json", {"text": '{"id": 1, "price": 1}\n{"insert": {"id": 2, "price": 1}}'})
    assert r.status_code == 409 and r.json["error_code"] == "KeyExists"
    assert [e["where"] for e in r.json["details"]["errors"]] == ["line 2"] and fake.pushed == []
    assert '{"delete": row}' in r.json["message"]
    r = c.post_json("/api/pipelines/p/tables/t/json", {"text": '{"delete": {"id": 2}, "insert": {"id": 2, "price": 1}}'})
    assert r.status_code == 202, r.json
    assert r.json["deletes_found"] == 1


def test_insert_repeating_a_key_in_one_batch_is_refused(fake):
    c = _client(fake)
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"rows": [{"id": 1, "price": 1}, {"id": "1", "price": 2}]})
    assert r.status_code == 400 and r.json["error_code"] == "InvalidRows"
    [e] = r.json["details"]["errors"]
    assert (e["row"], e["field"]) == (1, "id") and "same key as row 1" in e["message"]
    assert fake.pushed == []


def test_unmaterialized_keyed_table_is_sent_with_a_note(fake):
    fake.existing = [{"id": 1}]
    c = _client(fake)
    r = c.post_json("/api/pipelines/p/tables/nm/rows", {"rows": [{"id": 1, "price": 1}]})
    assert r.status_code == 202 and r.json["keys_checked"] is False
    assert "not materialized" in r.json["note"] and "replace any with the same key" in r.json["note"]
    assert fake.queries == [] and len(fake.pushed) == 1


def test_delete_reports_how_many_keys_were_in_the_table(fake):
    fake.existing = [{"id": 1}]
    c = _client(fake)
    r = c.post_json("/api/pipelines/p/tables/t/rows", {"op": "delete", "rows": [{"id": 1}, {"id": 3}]})
    assert r.status_code == 202 and r.json["deleted"] == 2 and r.json["deletes_found"] == 1
    assert fake.queries == ['SELECT "id" FROM "t" WHERE ("id") IN ((1), (3))']
    r = c.post_json("/api/pipelines/p/tables/nk/rows", {"op": "delete", "rows": [{"id": 1, "price": 1}]})
    assert r.status_code == 202 and r.json["deletes_found"] is None  # no key: nothing to ask


def test_json_editor_messages_for_nothing_and_duplicate_names(fake):
    c = _client(fake)
    for text in ("", "  \n\t "):
        r = c.post_json("/api/pipelines/p/tables/t/json", {"text": text})
        assert (r.status_code, r.json["error_code"], r.json["details"]) == (400, "NoRows", None)
        assert r.json["message"] == "nothing to send: type rows or documents"
    r = c.post_json("/api/pipelines/p/tables/t/json", {"text": "[]"})
    assert r.status_code == 400 and r.json["message"] == "no rows in the JSON: nothing was sent"
    r = c.post_json("/api/pipelines/p/tables/t/json", {"text": '{"id": 1, "price": 1, "id": 2}'})
    assert r.status_code == 400 and r.json["error_code"] == "InvalidJson"
    assert 'duplicate name "id"' in r.json["details"]["errors"][0]["message"]
    r = c.post("/api/pipelines/p/tables/t/rows", data=b'{"rows": [{"id": 1, "price": 1, "price": 2}]}',
               headers={"X-CSRF-Token": _csrf(c), "Content-Type": "application/json"})
    assert r.status_code == 400 and 'duplicate name "price"' in r.json["message"]
    assert fake.pushed == []
