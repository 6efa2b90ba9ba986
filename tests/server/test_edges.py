"""Edge cases found in review: each once returned the wrong answer or lost data."""

import subprocess
import sys

import orjson

from webapp.engine.testing import EngineProcess, wait_processed, wait_status


def _ids(c, name, sql):
    r = c.get(f"/pipelines/{name}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    return sorted(orjson.loads(x)["id"] for x in r.text.splitlines() if x.strip())


def _push(c, name, ids):
    r = c.post(f"/pipelines/{name}/ingress/t?format=json&update_format=raw",
               content=b"\n".join(b'{"id":%d}' % i for i in ids))
    assert r.status_code == 200, r.text
    wait_processed(c, name, r.json()["token"])


def test_records_after_wal_recover_survive_a_crash(tmp_path):
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        c.put("/pipelines/w", json={"program_code": "CREATE TABLE t (id INT);"})
        c.post("/pipelines/w/start")
        wait_status(c, "w", "Running")
        _push(c, "w", [1, 2, 3])
    # the checkpoint written at shutdown covers 1..3; cut the log back to nothing
    r = subprocess.run([sys.executable, "-m", "webapp.cli", "wal", "recover", "--data-dir", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for seg in (tmp_path / "wal").glob("*.wal"):
        seg.unlink()
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        wait_status(c, "w", "Running")
        _push(c, "w", [4, 5])
        eng.kill()
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        wait_status(c, "w", "Running")
        assert _ids(c, "w", "SELECT id FROM t") == [1, 2, 3, 4, 5]


def test_a_program_with_errors_keeps_the_stored_data(tmp_path):
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        c.put("/pipelines/e", json={"program_code": "CREATE TABLE t (id INT);"})
        c.post("/pipelines/e/start")
        wait_status(c, "e", "Running")
        _push(c, "e", [7, 8])
        c.post("/pipelines/e/stop?force=true")
        wait_status(c, "e", "Stopped")
        c.put("/pipelines/e", json={"program_code": "CREATE TABLE t (id INT); CREATE VIEW v AS SELEC 1;"})
        bad = c.get("/pipelines/e").json()
        assert bad["program_status"] == "SqlError" and bad["storage_status"] == "InUse"
        eng.kill()
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        c.put("/pipelines/e", json={"program_code": "CREATE TABLE t (id INT); CREATE VIEW v AS SELECT 1 AS one;"})
        good = c.get("/pipelines/e")
        assert good.json()["program_info"]["sluice"]["kept_tables"] == ["t"]
        c.post("/pipelines/e/start")
        wait_status(c, "e", "Running")
        assert _ids(c, "e", "SELECT id FROM t") == [7, 8]


def test_local_views_are_not_readable(engine):
    c = engine.client()
    c.put("/pipelines/lv", json={"program_code": "CREATE TABLE t (id INT); CREATE LOCAL VIEW hidden AS SELECT * FROM t;"
                                                 "CREATE VIEW shown AS SELECT * FROM hidden;"})
    c.post("/pipelines/lv/start")
    wait_status(c, "lv", "Running")
    r = c.get("/pipelines/lv/query", params={"sql": "SELECT * FROM hidden"})
    assert r.status_code == 400 and r.json()["error_code"] == "AdHocQueryError" and "LOCAL" in r.json()["message"]
    assert c.get("/pipelines/lv/query", params={"sql": "SELECT * FROM shown"}).status_code == 200
    r = c.post("/pipelines/lv/egress/hidden?format=json")
    assert r.status_code == 404 and r.json()["error_code"] == "UnknownOutputStream"
    c.post("/pipelines/lv/stop?force=true")


def test_chunked_body_over_the_limit_gets_413(tmp_path):
    with EngineProcess(tmp_path, "--max-body-mb", "0.01") as eng:
        c = eng.client()
        c.put("/pipelines/ch", json={"program_code": "CREATE TABLE t (id INT);"})
        c.post("/pipelines/ch/start")
        wait_status(c, "ch", "Running")

        def body():  # a generator: httpx sends it chunked, without Content-Length
            for i in range(3000):
                yield b'{"id":%d}\n' % i

        r = c.post("/pipelines/ch/ingress/t?format=json&update_format=raw", content=body())
        assert r.status_code == 413 and r.json()["error_code"] == "PayloadTooLarge"
        assert _ids(c, "ch", "SELECT id FROM t") == []


def test_fault_tolerance_null_means_no_log(engine):
    c = engine.client()
    r = c.put("/pipelines/ftn", json={"program_code": "CREATE TABLE t (id INT);", "runtime_config": {"fault_tolerance": None}})
    assert r.json()["runtime_config"]["fault_tolerance"] is None
    r = c.put("/pipelines/ftd", json={"program_code": "CREATE TABLE t (id INT);"})
    assert r.json()["runtime_config"]["fault_tolerance"]["model"] == "exactly_once"


def test_fields_of_the_wrong_type_are_400(engine):
    c = engine.client()
    for body in ({"program_code": 5}, {"program_code": "", "runtime_config": "x"}, {"program_code": "", "tags": "abc"},
                 {"program_code": "", "description": 3}):
        r = c.put("/pipelines/typed", json=body)
        code = "InvalidRuntimeConfig" if "runtime_config" in body else "InvalidParam"
        assert r.status_code == 400 and r.json()["error_code"] == code, (body, r.text)
    c.put("/pipelines/typed", json={"program_code": ""})
    r = c.patch("/pipelines/typed", json={"program_code": 7})
    assert r.status_code == 400 and r.json()["error_code"] == "InvalidParam"
