"""The pipeline as Feldera reports it: the field sets of each selector, the three version counters, and
the status details, checked over raw HTTP and through the official ``feldera`` client.

Expectations: Feldera's ``python/tests/platform/test_pipeline_crud.py`` (field lists, ``refresh_version``,
metadata edits) and ``test_pipeline_lifecycle.py`` (``bootstrap_policy``, ``storage_status_details``), and
``db/operations/pipeline.rs`` (which program statuses move ``refresh_version``).
"""

from __future__ import annotations

import uuid

import pytest

from sluice_support import assert_error, wait_until

ALL_FIELDS = {
    "id", "name", "description", "tags", "created_at", "version", "platform_version", "runtime_config",
    "program_code", "udf_rust", "udf_toml", "program_config", "program_version", "program_status",
    "program_status_since", "program_error", "program_info", "deployment_status", "deployment_status_since",
    "deployment_desired_status", "deployment_desired_status_since", "deployment_error", "refresh_version",
    "storage_status", "storage_status_details", "deployment_resources_status", "deployment_resources_status_details",
    "deployment_resources_status_since", "deployment_resources_desired_status",
    "deployment_resources_desired_status_since", "deployment_runtime_status", "deployment_runtime_status_details",
    "deployment_runtime_status_since", "deployment_runtime_desired_status", "deployment_runtime_desired_status_since",
    "deployment_initial", "deployment_id", "bootstrap_policy", "silent_bootstrap", "concurrent_bootstrap",
}
STATUS_FIELDS = {
    "id", "name", "description", "tags", "created_at", "version", "platform_version", "program_config",
    "program_version", "program_status", "program_status_since", "deployment_status", "deployment_status_since",
    "deployment_desired_status", "deployment_desired_status_since", "deployment_resources_status",
    "deployment_resources_status_since", "deployment_resources_desired_status",
    "deployment_resources_desired_status_since", "deployment_runtime_status", "deployment_runtime_status_details",
    "deployment_runtime_status_since", "deployment_runtime_desired_status", "deployment_runtime_desired_status_since",
    "deployment_id", "deployment_initial", "deployment_error", "refresh_version", "storage_status",
    "storage_status_details", "bootstrap_policy", "silent_bootstrap", "concurrent_bootstrap",
}
SQL = "CREATE TABLE t1 (c1 INT);"


@pytest.fixture
def fresh(http):
    made = []

    def make(**body) -> str:
        name = f"s{uuid.uuid4().hex[:10]}"
        r = http.post("/pipelines", json={"name": name, **body})
        assert r.status_code == 201, r.text
        made.append((name, r.json()))
        return name

    yield make
    for name, _ in made:
        http.post(f"/pipelines/{name}/stop", params={"force": "true"})
        wait_until(lambda: http.get(f"/pipelines/{name}").json().get("deployment_status") in ("Stopped", None),
                   20, what="stopped")
        http.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
        http.delete(f"/pipelines/{name}")


def _get(http, name, selector="all") -> dict:
    return http.get(f"/pipelines/{name}", params={"selector": selector}).json()


def _counters(http, name):
    p = _get(http, name, "status")
    return p["version"], p["program_version"], p["refresh_version"]


def test_selector_field_sets(http, fresh):
    name = fresh(program_code=SQL)
    for path in (f"/pipelines/{name}", "/pipelines"):
        for params, fields in (({}, ALL_FIELDS), ({"selector": "all"}, ALL_FIELDS),
                               ({"selector": "status"}, STATUS_FIELDS)):
            got = http.get(path, params=params).json()
            obj = next(o for o in got if o["name"] == name) if isinstance(got, list) else got
            assert set(obj) == fields, (path, params, set(obj) ^ fields)


def test_refresh_version_follows_compilation(http, fresh):
    http_post = http.post("/pipelines", json={"name": (name := f"s{uuid.uuid4().hex[:10]}"), "program_code": ""})
    try:
        assert http_post.json()["refresh_version"] == 1 and http_post.json()["program_status"] == "Pending"
        assert _get(http, name)["refresh_version"] == 3  # SqlCompiled, then Success
        r = http.patch(f"/pipelines/{name}", json={"program_code": SQL})
        assert (r.json()["refresh_version"], r.json()["version"], r.json()["program_version"]) == (4, 2, 2)
        assert _counters(http, name) == (2, 2, 6)
        http.patch(f"/pipelines/{name}", json={"program_code": "CREATE TABLE t1 (c1 INT"})
        assert _get(http, name)["program_status"] == "SqlError"
        assert _counters(http, name) == (3, 3, 8)  # the edit, then SqlError
        # a runtime-config edit is a core edit but no program change: no recompilation
        http.patch(f"/pipelines/{name}", json={"program_code": SQL})
        before = _counters(http, name)
        http.patch(f"/pipelines/{name}", json={"runtime_config": {"workers": 2}})
        assert _counters(http, name) == (before[0] + 1, before[1], before[2] + 1)
    finally:
        http.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
        http.delete(f"/pipelines/{name}")


