"""Every error code over real HTTP, each with its status and a body of exactly {"message","error_code","details"}."""

from __future__ import annotations

import threading
import uuid

from sluice_support import assert_error, completion, push, wait_held_back, wait_until

SQL = """
CREATE TABLE t (id INT, v VARCHAR);
CREATE VIEW v1 AS SELECT * FROM t;
CREATE LOCAL VIEW hidden AS SELECT id FROM t;
"""


def _status(http, name):
    return http.get(f"/pipelines/{name}", params={"selector": "status"}).json()["deployment_status"]


def _wait(http, name, status):
    wait_until(lambda: _status(http, name) == status, 20, what=f"{name} to be {status}")


def test_a_misspelled_table_is_told_the_one_it_may_mean(http, make_pipeline):
    """As ad-hoc query errors do ("Did you mean ..."): the 404 names the closest table and lists them all."""
    name = make_pipeline("CREATE TABLE products (id INT, name VARCHAR);\nCREATE TABLE orders (id INT, qty INT);\n")
    body = assert_error(http.post(f"/pipelines/{name}/ingress/prodcts", params={"format": "json"},
                                  content=b'{"id": 1}'), 404, "UnknownInputStream")
    assert body["details"] == {"stream_name": "prodcts", "tables": ["products", "orders"], "suggestion": "products"}
    assert body["message"].startswith("Unknown table 'prodcts': did you mean 'products'? The program declares "
                                      "no table 'prodcts'; its tables: products, orders ("), body
    # an INSERT of an ad-hoc query names the table the same way
    body = assert_error(http.get(f"/pipelines/{name}/query", params={"sql": "INSERT INTO ordrs VALUES (1, 2)"}),
                        404, "UnknownInputStream")
    assert body["details"]["suggestion"] == "orders" and "did you mean 'orders'?" in body["message"], body


def test_unknown_pipeline_name(http):
    ghost = f"ghost{uuid.uuid4().hex[:8]}"
    calls = [
        ("GET", f"/pipelines/{ghost}", {}),
        ("PATCH", f"/pipelines/{ghost}", {"json": {"description": "x"}}),
        ("DELETE", f"/pipelines/{ghost}", {}),
        ("POST", f"/pipelines/{ghost}/start", {}),
        ("POST", f"/pipelines/{ghost}/pause", {}),
        ("POST", f"/pipelines/{ghost}/resume", {}),
        ("POST", f"/pipelines/{ghost}/stop", {"params": {"force": "true"}}),
        ("POST", f"/pipelines/{ghost}/clear", {}),
        ("POST", f"/pipelines/{ghost}/dismiss_error", {}),
        ("POST", f"/pipelines/{ghost}/ingress/t", {"params": {"format": "json"}, "content": b"{}"}),
        ("POST", f"/pipelines/{ghost}/egress/v1", {"params": {"format": "json"}}),
        ("GET", f"/pipelines/{ghost}/completion_status", {"params": {"token": "abc"}}),
        ("GET", f"/pipelines/{ghost}/query", {"params": {"sql": "SELECT 1"}}),
        ("GET", f"/pipelines/{ghost}/stats", {}),
    ]
    for method, path, kw in calls:
        body = assert_error(http.request(method, path, **kw), 404, "UnknownPipelineName")
        assert body["details"] == {"pipeline_name": ghost}, (method, path, body)


def test_unknown_streams(http, make_pipeline):
    name = make_pipeline(SQL)
    body = assert_error(http.post(f"/pipelines/{name}/ingress/nope", params={"format": "json"}, content=b"{}"),
                        404, "UnknownInputStream")
    assert body["details"] == {"stream_name": "nope", "tables": ["t"]}  # nothing close enough to suggest
    assert "its tables: t (" in body["message"] and "did you mean" not in body["message"], body
    # a view is not an input: the answer says it is a view, and what it reads
    body = assert_error(http.post(f"/pipelines/{name}/ingress/v1", params={"format": "json"}, content=b"{}"),
                        404, "UnknownInputStream")
    assert body["details"] == {"stream_name": "v1", "is_view": True, "reads": ["t"]}
    assert "'v1' is a view" in body["message"] and "(t)" in body["message"], body
    body = assert_error(http.post(f"/pipelines/{name}/egress/nope", params={"format": "json"}),
                        404, "UnknownOutputStream")
    assert body["details"] == {"stream_name": "nope"}
    # LOCAL views cannot be read from outside
    assert_error(http.post(f"/pipelines/{name}/egress/hidden", params={"format": "json"}), 404, "UnknownOutputStream")


