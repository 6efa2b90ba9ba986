"""Crash on purpose: SIGKILL the real engine, restart it on the same data directory, check what survived.

Also the injected storage faults (disk full, failed fsync, permission denied): ingress answers 503 with
nothing acknowledged that is not durable, reads keep working, and writing resumes once the cause is gone.
"""

from __future__ import annotations

import os
import random
import threading
import time

import httpx
import orjson
import pytest

from webapp.engine.testing import EngineProcess, wait_processed, wait_status, wait_until

SQL = """
CREATE TABLE events (w INT NOT NULL, i INT NOT NULL, payload VARCHAR);
CREATE MATERIALIZED VIEW per_writer AS SELECT w, COUNT(*) AS n, SUM(i) AS s FROM events GROUP BY w;
CREATE MATERIALIZED VIEW odd AS SELECT w, i FROM events WHERE i % 2 = 1;
"""


def _start_pipeline(url: str, name: str = "crash") -> None:
    with httpx.Client(base_url=url + "/v0", timeout=30) as c:
        r = c.put(f"/pipelines/{name}", json={"program_code": SQL})
        assert r.status_code in (200, 201), r.text
        assert c.post(f"/pipelines/{name}/start").status_code == 202
    _wait_running(url, name)


def _wait_running(url: str, name: str, timeout: float = 30) -> None:
    def running():
        try:
            return httpx.get(f"{url}/v0/pipelines/{name}?selector=status", timeout=5).json().get(
                "deployment_status") == "Running"
        except httpx.HTTPError:  # a restarted engine may not answer yet
            return False
    wait_until(running, timeout, f"pipeline {name} to run at {url}", interval=0.05)


def _wait_token(url: str, token: str, name: str = "crash") -> None:
    with httpx.Client(base_url=url + "/v0", timeout=30) as c:
        wait_processed(c, name, token, 20)


def _query(url: str, sql: str, name: str = "crash") -> list[dict]:
    r = httpx.get(f"{url}/v0/pipelines/{name}/query", params={"sql": sql, "format": "json"}, timeout=30)
    assert r.status_code == 200, r.text
    return [orjson.loads(line) for line in r.text.splitlines() if line.strip()]


def _crash(eng: EngineProcess, way: str, data_dir) -> EngineProcess:
    """Crash the engine ``way`` and return the engine serving afterwards. A restart must work at its
    first attempt: ``start()`` raises if the data directory is still held (by a worker outliving its
    master, say)."""
    if way == "worker":
        old = eng.kill_worker()
        _wait_for_new_worker(eng, old)
        return eng  # the master starts a new worker, which recovers from the log
    if way == "pid":
        eng.kill_master()  # `kill -9 <pid>`: the worker is killed by its parent-death signal, not by us
    else:
        eng.kill()  # the whole process group at once
    return EngineProcess(data_dir).start()


def _wait_for_new_worker(eng: EngineProcess, old: int, timeout: float = 30) -> None:
    def answers():
        pids = eng.worker_pids
        return pids and old not in pids and httpx.get(eng.url + "/v0/config", timeout=5).status_code == 200
    wait_until(answers, timeout, f"a new worker to answer after killing {old}", interval=0.05,
               ignore=(httpx.HTTPError,), detail=lambda: f"log:\n{eng.log}")