def test_metadata_edits_move_no_counter_and_are_allowed_while_running(http, fresh):
    name = fresh(program_code=SQL, description="initial", tags=["prod"])
    base = _counters(http, name)
    assert base[:2] == (1, 1)
    for body in ({"description": "changed"}, {"tags": ["staging", "team-x"]}, {"description": "again", "tags": []},
                 {"description": "again", "tags": []}):
        r = http.patch(f"/pipelines/{name}", json=body)
        assert r.status_code == 200, r.text
        assert _counters(http, name) == base
    http.post(f"/pipelines/{name}/start")
    wait_until(lambda: _get(http, name)["deployment_status"] == "Running", 20, what="running")
    r = http.patch(f"/pipelines/{name}", json={"description": "while-running", "tags": ["r1"]})
    assert r.status_code == 200 and r.json()["tags"] == ["r1"] and r.json()["version"] == base[0]
    assert_error(http.patch(f"/pipelines/{name}", json={"program_code": SQL + " CREATE VIEW v AS SELECT * FROM t1;"}),
                 400, "UpdateRestrictedToStopped")
    assert _counters(http, name)[0] == base[0]
    # PUT replaces wholesale: tags it does not name are gone
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    wait_until(lambda: _get(http, name)["deployment_status"] == "Stopped", 20, what="stopped")
    assert http.put(f"/pipelines/{name}", json={"name": name, "program_code": SQL}).json()["tags"] == []


def test_status_details_and_program_error(http, fresh):
    name = fresh(program_code=SQL)
    p = _get(http, name)
    assert p["storage_status"] == "Cleared" and p["storage_status_details"] is None
    assert p["program_error"]["rust_compilation"] == {"exit_code": 0, "stdout": "", "stderr": ""}
    assert p["program_error"]["sql_compilation"] == {"exit_code": 0, "messages": []}
    assert p["deployment_runtime_status"] is None and p["deployment_runtime_status_details"] is None
    assert p["bootstrap_policy"] is None
    http.post(f"/pipelines/{name}/start", params={"bootstrap_policy": "await_approval"})
    wait_until(lambda: _get(http, name)["deployment_status"] == "Running", 20, what="running")
    p = _get(http, name)
    assert p["storage_status"] == "InUse" and p["storage_status_details"] == {"checkpoints": []}
    assert p["deployment_runtime_status"] == "Running"
    assert p["deployment_runtime_status_details"]["incarnation_uuid"] == p["deployment_id"]
    assert (p["bootstrap_policy"], p["deployment_resources_status"]) == ("await_approval", "Provisioned")
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    wait_until(lambda: _get(http, name)["deployment_status"] == "Stopped", 20, what="stopped")
    p = _get(http, name)
    assert p["storage_status_details"] == {"checkpoints": []} and p["bootstrap_policy"] is None


def test_official_client_reads_the_status_model(engine, fresh):
    feldera = pytest.importorskip("feldera")
    from feldera.enums import BootstrapPolicy, StorageStatus
    client = feldera.FelderaClient(engine.url)
    name = fresh(program_code=SQL)
    pipeline = feldera.Pipeline.get(name, client)
    assert pipeline.storage_status() == StorageStatus.CLEARED and pipeline.storage_status_details() is None
    pipeline.start(bootstrap_policy=BootstrapPolicy.REJECT)
    assert pipeline.bootstrap_policy() == BootstrapPolicy.REJECT
    assert pipeline.storage_status_details() == {"checkpoints": []}
    pipeline.start(bootstrap_policy=BootstrapPolicy.REJECT)  # same again: accepted
    with pytest.raises(feldera.rest.errors.FelderaAPIError) as e:
        pipeline.start_paused()
    assert e.value.error_code == "InitialImmutableUnlessStopped"
    with pytest.raises(feldera.rest.errors.FelderaAPIError) as e:
        pipeline.clear_storage()
    assert e.value.error_code == "StorageStatusImmutableUnlessStopped"
    pipeline.stop(force=True)
    assert pipeline.bootstrap_policy() is None
    pipeline.clear_storage()
    assert pipeline.storage_status() == StorageStatus.CLEARED
