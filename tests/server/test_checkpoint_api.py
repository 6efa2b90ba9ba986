"""Checkpoints on request over real HTTP, in Feldera's shapes: POST .../checkpoint numbers the request,
.../checkpoint_status reports the newest success, .../checkpoints lists what is on disk, which a crash leaves in place."""

from __future__ import annotations

import pytest

from webapp.engine.testing import EngineProcess, push_and_wait, wait_status, wait_until

SQL = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, x INT);"


def _wait_success(http, name, seq, incarnation=None, timeout=20.0):
    def succeeded():
        r = http.get(f"/pipelines/{name}/checkpoint_status", params={"incarnation_uuid": incarnation} if incarnation else {})
        assert r.status_code == 200, r.text
        return r.json() if r.json()["success"] == seq else None
    return wait_until(succeeded, timeout, f"checkpoint {seq} to succeed", interval=0.05)


def test_checkpoint_and_its_status(http, make_pipeline):
    name = make_pipeline(SQL)
    assert http.get(f"/pipelines/{name}/checkpoint_status").json() == {"success": None, "failure": None}
    push_and_wait(http, name, "t", [{"insert": {"id": 1, "x": 1}}])
    r = http.post(f"/pipelines/{name}/checkpoint")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["checkpoint_sequence_number"] == 1
    inc = http.get(f"/pipelines/{name}/stats").json()["global_metrics"]["incarnation_uuid"]
    assert body["incarnation_uuid"] == inc
    assert _wait_success(http, name, 1, inc) == {"success": 1, "failure": None}
    assert http.post(f"/pipelines/{name}/checkpoint").json()["checkpoint_sequence_number"] == 2
    _wait_success(http, name, 2)
    # Feldera's CheckpointActivity shape, tagged by "status"; nothing is being written once both succeeded
    assert http.get(f"/pipelines/{name}/stats").json()["checkpoint_activity"] == {"status": "idle"}
    listed = http.get(f"/pipelines/{name}/checkpoints").json()
    assert len(listed) == 1 and set(listed[0]) == {"uuid", "identifier", "fingerprint", "size", "steps",
                                                  "processed_records"}
    assert listed[0]["size"] > 0
    # storage_bytes counts the checkpoints on disk (sampled once a second)
    wait_until(lambda: http.get(f"/pipelines/{name}/stats").json()["global_metrics"]["storage_bytes"]
               >= listed[0]["size"], 10, "stats to count the checkpoint's bytes", interval=0.1)
    r = http.get(f"/pipelines/{name}/checkpoint_status", params={"incarnation_uuid": "00000000-0000-0000-0000-0"})
    assert r.status_code == 400 and r.json()["error_code"] == "IncarnationUuidMismatch"


def test_checkpoint_refusals(http, make_pipeline, new_pipeline):
    stopped = new_pipeline(SQL)
    r = http.post(f"/pipelines/{stopped}/checkpoint")
    assert r.status_code == 503 and r.json()["error_code"] == "PipelineInteractionNotDeployed"
    r = http.put("/pipelines/noft", json={"name": "noft", "program_code": SQL,
                                          "runtime_config": {"fault_tolerance": None}})
    assert r.status_code in (200, 201), r.text
    try:
        assert http.post("/pipelines/noft/start").status_code == 202
        wait_status(http, "noft", "Running")
        r = http.post("/pipelines/noft/checkpoint")
        assert r.status_code == 400 and r.json()["error_code"] == "CheckpointsDisabled"
    finally:
        http.post("/pipelines/noft/stop", params={"force": "true"})
        try:
            wait_status(http, "noft", "Stopped")
        finally:
            http.post("/pipelines/noft/clear")  # Feldera deletes only a pipeline whose storage is cleared
            http.delete("/pipelines/noft")


def test_a_requested_checkpoint_survives_a_crash(tmp_path):
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        c.put("/pipelines/ck", json={"name": "ck", "program_code": SQL})
        c.post("/pipelines/ck/start")
        wait_status(c, "ck", "Running")
        push_and_wait(c, "ck", "t", [{"insert": {"id": i, "x": i}} for i in range(5)])
        seq = c.post("/pipelines/ck/checkpoint").json()["checkpoint_sequence_number"]
        _wait_success(c, "ck", seq)
        listed = c.get("/pipelines/ck/checkpoints").json()
        eng.kill()  # SIGKILL: only the checkpoint and the log survive
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        wait_status(c, "ck", "Running")
        assert c.get("/pipelines/ck/checkpoints").json() == listed
        r = c.get("/pipelines/ck/query", params={"sql": "SELECT count(*) AS n FROM t", "format": "json"})
        assert r.json() == {"n": 5}


def test_official_client(engine, make_pipeline):
    feldera = pytest.importorskip("feldera")
    name = make_pipeline(SQL)
    p = feldera.Pipeline.get(name, feldera.FelderaClient(engine.url))
    seq = p.checkpoint(wait=True, timeout_s=30)
    assert seq == 1
    from feldera.enums import CheckpointStatus
    assert p.checkpoint_status(seq) == CheckpointStatus.Success
    assert [c.identifier for c in p.checkpoints()] and p.checkpoints()[0].size > 0


def test_storage_status_details_list_the_checkpoints_on_disk(http, new_pipeline):
    """Feldera's sequence (python/tests/platform: storage_status_details without checkpoints): null while
    cleared, no checkpoints while nothing was processed, through starts and stops; then the real one."""
    name = new_pipeline(SQL)

    def details():
        st = http.get(f"/pipelines/{name}", params={"selector": "status"}).json()
        return st["storage_status"], st["storage_status_details"]

    def cycle(listed):
        assert http.post(f"/pipelines/{name}/start").status_code == 202
        wait_status(http, name, "Running")
        assert details() == ("InUse", {"checkpoints": listed})

    assert details() == ("Cleared", None)
    for _ in range(2):
        cycle([])
        http.post(f"/pipelines/{name}/stop", params={"force": "true"})
        wait_status(http, name, "Stopped")
        assert details() == ("InUse", {"checkpoints": []})
    cycle([])
    push_and_wait(http, name, "t", [{"insert": {"id": 1, "x": 1}}])
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    wait_status(http, name, "Stopped")
    status, got = details()
    assert status == "InUse" and len(got["checkpoints"]) == 1, got
    assert got["checkpoints"] == http.get(f"/pipelines/{name}/checkpoints").json()
    assert got["checkpoints"][0]["size"] > 0
    cycle(got["checkpoints"])  # a run that processes nothing leaves the same checkpoint
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    wait_status(http, name, "Stopped")
    assert details() == ("InUse", got)
    assert http.post(f"/pipelines/{name}/clear").status_code == 202
    assert details() == ("Cleared", None)