@pytest.mark.parametrize("way", ["pid", "group", "worker"])
@pytest.mark.parametrize("kills", [int(os.environ.get("SLUICE_CRASH_KILLS", "3"))])
def test_sigkill_loses_nothing_acknowledged_and_applies_nothing_twice(tmp_path, kills, way):
    rng = random.Random(7)
    eng = EngineProcess(tmp_path / "data").start()
    url = {"v": eng.url}
    _start_pipeline(eng.url)
    writers, per_writer, rows_per_request = 4, 30 if kills <= 3 else 200, 5
    acked: dict[int, int] = {}
    sent: set[tuple[int, int]] = set()
    done = threading.Event()
    errors: list[str] = []

    def writer(w: int) -> None:
        with httpx.Client(timeout=10) as c:
            for req in range(per_writer):
                rows = [{"w": w, "i": req * rows_per_request + j, "payload": f"w{w}r{req}"} for j in range(rows_per_request)]
                body = b"\n".join(orjson.dumps(r) for r in rows)
                sent.update((w, r["i"]) for r in rows)
                key = f"w{w}-r{req}"
                for attempt in range(2000):
                    try:
                        r = c.post(f"{url['v']}/v0/pipelines/crash/ingress/events",
                                   params={"format": "json", "update_format": "raw"}, content=body,
                                   headers={"Idempotency-Key": key})
                        if r.status_code == 200:
                            acked[w] = acked.get(w, 0) + 1
                            break
                        if r.status_code not in (503, 410):
                            errors.append(f"{r.status_code} {r.text}")
                            return
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.02)  # a client's pause between retries while the engine restarts
                else:
                    errors.append(f"writer {w} gave up on request {req}")
                    return

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(0.2, 1.0))  # a random moment to crash at, not a wait for anything
            eng = _crash(eng, way, tmp_path / "data")
            url["v"] = eng.url
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert all(acked.get(w) == per_writer for w in range(writers)), acked
        # One more crash after the last acknowledgement: everything must come back.
        eng = _crash(eng, way, tmp_path / "data")
        _wait_running(eng.url, "crash")
        rows = _query(eng.url, "SELECT w, i, COUNT(*) AS c FROM events GROUP BY w, i")
        got = {(r["w"], r["i"]): r["c"] for r in rows}
        assert set(got) == sent, f"missing {len(sent - set(got))}, unexpected {len(set(got) - sent)}"
        assert all(c == 1 for c in got.values()), {k: c for k, c in got.items() if c != 1}
        # Views equal their query recomputed from the recovered table.
        view = sorted((r["w"], r["n"], str(r["s"])) for r in _query(eng.url, "SELECT * FROM per_writer"))
        fresh = sorted((r["w"], r["n"], str(r["s"])) for r in _query(
            eng.url, "SELECT w, COUNT(*) AS n, SUM(i) AS s FROM events GROUP BY w"))
        assert view == fresh
        odd = sorted((r["w"], r["i"]) for r in _query(eng.url, "SELECT * FROM odd"))
        assert odd == sorted(k for k in sent if k[1] % 2 == 1)
    finally:
        done.set()
        eng.stop()


def test_log_without_checkpoint_and_checkpoint_without_log(tmp_path):
    data = tmp_path / "data"
    with EngineProcess(data) as eng:
        _start_pipeline(eng.url)
        r = httpx.post(f"{eng.url}/v0/pipelines/crash/ingress/events?format=json&update_format=raw",
                       content=b'{"w":1,"i":1}\n{"w":1,"i":2}')
        assert r.status_code == 200
        eng.kill()  # no checkpoint was ever written: the log alone must bring the rows back
    assert not list((data / "checkpoints").glob("*/ckpt-*"))
    with EngineProcess(data) as eng:
        _wait_running(eng.url, "crash")
        assert sorted(r["i"] for r in _query(eng.url, "SELECT i FROM events")) == [1, 2]
        assert httpx.post(f"{eng.url}/v0/pipelines/crash/stop?force=true").status_code == 202
        with eng.client() as c:
            wait_status(c, "crash", "Stopped")
    assert list((data / "checkpoints").glob("*/ckpt-*"))
    for seg in (data / "wal").glob("*.wal"):
        seg.unlink()  # the checkpoint alone must bring the rows back
    with EngineProcess(data) as eng:
        st = httpx.get(f"{eng.url}/v0/pipelines/crash?selector=status").json()
        assert st["deployment_status"] == "Stopped" and st["storage_status"] == "InUse"
        assert httpx.post(f"{eng.url}/v0/pipelines/crash/start").status_code == 202
        _wait_running(eng.url, "crash")
        assert sorted(r["i"] for r in _query(eng.url, "SELECT i FROM events")) == [1, 2]


def test_torn_write_after_the_last_acknowledged_record_is_ignored(tmp_path):
    data = tmp_path / "data"
    with EngineProcess(data) as eng:
        _start_pipeline(eng.url)
        for i in range(3):
            assert httpx.post(f"{eng.url}/v0/pipelines/crash/ingress/events?format=json&update_format=raw",
                              content=orjson.dumps({"w": 0, "i": i})).status_code == 200
        eng.kill()
    seg = sorted((data / "wal").glob("*.wal"))[-1]
    with open(seg, "ab") as f:
        f.write(b"RWLS" + os.urandom(50))  # a partial record, as a crash in the middle of write leaves
    with EngineProcess(data) as eng:
        _wait_running(eng.url, "crash")
        assert sorted(r["i"] for r in _query(eng.url, "SELECT i FROM events")) == [0, 1, 2]
        assert "incomplete record" in eng.log


