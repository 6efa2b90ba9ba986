"""Platform endpoints and the pipeline lifecycle over real HTTP: create/read/update/delete, start, pause,
resume, stop (force and not), clear, dismiss_error."""

from __future__ import annotations

import uuid

from sluice_support import assert_error, push, query_json, wait_until

from webapp.engine.testing import query_rows, wait_status

SQL = """
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR) WITH ('materialized' = 'true');
CREATE MATERIALIZED VIEW big AS SELECT id, v FROM t WHERE id > 10;
"""


def _status(http, name):
    r = http.get(f"/pipelines/{name}", params={"selector": "status"})
    assert r.status_code == 200, r.text
    return r.json()


def test_config_and_cluster_healthz(http):
    r = http.get("/config")
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == "application/json"
    cfg = r.json()
    assert isinstance(cfg["version"], str) and cfg["version"]
    assert cfg["edition"]
    r = http.get("/cluster_healthz")
    assert r.status_code == 200
    assert r.json()["all_healthy"] is True


def test_create_read_list_update_delete(http):
    name = f"p{uuid.uuid4().hex[:10]}"
    r = http.post("/pipelines", json={"name": name, "program_code": SQL, "description": "first"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["name"] == name and p["program_code"] == SQL and p["description"] == "first"
    assert p["program_status"] == "Pending" and p["program_info"] is None  # Feldera answers before compiling
    p = http.get(f"/pipelines/{name}").json()
    assert p["program_status"] == "Success"
    assert p["deployment_status"] == "Stopped" and p["storage_status"] == "Cleared"
    schema = p["program_info"]["schema"]
    assert [t["name"] for t in schema["inputs"]] == ["t"]
    assert [v["name"] for v in schema["outputs"]] == ["big"]
    try:
        # GET, both selectors
        full = http.get(f"/pipelines/{name}").json()
        assert full["program_code"] == SQL and full["id"] == p["id"]
        assert http.get(f"/pipelines/{name}", params={"selector": "all"}).json()["program_code"] == SQL
        st = _status(http, name)
        assert st["deployment_status"] == "Stopped" and st["name"] == name
        assert "program_code" not in st and "program_info" not in st

        # list, both selectors
        listed = http.get("/pipelines").json()
        mine = [x for x in listed if x["name"] == name]
        assert len(mine) == 1 and mine[0]["program_code"] == SQL
        listed = http.get("/pipelines", params={"selector": "status"}).json()
        mine = [x for x in listed if x["name"] == name]
        assert len(mine) == 1 and "program_code" not in mine[0] and mine[0]["deployment_status"] == "Stopped"

        # PATCH changes only what it names
        r = http.patch(f"/pipelines/{name}", json={"description": "second"})
        assert r.status_code == 200, r.text
        assert r.json()["description"] == "second" and r.json()["program_code"] == SQL
        assert http.get(f"/pipelines/{name}").json()["description"] == "second"

        # PUT on an existing pipeline replaces it: 200
        sql2 = SQL + "\nCREATE VIEW small AS SELECT id FROM t WHERE id <= 10;\n"
        r = http.put(f"/pipelines/{name}", json={"name": name, "program_code": sql2})
        assert r.status_code == 200, r.text
        assert r.json()["program_code"] == sql2 and r.json()["program_status"] == "Pending"
        assert r.json()["version"] > p["version"]
        got = http.get(f"/pipelines/{name}").json()
        assert [v["name"] for v in got["program_info"]["schema"]["outputs"]] == ["big", "small"]
    finally:
        r = http.delete(f"/pipelines/{name}")
    assert r.status_code == 200, r.text
    assert_error(http.get(f"/pipelines/{name}"), 404, "UnknownPipelineName")
    assert name not in [x["name"] for x in http.get("/pipelines").json()]


def test_put_creates_with_201(http, new_pipeline):
    name = new_pipeline(SQL)  # asserts 201 on creation
    assert _status(http, name)["deployment_status"] == "Stopped"


def test_start_paused_resume_pause_stop(http, new_pipeline):
    name = new_pipeline(SQL)
    r = http.post(f"/pipelines/{name}/start", params={"initial": "paused"})
    assert r.status_code == 202, r.text
    assert isinstance(r.json(), str)
    st = wait_status(http, name, "Paused")
    assert st["deployment_desired_status"] == "Paused"
    assert st["deployment_resources_status"] == "Provisioned"
    assert http.get(f"/pipelines/{name}/stats").json()["global_metrics"]["state"] == "Paused"

    r = http.post(f"/pipelines/{name}/resume")
    assert r.status_code == 202 and isinstance(r.json(), str)
    wait_status(http, name, "Running")
    assert http.get(f"/pipelines/{name}/stats").json()["global_metrics"]["state"] == "Running"

    r = http.post(f"/pipelines/{name}/pause")
    assert r.status_code == 202 and isinstance(r.json(), str)
    wait_status(http, name, "Paused")
    assert http.get(f"/pipelines/{name}/stats").json()["global_metrics"]["state"] == "Paused"

    r = http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    assert r.status_code == 202 and isinstance(r.json(), str)
    st = wait_status(http, name, "Stopped")
    assert st["deployment_desired_status"] == "Stopped"
    assert st["deployment_resources_status"] == "Stopped"


def test_start_default_is_running(http, new_pipeline):
    name = new_pipeline(SQL)
    r = http.post(f"/pipelines/{name}/start")
    assert r.status_code == 202, r.text
    st = wait_status(http, name, "Running")
    assert st["deployment_initial"] == "running"


def test_stop_keeps_storage_until_clear(http, new_pipeline):
    """Data survives stop/start (storage InUse); clear empties it (storage Cleared)."""
    name = new_pipeline(SQL)
    http.post(f"/pipelines/{name}/start")
    wait_status(http, name, "Running")
    tok = push(http, name, "t", [{"insert": {"id": 11, "v": "a"}}, {"insert": {"id": 1, "v": "b"}}], array="true")
    wait_until(lambda: http.get(f"/pipelines/{name}/completion_status", params={"token": tok}).json()["status"]
               == "complete", what="token")
    assert query_json(http, name, "SELECT * FROM big") == [{"id": 11, "v": "a"}]

    # stop without force: processes what was acknowledged and keeps the data
    r = http.post(f"/pipelines/{name}/stop", params={"force": "false"})
    assert r.status_code == 202, r.text
    st = wait_status(http, name, "Stopped")
    assert st["storage_status"] == "InUse"

    http.post(f"/pipelines/{name}/start")
    wait_status(http, name, "Running")
    assert query_json(http, name, "SELECT * FROM t ORDER BY id") == [{"id": 1, "v": "b"}, {"id": 11, "v": "a"}]
    assert query_json(http, name, "SELECT * FROM big") == [{"id": 11, "v": "a"}]

    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    wait_status(http, name, "Stopped")
    r = http.post(f"/pipelines/{name}/clear")
    assert r.status_code == 202, r.text
    wait_until(lambda: _status(http, name)["storage_status"] == "Cleared", what="storage Cleared")

    http.post(f"/pipelines/{name}/start")
    wait_status(http, name, "Running")
    assert query_json(http, name, "SELECT * FROM t") == []
    assert query_json(http, name, "SELECT * FROM big") == []


def test_stop_ends_egress_and_interaction(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "big")
    r = http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    assert r.status_code == 202
    rd.wait_done(15)
    wait_status(http, name, "Stopped")
    assert_error(http.get(f"/pipelines/{name}/stats"), 503, "PipelineInteractionNotDeployed")


def test_runtime_error_then_dismiss_error(http, make_pipeline):
    """A step that fails stops the pipeline with a deployment_error; dismiss_error clears it."""
    name = make_pipeline("CREATE TABLE s (x VARCHAR);\nCREATE VIEW n AS SELECT CAST(x AS INTEGER) AS i FROM s;\n")
    push(http, name, "s", [{"x": "12"}], update_format="raw", array="true")
    push(http, name, "s", [{"x": "not a number"}], update_format="raw", array="true")
    st = wait_status(http, name, "Stopped")
    err = st["deployment_error"]
    assert isinstance(err, dict) and set(err) == {"message", "error_code", "details"}, err
    assert err["error_code"] == "RuntimeError.WorkerPanic"  # Feldera's code for a failure inside a step
    assert err["message"]
    r = http.post(f"/pipelines/{name}/dismiss_error")
    assert r.status_code == 202 and isinstance(r.json(), str)
    assert _status(http, name)["deployment_error"] is None
    assert http.get(f"/pipelines/{name}").json()["deployment_error"] is None


def test_a_failed_step_keeps_its_acknowledged_input(http, make_pipeline):
    """A step that fails (SUM of INT past INT's range, as Feldera's SUM(INT) is an INT) stops the
    pipeline naming the view and the cause, not DuckDB's aborted transaction; its input, acknowledged,
    is not dropped: the next start applies it again (and fails again), and once the program is
    changed so that it does not fail, the table holds it and the view counts it."""
    prog = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, q INT NOT NULL);\nCREATE VIEW s AS SELECT SUM(q) AS total FROM t;\n"
    name = make_pipeline(prog)
    push(http, name, "t", [{"id": 1, "q": 2_000_000_000}], update_format="raw", array="true")
    push(http, name, "t", [{"id": 2, "q": 2_000_000_000}], update_format="raw", array="true")
    msg = wait_status(http, name, "Stopped")["deployment_error"]["message"]
    # DuckDB's "destination type INT32" in the type's SQL name
    assert "view s" in msg and "out of range for the type INTEGER" in msg and "INT32" not in msg, msg
    assert "aborted" not in msg and "kept" in msg
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    wait_until(lambda: _status(http, name)["deployment_status"] == "Stopped"
               and _status(http, name)["deployment_error"] is not None, 20, "the kept input to fail the step again")
    r = http.patch(f"/pipelines/{name}", json={"program_code": prog.replace("SUM(q)", "SUM(CAST(q AS BIGINT))")})
    assert r.status_code == 200, r.text
    wait_until(lambda: http.get(f"/pipelines/{name}").json()["program_status"] == "Success", 20, "compiled")
    assert http.post(f"/pipelines/{name}/dismiss_error").status_code == 202
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    wait_status(http, name, "Running")
    assert query_rows(http, name, "SELECT id, q FROM t ORDER BY id") == [{"id": 1, "q": 2_000_000_000},
                                                                       {"id": 2, "q": 2_000_000_000}]
    assert query_rows(http, name, "SELECT total FROM s") == [{"total": 4_000_000_000}]