def test_invalid_params(http, make_pipeline, new_pipeline):
    name = make_pipeline(SQL)
    ing = f"/pipelines/{name}/ingress/t"
    cases = [
        http.post(ing, params={"format": "json", "force": "True"}, content=b'{"insert":{"id":1}}'),
        http.post(ing, params={"format": "json", "array": "yes"}, content=b"[]"),
        http.post(ing, params={"format": "json", "update_format": "weird"}, content=b"{}"),
        http.post(ing, params={"format": "json", "json_flavor": "weird"}, content=b"{}"),
        http.post(f"/pipelines/{name}/egress/v1", params={"format": "xml"}),
        http.post(f"/pipelines/{name}/egress/v1", params={"format": "json", "send_snapshot": "1"}),
        http.get(f"/pipelines/{name}/query", params={"sql": "SELECT 1", "format": "xml"}),
        http.get(f"/pipelines/{name}/query"),
        http.get(f"/pipelines/{name}/completion_status"),
        http.get(f"/pipelines/{name}", params={"selector": "everything"}),
        http.get("/pipelines", params={"selector": "everything"}),
        http.post(f"/pipelines/{name}/stop", params={"force": "yes"}),
        http.post("/pipelines", content=b"{not json", headers={"content-type": "application/json"}),
    ]
    for r in cases:
        assert_error(r, 400, "InvalidParam")
    # Feldera's own codes for a bad name and for a PUT whose body names another pipeline
    assert_error(http.post("/pipelines", json={"name": "bad name!", "program_code": ""}), 400, "NameDoesNotMatchPattern")
    assert_error(http.put(f"/pipelines/{name}x", json={"name": "other", "program_code": ""}),
                 400, "CannotRenameNonExistingPipeline")
    stopped = new_pipeline(SQL)
    assert_error(http.post(f"/pipelines/{stopped}/start", params={"initial": "sideways"}), 400, "InvalidParam")
    assert _status(http, stopped) == "Stopped"
    assert_error(http.get(f"/pipelines/{name}x"), 404, "UnknownPipelineName")  # the bad PUT created nothing


def test_unknown_input_format(http, make_pipeline):
    name = make_pipeline(SQL)
    body = assert_error(http.post(f"/pipelines/{name}/ingress/t", params={"format": "xml"}, content=b"<a/>"),
                        400, "UnknownInputFormat")
    assert body["details"] == {"format": "xml"}


def test_parse_errors_shape(http, make_pipeline):
    name = make_pipeline(SQL)
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw"},
                  content=b'{"id": 1}\n{"id": "x"}\nnot json\n')
    body = assert_error(r, 400, "ParseErrors")
    d = body["details"]
    assert d["num_errors"] == 2
    assert [(e["event_number"], e["line"]) for e in d["errors"]] == [(2, 2), (3, 3)]
    assert d["errors"][0]["field"] == "id"
    assert body["message"].startswith("Errors parsing input data (2 errors)")
    wait_until(lambda: completion(http, name, d["token"])["status"] == "complete", what="token of kept records")


def test_adhoc_query_error(http, make_pipeline):
    name = make_pipeline(SQL)
    assert_error(http.get(f"/pipelines/{name}/query", params={"sql": "SELECT * FROM nowhere"}), 400, "AdHocQueryError")
    # internal state is not visible
    assert_error(http.get(f"/pipelines/{name}/query", params={"sql": "SELECT * FROM __sluice_state_v1"}),
                 400, "AdHocQueryError")


def test_pause_and_resume_while_not_provisioned(http, new_pipeline):
    name = new_pipeline(SQL)
    assert_error(http.post(f"/pipelines/{name}/pause"), 400, "PauseWhileNotProvisioned")
    assert_error(http.post(f"/pipelines/{name}/resume"), 400, "ResumeWhileNotProvisioned")
    assert _status(http, name) == "Stopped"


def test_update_restricted_to_stopped(http, make_pipeline):
    name = make_pipeline(SQL)
    assert_error(http.put(f"/pipelines/{name}", json={"name": name, "program_code": SQL + "\n-- edit\n"}),
                 400, "UpdateRestrictedToStopped")
    assert_error(http.patch(f"/pipelines/{name}", json={"runtime_config": {"workers": 2}}),
                 400, "UpdateRestrictedToStopped")
    p = http.get(f"/pipelines/{name}").json()
    assert p["program_code"] == SQL and p["runtime_config"]["workers"] == 1
    # description and tags are metadata: Feldera lets them change at any time
    assert http.patch(f"/pipelines/{name}", json={"description": "edit"}).json()["description"] == "edit"


def test_storage_and_delete_need_a_stopped_pipeline(http, make_pipeline):
    name = make_pipeline(SQL)
    assert_error(http.post(f"/pipelines/{name}/clear"), 400, "StorageStatusImmutableUnlessStopped")
    assert_error(http.delete(f"/pipelines/{name}"), 400, "DeleteRestrictedToFullyStopped")
    assert _status(http, name) == "Running"


def test_delete_needs_cleared_storage(http, make_pipeline):
    """Feldera's rule: a delete never drops stored data on its own; ``/clear`` comes first."""
    name = make_pipeline(SQL)
    push(http, name, "t", b'{"id": 1}', update_format="raw")
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    _wait(http, name, "Stopped")
    body = assert_error(http.delete(f"/pipelines/{name}"), 400, "DeleteRestrictedToClearedStorage")
    assert body["details"] is None and "/clear" in body["message"]
    assert http.get(f"/pipelines/{name}").json()["storage_status"] == "InUse"
    assert http.post(f"/pipelines/{name}/clear").status_code == 202
    assert http.delete(f"/pipelines/{name}").status_code == 200
    assert_error(http.get(f"/pipelines/{name}"), 404, "UnknownPipelineName")