def test_corruption_before_the_end_refuses_to_start_and_recover_keeps_the_prefix(tmp_path):
    import subprocess
    import sys
    data = tmp_path / "data"
    with EngineProcess(data) as eng:
        _start_pipeline(eng.url)
        for i in range(6):
            assert httpx.post(f"{eng.url}/v0/pipelines/crash/ingress/events?format=json&update_format=raw",
                              content=orjson.dumps({"w": 0, "i": i})).status_code == 200
        eng.kill()
    seg = sorted((data / "wal").glob("*.wal"))[-1]
    buf = bytearray(seg.read_bytes())
    third = buf.find(b'{"w":0,"i":2}')  # inside the third record's payload
    assert third > 0
    buf[third + 3] ^= 0x20
    seg.write_bytes(bytes(buf))
    proc = subprocess.run([sys.executable, "-m", "webapp.cli", "engine", "--port", "0", "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "damaged at byte" in proc.stdout + proc.stderr and "sluice wal recover" in proc.stdout + proc.stderr
    rec = subprocess.run([sys.executable, "-m", "webapp.cli", "wal", "recover", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=60)
    assert rec.returncode == 0, rec.stderr
    report = orjson.loads(rec.stdout[: rec.stdout.rindex("}") + 1])
    assert report["dropped_records_found"] == 3  # records 4..6 were intact but after the damage
    with EngineProcess(data) as eng:
        _wait_running(eng.url, "crash")
        assert sorted(r["i"] for r in _query(eng.url, "SELECT i FROM events")) == [0, 1]


@pytest.mark.parametrize("rule", [
    {"op": "write", "errno": "ENOSPC", "path": ".wal"},
    {"op": "fsync", "errno": "EIO", "path": ".wal"},
    {"op": "open", "errno": "EACCES", "path": ".wal"},
], ids=["ENOSPC-on-write", "EIO-on-fsync", "EACCES-on-open"])
def test_storage_faults_refuse_input_keep_reads_and_recover(tmp_path, rule):
    faults = tmp_path / "faults.json"
    faults.write_text("[]")
    data = tmp_path / "data"
    with EngineProcess(data, env={"SLUICE_FAULTS": str(faults)}) as eng:
        _start_pipeline(eng.url)
        ingest = f"{eng.url}/v0/pipelines/crash/ingress/events?format=json&update_format=raw"
        r = httpx.post(ingest, content=b'{"w":1,"i":1}')
        assert r.status_code == 200
        _wait_token(eng.url, r.json()["token"])
        if rule["op"] == "open":
            # opening happens when a segment starts: force one by failing a write first
            faults.write_text(orjson.dumps([{"op": "write", "errno": "EIO", "path": ".wal", "times": 1}, rule]).decode())
        else:
            faults.write_text(orjson.dumps([rule]).decode())
        r = httpx.post(ingest, content=b'{"w":1,"i":2}', timeout=60)
        assert r.status_code == 503, r.text
        assert r.json()["error_code"] == "StorageUnavailable" and "retry" in r.json()["message"]
        r = httpx.post(ingest, content=b'{"w":1,"i":3}', timeout=60)
        assert r.status_code == 503
        # reads keep working
        assert sorted(x["i"] for x in _query(eng.url, "SELECT i FROM events")) == [1]
        faults.write_text("[]")
        assert httpx.post(ingest, content=b'{"w":1,"i":4}', timeout=60).status_code == 200
        wait_until(lambda: sorted(x["i"] for x in _query(eng.url, "SELECT i FROM events")) == [1, 4], 10,
                   "the record accepted after the fault to be processed")
        eng.kill()
    with EngineProcess(data) as eng:
        _wait_running(eng.url, "crash")
        # exactly what was acknowledged: refused records did not come back from the log
        assert sorted(x["i"] for x in _query(eng.url, "SELECT i FROM events")) == [1, 4]
