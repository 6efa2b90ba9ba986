"""API keys, validate_program, connectors by name, the HTTP-driven clock and the endpoints answered 501,
over real HTTP, with Feldera's answers as the expectation."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest

from webapp.engine.testing import EngineProcess, wait_processed, wait_status

KEY = "sk-extras-0123456789abcdef"
SQL = "CREATE TABLE t (x INT);\nCREATE MATERIALIZED VIEW v AS SELECT * FROM t;"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    with EngineProcess(tmp_path_factory.mktemp("keyed"), env={"SLUICE_API_KEY": KEY}) as eng:
        yield eng


def test_api_keys_are_listed_without_their_secret(keyed):
    auth = {"Authorization": f"Bearer {KEY}"}
    keys = httpx.get(keyed.url + "/v0/api_keys", headers=auth).json()
    assert len(keys) == 1 and set(keys[0]) == {"id", "name", "scopes"} and KEY not in str(keys)
    r = httpx.get(keyed.url + f"/v0/api_keys/{keys[0]['name']}", headers=auth)
    assert r.status_code == 200 and r.json() == keys[0]
    r = httpx.get(keyed.url + "/v0/api_keys/nope", headers=auth)
    assert r.status_code == 404 and r.json() == {"message": "Unknown API key 'nope'", "error_code": "UnknownApiKey",
                                                 "details": {"name": "nope"}}
    for method, path in (("POST", "/v0/api_keys"), ("DELETE", f"/v0/api_keys/{keys[0]['name']}")):
        r = httpx.request(method, keyed.url + path, headers=auth, json={"name": "k2"})
        assert r.status_code == 501 and r.json()["error_code"] == "NotImplemented", r.text
        assert "--api-key-file" in r.json()["message"]
    assert httpx.get(keyed.url + "/v0/api_keys").status_code == 401
    assert httpx.get(keyed.url + "/healthz").status_code == 200  # a liveness probe needs no key


def test_no_keys_without_auth(http):
    assert http.get("/api_keys").json() == []


def test_validate_program(http):
    r = http.post("/validate_program", json={"program_code": SQL})
    assert r.status_code == 200
    ok = r.json()["Success"]
    assert [t["name"] for t in ok["schema"]["inputs"]] == ["t"] and [v["name"] for v in ok["schema"]["outputs"]] == ["v"]
    assert "dataflow" not in ok
    assert http.post("/validate_program", json={"program_code": SQL, "ir": True}).json()["Success"]["dataflow"]
    bad = http.post("/validate_program", json={"program_code": "CREATE TABLE t (x NOTATYPE);"}).json()
    assert list(bad) == ["SqlError"] and bad["SqlError"]["messages"][0]["start_line_number"] == 1
    for body, field in (({}, "program_code"), ({"program_code": SQL, "runtime_version": "v0.1.0"}, "runtime_version"),
                        ({"program_code": SQL, "ir": "yes"}, "ir")):
        r = http.post("/validate_program", json=body)
        assert r.status_code == 400 and r.json()["details"]["field"] == field


DATAGEN = ("CREATE TABLE g (id INT) WITH ('connectors' = '[{\"name\": \"gen\", \"transport\": {\"name\": "
           "\"datagen\", \"config\": {\"plan\": [{\"limit\": 5}]}}}]');\n"
           "CREATE MATERIALIZED VIEW v AS SELECT * FROM g;")


def test_completion_token_of_a_connector(http, make_pipeline):
    name = make_pipeline(DATAGEN)
    r = http.get(f"/pipelines/{name}/tables/g/connectors/gen/completion_token")
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    wait_processed(http, name, token, timeout=20)
    for path, code in (("tables/g/connectors/nope/completion_token", "UnknownInputEndpoint"),
                       ("tables/nosuch/connectors/gen/completion_token", "UnknownInputStream")):
        r = http.get(f"/pipelines/{name}/{path}")
        assert r.status_code == 404 and r.json()["error_code"] == code, r.text


def test_connector_actions_take_quoted_table_names_and_refuse_unknown_actions(http, make_pipeline):
    """Feldera's answers (its platform orchestration test): a quoted table name is taken as SQL spells it,
    "/" and all, once URL-encoded; an action other than start or pause (case-sensitive) is 400
    InvalidConnectorAction, checked before the pipeline is looked up."""
    table = '"numbers +C0_-,.!%()&/"'
    gen = json.dumps([{"name": "aA0_-", "transport": {"name": "datagen", "config": {"plan": [{"limit": 1}]}}}])
    name = make_pipeline(f"CREATE TABLE {table} (num DOUBLE) WITH ('connectors' = '{gen}');")
    base = f"/pipelines/{name}/tables/{quote(table, safe='')}/connectors/aA0_-"
    assert http.post(f"{base}/pause").status_code == 200
    r = http.get(f"{base}/stats")
    assert r.status_code == 200 and r.json()["paused"] is True, r.text
    for action in ("action2", "START"):
        r = http.post(f"{base}/{action}")
        assert r.status_code == 400 and r.json()["error_code"] == "InvalidConnectorAction", r.text
        r = http.post(f"/pipelines/{name}X/tables/t/connectors/c/{action}")
        assert r.status_code == 400 and r.json()["error_code"] == "InvalidConnectorAction", r.text
    other = quote(table.replace("numbers", "Numbers"), safe="")  # quoted: case-sensitive, another table
    r = http.post(f"/pipelines/{name}/tables/{other}/connectors/aA0_-/pause")
    assert r.status_code == 404 and r.json()["error_code"] == "UnknownInputStream", r.text


def test_views_have_no_connectors(http, make_pipeline, new_pipeline):
    name = make_pipeline(SQL)
    for method, path, code in (("GET", "views/v/connectors/out/stats", "UnknownOutputEndpoint"),
                               ("POST", "views/v/connectors/out/pause", "UnknownOutputEndpoint"),
                               ("POST", "views/v/connectors/out/start", "UnknownOutputEndpoint"),
                               ("GET", "views/nosuch/connectors/out/stats", "UnknownOutputStream")):
        r = http.request(method, f"/pipelines/{name}/{path}")
        assert r.status_code == 404 and r.json()["error_code"] == code, (path, r.text)
    assert http.get(f"/pipelines/{name}/views/v/connectors/out/stats").json()["details"] == {"endpoint_name": "out"}
    stopped = new_pipeline(SQL)
    r = http.get(f"/pipelines/{stopped}/views/v/connectors/out/stats")
    assert r.status_code == 503 and r.json()["error_code"] == "PipelineInteractionNotDeployed"


def test_clock_advance_is_not_http_driven(http, make_pipeline):
    name = make_pipeline(SQL)
    r = http.post(f"/pipelines/{name}/clock/advance", json={"delta_ms": 1000})
    assert r.status_code == 400 and r.json()["error_code"] == "NotSupported"


def test_update_runtime_is_a_no_op_while_stopped_and_refused_while_running(http, make_pipeline):
    """Feldera's documented answer: 200 with the pipeline (a no-op when it already has the platform's
    runtime, as a Sluice pipeline always has), 400 UpdateRestrictedToStopped unless stopped."""
    name = make_pipeline(SQL)
    r = http.post(f"/pipelines/{name}/update_runtime")
    assert r.status_code == 400 and r.json()["error_code"] == "UpdateRestrictedToStopped", r.text
    assert http.post(f"/pipelines/{name}/stop", params={"force": "true"}).status_code == 202
    wait_status(http, name, "Stopped")
    before = http.get(f"/pipelines/{name}").json()
    r = http.post(f"/pipelines/{name}/update_runtime")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["name"] == name and got["platform_version"] == before["platform_version"]
    assert got["version"] == before["version"] and got["program_status"] == "Success"


def test_cluster_events_hold_the_engine_health(http):
    """Feldera's cluster monitor events (docs: operations/cluster-monitoring): newest first, status fields by
    default, ``selector=all`` adding each service's self and resources info, ``latest`` or the id for one.
    The engine is the API server, compiler and runner at once: one event, healthy."""
    status_keys = {"id", "recorded_at", "all_healthy", "api_status", "compiler_status", "runner_status"}
    (ev,) = http.get("/cluster/events").json()
    assert set(ev) == status_keys and ev["all_healthy"] is True
    assert {ev[f"{s}_status"] for s in ("api", "compiler", "runner")} == {"Healthy"}
    full = http.get("/cluster/events/latest", params={"selector": "all"}).json()
    assert set(full) == status_keys | {f"{s}_{k}" for s in ("api", "compiler", "runner")
                                       for k in ("self_info", "resources_info")}
    assert http.get(f"/cluster/events/{ev['id']}").json() == ev
    r = http.get("/cluster/events/nosuch")
    assert r.status_code == 404 and r.json()["error_code"] == "UnknownClusterMonitorEvent"


@pytest.mark.parametrize("method,path,code", [
    ("POST", "/pipelines/{p}/activate", "EnterpriseFeature"),
    ("POST", "/pipelines/{p}/checkpoint/sync", "EnterpriseFeature"),
    ("GET", "/pipelines/{p}/checkpoint/sync_status", "EnterpriseFeature"),
    ("GET", "/pipelines/{p}/checkpoints/remote", "EnterpriseFeature"),
    ("POST", "/pipelines/{p}/approve", "NotImplemented"),
    ("POST", "/pipelines/{p}/rebalance", "NotImplemented"),
    ("POST", "/pipelines/{p}/start_compaction", "NotImplemented"),
    ("GET", "/pipelines/{p}/samply_profile", "NotImplemented"),
    ("GET", "/pipelines/{p}/heap_profile", "NotImplemented"),
    ("GET", "/pipelines/{p}/dataflow_graph", "NotImplemented"),
])
def test_answered_501(http, method, path, code):
    r = http.request(method, path.format(p="any"))
    assert r.status_code == 501 and r.json()["error_code"] == code, r.text
    assert set(r.json()) == {"message", "error_code", "details"}


def test_official_client(engine, make_pipeline):
    feldera = pytest.importorskip("feldera")
    from feldera.rest.errors import FelderaAPIError
    c = feldera.FelderaClient(engine.url)
    assert "Success" in c.validate_program(SQL)
    assert "SqlError" in c.validate_program("CREATE TABLE t (x NOTATYPE);")
    with pytest.raises(FelderaAPIError) as e:
        c.create_api_key("k")
    assert e.value.status_code == 501
    p = feldera.Pipeline.get(make_pipeline(SQL), c)
    for call, status, code in ((lambda: p.output_connector_stats("v", "out"), 404, "UnknownOutputEndpoint"),
                               (lambda: p.advance_clock(1000), 400, "NotSupported"),
                               (lambda: p.sync_checkpoint(), 501, "EnterpriseFeature")):
        with pytest.raises(FelderaAPIError) as e:
            call()
        assert (e.value.status_code, e.value.error_code) == (status, code)
    g = feldera.Pipeline.get(make_pipeline(DATAGEN), c)
    g.wait_for_token(g.generate_completion_token("g", "gen"))
