"""Pipeline definitions and lifecycle requests refused as Feldera refuses them, with Feldera's codes.

Expectations come from Feldera's pipeline manager (``crates/pipeline-manager/src/db/types/utils.rs``,
``db/error.rs``) and its platform tests (``python/tests/platform/test_pipeline_crud.py``,
``test_pipeline_lifecycle.py``), run here over raw HTTP against the real engine.
"""

from __future__ import annotations

import uuid

from sluice_support import assert_error, wait_until

SQL = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR);\nCREATE MATERIALIZED VIEW v1 AS SELECT * FROM t;\n"


def _name() -> str:
    return f"v{uuid.uuid4().hex[:10]}"


def _post(http, **body):
    return http.post("/pipelines", json=body)


def _status(http, name) -> str:
    return http.get(f"/pipelines/{name}", params={"selector": "status"}).json()["deployment_status"]


def _wait(http, name, status):
    wait_until(lambda: _status(http, name) == status, 20, what=f"{name} to be {status}")


def test_names_feldera_refuses(http):
    assert_error(_post(http, name="", program_code=""), 400, "EmptyName")
    body = assert_error(_post(http, name="a" * 101, program_code=""), 400, "TooLongName")
    assert body["details"]["length"] == 101 and body["details"]["maximum"] == 100
    for bad in ("%abc", "with space", "abc@", "caf\u00e9"):
        assert_error(_post(http, name=bad, program_code=""), 400, "NameDoesNotMatchPattern")
    ok = "a" * 100
    try:
        assert _post(http, name=ok, program_code="").status_code == 201
    finally:
        http.delete(f"/pipelines/{ok}")


def test_post_needs_name_and_program_code(http):
    assert_error(_post(http), 400, "MissingField")
    assert_error(http.post("/pipelines", json={"program-code": ""}), 400, "MissingField")
    body = assert_error(_post(http, name=_name()), 400, "MissingField")
    assert body["details"] == {"field": "program_code"}
    assert_error(http.put(f"/pipelines/{_name()}", json={"description": "no program"}), 400, "MissingField")


def test_tags_and_description(http, new_pipeline):
    for tags in (["bad,tag"], ["a" * 51], [""], ["ok", "also,bad"], ["caf\u00e9"]):
        assert_error(_post(http, name=_name(), tags=tags, program_code=""), 400, "InvalidTag")
    assert_error(_post(http, name=_name(), tags=[f"t{i}" for i in range(51)], program_code=""), 400, "TooManyTags")
    assert_error(_post(http, name=_name(), description="a" * 301, program_code=""), 400, "TooLongDescription")
    name = _name()
    good = ["a-z_0/9", "with space", "pipe|sep", "back\\slash", "dot.dot", "key:value", "key=value"]
    try:
        r = _post(http, name=name, tags=good, description="a" * 300, program_code="")
        assert r.status_code == 201, r.text
        assert r.json()["tags"] == good
        assert_error(http.patch(f"/pipelines/{name}", json={"tags": ["bad?tag"]}), 400, "InvalidTag")
        assert_error(http.patch(f"/pipelines/{name}", json={"description": "a" * 301}), 400, "TooLongDescription")
        assert http.get(f"/pipelines/{name}").json()["tags"] == good
    finally:
        http.delete(f"/pipelines/{name}")


def test_invalid_runtime_and_program_config(http):
    for rc in ({"workers": "not-a-number"}, {"workers": 0}, {"fault_tolerance": {"model": "sometimes"}},
               {"resources": 3}, {"resources": {"storage_mb_max": "not-a-number"}}, {"cpu_profiler": "yes"},
               {"env": {"TOKIO_WORKER_THREADS": "1"}}, {"env": {"FELDERA_X": "1"}}, {"env": {"A": 1}}, "x"):
        assert_error(_post(http, name=_name(), program_code="", runtime_config=rc), 400, "InvalidRuntimeConfig")
    for pc in ({"profile": "non-existent-profile"}, {"cache": "no"}, [1]):
        assert_error(_post(http, name=_name(), program_code="", program_config=pc), 400, "InvalidProgramConfig")
    name = _name()
    try:
        r = _post(http, name=name, program_code="sql-3", runtime_config={
            "workers": 123, "env": {"TEST_ENV": "value"},
            "resources": {"cpu_cores_min": 5, "storage_mb_max": 2000, "storage_class": "normal"}},
                  program_config={"profile": "dev"}, udf_rust="rust-3", udf_toml="toml-3")
        assert r.status_code == 201, r.text
        p = r.json()
        assert p["runtime_config"]["workers"] == 123 and p["program_config"]["profile"] == "dev"
        assert p["runtime_config"]["env"] == {"TEST_ENV": "value"}
        assert p["runtime_config"]["resources"]["storage_mb_max"] == 2000
        assert (p["udf_rust"], p["udf_toml"]) == ("rust-3", "toml-3")
    finally:
        http.delete(f"/pipelines/{name}")