def test_cannot_start_with_compilation_error(http, new_pipeline):
    name = new_pipeline("CREATE TABLE t (id INT);\nCREATE VIEW v AS SELECT nope FROM t;\n", expect_status="SqlError")
    p = http.get(f"/pipelines/{name}").json()
    msgs = p["program_error"]["sql_compilation"]["messages"]
    assert msgs and msgs[0]["start_line_number"] == 2
    assert_error(http.post(f"/pipelines/{name}/start"), 400, "CannotStartWithCompilationError")
    assert _status(http, name) == "Stopped"


def test_a_missing_semicolon_is_reported_where_it_is_missing(http, new_pipeline):
    """Two statements run together: the error points at the second CREATE (as Calcite's 'Encountered
    "CREATE"' does), not at the end of the second statement."""
    name = new_pipeline("CREATE TABLE t (id INT NOT NULL, vv INT)\n"
                        "CREATE VIEW w AS SELECT id, SUM(vv) AS s FROM t GROUP BY id;\n", expect_status="SqlError")
    (m,) = http.get(f"/pipelines/{name}").json()["program_error"]["sql_compilation"]["messages"]
    assert (m["start_line_number"], m["start_column"]) == (2, 1), m
    assert 'Encountered "CREATE"' in m["message"] and '";"' in m["message"], m


def test_invalid_and_stale_completion_tokens(http, make_pipeline):
    name = make_pipeline(SQL)
    assert_error(http.get(f"/pipelines/{name}/completion_status", params={"token": "not-a-token"}),
                 400, "InvalidCompletionToken")
    tok = push(http, name, "t", b'{"id": 1}', update_format="raw")
    wait_until(lambda: completion(http, name, tok)["status"] == "complete", what="token")
    # storage is kept across stop/start, and so is what the token stands for
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    _wait(http, name, "Stopped")
    http.post(f"/pipelines/{name}/start")
    _wait(http, name, "Running")
    assert completion(http, name, tok)["status"] == "complete"
    # once storage is cleared, the token belongs to an earlier incarnation
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    _wait(http, name, "Stopped")
    assert http.post(f"/pipelines/{name}/clear").status_code == 202
    wait_until(lambda: http.get(f"/pipelines/{name}").json()["storage_status"] == "Cleared", what="Cleared")
    http.post(f"/pipelines/{name}/start")
    _wait(http, name, "Running")
    assert_error(http.get(f"/pipelines/{name}/completion_status", params={"token": tok}),
                 410, "CompletionTokenFromPreviousIncarnation")


def test_duplicate_name(http, new_pipeline):
    name = new_pipeline(SQL)
    body = assert_error(http.post("/pipelines", json={"name": name, "program_code": ""}), 409, "DuplicateName")
    assert http.get(f"/pipelines/{name}").json()["program_code"] == SQL  # unchanged
    assert body["details"] is None or isinstance(body["details"], dict)


def test_not_deployed(http, new_pipeline):
    name = new_pipeline(SQL)
    calls = [
        http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"}, content=b'{"insert":{"id":1}}'),
        http.post(f"/pipelines/{name}/egress/v1", params={"format": "json"}),
        http.get(f"/pipelines/{name}/query", params={"sql": "SELECT 1"}),
        http.get(f"/pipelines/{name}/stats"),
        http.get(f"/pipelines/{name}/completion_status", params={"token": "abc"}),
    ]
    for r in calls:
        body = assert_error(r, 503, "PipelineInteractionNotDeployed")
        assert body["details"] == {"pipeline_name": name, "status": "Stopped", "desired_status": "Stopped"}


def test_pipeline_paused(http, make_pipeline):
    name = make_pipeline(SQL, initial="paused")
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw"},
                  content=b'{"id": 1}')
    assert_error(r, 503, "PipelinePaused")


def test_terminating(http, make_pipeline):
    """A request waiting on a paused pipeline gets 410 Terminating when the pipeline stops."""
    name = make_pipeline(SQL, initial="paused")
    out = {}

    def send():
        out["r"] = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw"},
                             content=b'{"id": 1}')

    th = threading.Thread(target=send)
    th.start()
    wait_held_back(http, name, "t")  # it would give up after 3 s (--ingress-wait)
    assert "r" not in out, out["r"].text
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    th.join(15)
    assert_error(out["r"], 410, "Terminating")


def test_unknown_route_and_method(http, make_pipeline):
    name = make_pipeline(SQL)
    assert_error(http.get("/no/such/endpoint"), 404, "NotFound")
    assert_error(http.get(f"/pipelines/{name}/ingress/t"), 405, "MethodNotAllowed")