def test_rust_udfs_are_refused_by_name(http, new_pipeline):
    name = _name()
    try:
        assert _post(http, name=name, program_code=SQL, udf_rust="fn f() {}").status_code == 201
        p = http.get(f"/pipelines/{name}").json()
        assert p["program_status"] == "RustError"
        assert p["program_error"]["rust_compilation"]["exit_code"] == 1
        assert "Rust" in p["program_error"]["rust_compilation"]["stderr"]
        assert_error(http.post(f"/pipelines/{name}/start"), 400, "CannotStartWithCompilationError")
    finally:
        http.delete(f"/pipelines/{name}")


def test_runtime_config_edits_need_cleared_storage(http, new_pipeline):
    name = new_pipeline(SQL)
    http.post(f"/pipelines/{name}/start")
    _wait(http, name, "Running")
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    _wait(http, name, "Stopped")
    rc = http.get(f"/pipelines/{name}").json()["runtime_config"]
    assert rc["resources"]["storage_mb_max"] is None
    rc["resources"]["storage_mb_max"] = 5000
    body = assert_error(http.patch(f"/pipelines/{name}", json={"runtime_config": rc}),
                        400, "EditRestrictedToClearedStorage")
    assert body["details"]["not_allowed"] == ["`runtime_config.resources.storage_mb_max`"]
    body = assert_error(http.patch(f"/pipelines/{name}", json={"runtime_config": dict(rc, workers=4, hosts=2)}),
                        400, "EditRestrictedToClearedStorage")
    assert body["details"]["not_allowed"] == ["`runtime_config.workers`", "`runtime_config.hosts`",
                                              "`runtime_config.resources.storage_mb_max`"]
    assert http.get(f"/pipelines/{name}").json()["runtime_config"]["resources"]["storage_mb_max"] is None
    # Feldera's list is exact: other settings, resources such as the namespace included, may change
    allowed = http.get(f"/pipelines/{name}").json()["runtime_config"]
    allowed["resources"]["namespace"] = "example"
    ok = http.patch(f"/pipelines/{name}", json={"runtime_config": dict(allowed, cpu_profiler=False, hosts=1)})
    assert ok.status_code == 200, ok.text
    assert ok.json()["runtime_config"]["resources"]["namespace"] == "example"
    assert http.post(f"/pipelines/{name}/clear").status_code == 202
    wait_until(lambda: http.get(f"/pipelines/{name}").json()["storage_status"] == "Cleared", what="storage cleared")
    r = http.patch(f"/pipelines/{name}", json={"runtime_config": rc})
    assert r.status_code == 200, r.text
    assert r.json()["runtime_config"]["resources"]["storage_mb_max"] == 5000


def test_start_rules(http, new_pipeline):
    name = new_pipeline(SQL)
    assert_error(http.post(f"/pipelines/{name}/start", params={"initial": "standby"}), 400, "InitialStandbyNotAllowed")
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    _wait(http, name, "Running")
    assert http.post(f"/pipelines/{name}/start").status_code == 202  # the same initial again: nothing to do
    assert_error(http.post(f"/pipelines/{name}/start", params={"initial": "paused"}), 400,
                 "InitialImmutableUnlessStopped")
    assert_error(http.post(f"/pipelines/{name}/start", params={"bootstrap_policy": "reject"}), 400,
                 "BootstrapPolicyImmutableUnlessStopped")
    assert _status(http, name) == "Running"
    assert_error(http.post(f"/pipelines/{name}/clear"), 400, "StorageStatusImmutableUnlessStopped")
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    _wait(http, name, "Stopped")
    assert http.post(f"/pipelines/{name}/start", params={"initial": "paused", "bootstrap_policy": "reject"}).status_code \
        == 202
    _wait(http, name, "Paused")
    p = http.get(f"/pipelines/{name}", params={"selector": "status"}).json()
    assert p["bootstrap_policy"] == "reject" and p["deployment_initial"] == "paused"
    assert_error(http.post(f"/pipelines/{name}/start"), 400, "InitialImmutableUnlessStopped")
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    _wait(http, name, "Stopped")
    assert http.get(f"/pipelines/{name}", params={"selector": "status"}).json()["bootstrap_policy"] is None
