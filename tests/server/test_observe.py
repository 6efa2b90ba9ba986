"""Watching a pipeline over real HTTP: /healthz, logs (Feldera's cursor protocol), metrics, circuit
profile and support bundle, each as Feldera documents them."""

from __future__ import annotations

import io
import json
import time
import zipfile

import httpx
import pytest

from webapp.engine.testing import EngineProcess, push_and_wait, wait_status, wait_until

SQL = ("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, x INT);\n"
       "CREATE MATERIALIZED VIEW v AS SELECT x, count(*) AS n FROM t GROUP BY x;")


class LogReader:
    """``GET .../logs`` read line by line (split on \\n alone, as Feldera's client counts them)."""

    def __init__(self, base: str, pipeline: str, cursor: str | None = None):
        params = {} if cursor is None else {"cursor": cursor}
        self.client = httpx.Client(timeout=httpx.Timeout(30, read=20))
        self.resp = self.client.send(self.client.build_request("GET", f"{base}/v0/pipelines/{pipeline}/logs",
                                                               params=params), stream=True)
        self.lines: list[str] = []
        self._bytes = self.resp.iter_bytes()
        self._pending = b""

    def until(self, predicate, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while not any(predicate(line) for line in self.lines):
            assert time.monotonic() < deadline, f"no such log line within {timeout} s: {self.lines}"
            chunk = next(self._bytes)
            self._pending += chunk
            *done, self._pending = self._pending.split(b"\n")
            self.lines += [d.decode() for d in done]
        return self.lines

    def rest(self) -> list[str]:
        """Every line until the server ends the stream."""
        for chunk in self._bytes:
            self._pending += chunk
        return self.lines + [d.decode() for d in self._pending.split(b"\n") if d]

    def close(self):
        self.resp.close()
        self.client.close()


def test_healthz(engine):
    r = httpx.get(engine.url + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "healthy"}


def test_logs_show_the_lifecycle_and_resume_from_a_cursor(engine, http, make_pipeline):
    name = make_pipeline(SQL)
    rd = LogReader(engine.url, name)
    try:
        h = rd.resp.headers
        assert rd.resp.status_code == 200 and h["content-type"].startswith("text/plain")
        assert h["feldera-logs-seq"] == "0" and h["feldera-logs-gap"] == "0" and h["feldera-logs-epoch"]
        lines = rd.until(lambda s: "Initializing -> Running" in s)
        assert any("Stopped -> Provisioning" in s for s in lines)
        assert all(s[:4].isdigit() and " INFO " in s for s in lines)
        # A line logged after the stream opened arrives on the same stream.
        r = http.post(f"/pipelines/{name}/pause")
        assert r.status_code == 202
        lines = list(rd.until(lambda s: "Running -> Paused" in s))
        cursor = f"{h['feldera-logs-epoch']}:2"
    finally:
        rd.close()
    again = LogReader(engine.url, name, cursor)
    try:
        assert again.resp.headers["feldera-logs-seq"] == "2" and again.resp.headers["feldera-logs-gap"] == "0"
        assert again.until(lambda s: "Running -> Paused" in s)[:len(lines) - 2] == lines[2:]
    finally:
        again.close()


def test_logs_answer_at_once_while_nothing_is_logged(engine, new_pipeline):
    """A pipeline that has logged nothing yet answers 200 with its headers at once (Feldera's platform test
    polls for that status right after creating one), not only with its first line."""
    name = new_pipeline("CREATE TABLE t (x INT);")
    with httpx.Client(timeout=httpx.Timeout(10, read=5)) as c:
        with c.stream("GET", f"{engine.url}/v0/pipelines/{name}/logs") as r:
            assert r.status_code == 200 and r.headers["feldera-logs-seq"] == "0"


def test_logs_of_an_unknown_pipeline(http):
    r = http.get("/pipelines/nosuch/logs")
    assert r.status_code == 404 and r.json()["error_code"] == "UnknownPipelineName"


def test_logs_survive_stop_and_start_end_on_delete_and_restart_with_a_new_epoch(tmp_path):
    with EngineProcess(tmp_path, "--log-lines", "4") as eng:
        c = eng.client()
        c.put("/pipelines/lg", json={"name": "lg", "program_code": SQL})
        for action, status in (("start", "Running"), ("stop?force=true", "Stopped"), ("start", "Running")):
            assert c.post(f"/pipelines/lg/{action}").status_code == 202
            wait_status(c, "lg", status)
        rd = LogReader(eng.url, "lg")
        epoch, first = rd.resp.headers["feldera-logs-epoch"], int(rd.resp.headers["feldera-logs-seq"])
        lines = rd.until(lambda s: "Initializing -> Running" in s)
        rd.close()
        assert len(lines) == 4 and first > 0  # only the newest 4 lines are kept
        # A cursor from before the kept lines starts at the oldest kept one and names the lines missed.
        old = LogReader(eng.url, "lg", f"{epoch}:1")
        assert old.resp.headers["feldera-logs-seq"] == str(first)
        assert old.resp.headers["feldera-logs-gap"] == str(first - 1)
        old.close()
        push_and_wait(c, "lg", "t", [{"insert": {"id": 1, "x": 1}}])
    with EngineProcess(tmp_path) as eng:  # the same data: the pipeline comes back running
        c = eng.client()
        wait_status(c, "lg", "Running")
        rd = LogReader(eng.url, "lg", f"{epoch}:{first}")
        assert rd.resp.headers["feldera-logs-epoch"] != epoch and rd.resp.headers["feldera-logs-seq"] == "0"
        lines = rd.until(lambda s: "Initializing -> Running" in s)
        assert "Fresh start of pipeline logs" in lines[0] and "the engine restarted" in lines[1]
        assert c.post("/pipelines/lg/stop?force=true").status_code == 202
        wait_status(c, "lg", "Stopped")
        assert c.post("/pipelines/lg/clear").status_code == 202
        assert c.delete("/pipelines/lg").status_code == 200
        assert any("Running -> Stopping" in s for s in rd.rest())  # the stream ended with the pipeline
        rd.close()
        # A new pipeline of the same name starts a new log.
        c.put("/pipelines/lg", json={"name": "lg", "program_code": SQL})
        assert c.post("/pipelines/lg/start").status_code == 202
        fresh = LogReader(eng.url, "lg")
        assert fresh.resp.headers["feldera-logs-epoch"] != rd.resp.headers["feldera-logs-epoch"]
        opening, start = fresh.until(lambda s: "Provisioning" in s)[:2]
        assert "Fresh start of pipeline logs" in opening and "Stopped -> Provisioning" in start
        fresh.close()


def test_a_failed_step_is_in_the_log(engine, http, make_pipeline):
    name = make_pipeline("CREATE TABLE t (x INT);\n"
                         "CREATE MATERIALIZED VIEW v AS SELECT CAST(CAST(x AS VARCHAR) || 'x' AS INT) AS y FROM t;")
    rd = LogReader(engine.url, name)
    try:
        r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"}, content='{"insert": {"x": 1}}')
        assert r.status_code == 200, r.text
        lines = rd.until(lambda s: "ERROR" in s and "step failed" in s)
        assert any(s.startswith("    ") for s in lines)  # the traceback, one indented line per line
    finally:
        rd.close()


def test_refused_records_are_in_the_pipelines_log(engine, http, make_pipeline):
    """A producer's bad record: the refusal, with its reason, is in the pipeline's own log (the logs page
    shows it), not only in the engine's terminal."""
    name = make_pipeline(SQL)
    rd = LogReader(engine.url, name)
    try:
        r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw"},
                      content='{"id": 1, "x": 1}\n{"id": "two", "x": 2}\n')
        assert r.status_code == 400 and r.json()["error_code"] == "ParseErrors", r.text
        lines = rd.until(lambda s: "ParseErrors" in s)
        [line] = [s for s in lines if "ParseErrors" in s]
        assert f"POST /v0/pipelines/{name}/ingress/t -> 400 ParseErrors: " in line and "INFO" in line
    finally:
        rd.close()


def test_pipeline_metrics(http, make_pipeline):
    name = make_pipeline(SQL)
    push_and_wait(http, name, "t", [{"insert": {"id": 1, "x": 5}}, {"insert": {"id": 2, "x": 5}}])
    r = http.get(f"/pipelines/{name}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert f'records_processed_total{{pipeline="{name}"}} 2' in r.text
    assert f'sluice_view_time_seconds_total{{pipeline="{name}",view="v"}}' in r.text
    assert all(f'pipeline="{name}"' in line for line in r.text.splitlines() if not line.startswith("#"))
    fams = {f["key"]: f for f in http.get(f"/pipelines/{name}/metrics", params={"format": "json"}).json()}
    assert fams["records_processed_total"]["values"] == [{"labels": {"pipeline": name}, "value": 2}]
    r = http.get(f"/pipelines/{name}/metrics", params={"format": "xml"})
    assert r.status_code == 400 and r.json()["error_code"] == "InvalidParam"


def test_metrics_of_a_stopped_pipeline(http, new_pipeline):
    name = new_pipeline(SQL)
    r = http.get(f"/pipelines/{name}/metrics")
    assert r.status_code == 503 and r.json()["error_code"] == "PipelineInteractionNotDeployed"


def test_circuit_json_profile(http, make_pipeline):
    name = make_pipeline(SQL)
    push_and_wait(http, name, "t", [{"insert": {"id": i, "x": i % 3}} for i in range(10)])
    r = http.get(f"/pipelines/{name}/circuit_json_profile")
    # Streamed as Feldera's API server passes the pipeline's profile through: chunked, not encoded.
    assert r.headers.get("transfer-encoding") == "chunked" and "content-encoding" not in r.headers
    prof = r.json()
    nodes = {n["name"]: n for n in prof["nodes"]}
    assert nodes["t"]["kind"] == "table" and nodes["t"]["rows"] == 10
    v = nodes["v"]
    assert v["rows"] == 3 and v["inputs"] == ["t"] and v["steps"] == 1 and v["time_msecs"] > 0
    assert prof["total_completed_steps"] == 1 and sum(prof["memory"]["duckdb_bytes"].values()) > 0
    # A profile describes the pipeline, not when it was asked for: with no step between, the same again
    # (Feldera's platform test compares two profiles of an idle pipeline).
    assert http.get(f"/pipelines/{name}/circuit_json_profile").json() == prof


def test_circuit_profile_is_a_zip_with_a_graph(http, make_pipeline):
    name = make_pipeline(SQL)
    r = http.get(f"/pipelines/{name}/circuit_profile")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers.get("transfer-encoding") == "chunked" and "content-encoding" not in r.headers
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(z.namelist()) == ["circuit.dot", "profile.json"]
    assert '"t" -> "v";' in z.read("circuit.dot").decode()


def test_pipeline_events_record_each_status_change_newest_first(http, new_pipeline):
    """Feldera's pipeline monitor events (docs: operations/pipeline-monitoring; its platform test of
    /events): newest first, ``selector=status`` the status fields, ``all`` adding details and error,
    ``latest`` or an event's id for one, 404 UnknownPipelineMonitorEvent for an unknown one."""
    name = new_pipeline(SQL)
    for action, status in (("start", "Running"), ("pause", "Paused"), ("stop?force=true", "Stopped")):
        assert http.post(f"/pipelines/{name}/{action}").status_code == 202
        wait_status(http, name, status)
    events = http.get(f"/pipelines/{name}/events").json()
    assert all(set(e) == {"event_id", "recorded_at", "deployment_resources_status",
                          "deployment_resources_desired_status", "deployment_runtime_status",
                          "deployment_runtime_desired_status", "deployment_has_error", "program_status",
                          "storage_status"} for e in events)
    seen = [(e["deployment_resources_status"], e["deployment_runtime_status"]) for e in reversed(events)]
    for step in (("Stopped", None), ("Provisioned", "Running"), ("Provisioned", "Paused"), ("Stopped", None)):
        assert step in seen, seen
        seen = seen[seen.index(step) + 1:]  # in this order
    assert [e["recorded_at"] for e in events] == sorted((e["recorded_at"] for e in events), reverse=True)
    latest = http.get(f"/pipelines/{name}/events/latest", params={"selector": "all"}).json()
    assert latest["event_id"] == events[0]["event_id"] and "deployment_error" in latest
    assert http.get(f"/pipelines/{name}/events/{events[-1]['event_id']}").json() == events[-1]
    r = http.get(f"/pipelines/{name}/events/nosuch")
    assert r.status_code == 404 and r.json()["error_code"] == "UnknownPipelineMonitorEvent"


def _bundle(r):
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    meta = json.loads(z.read("metadata.json"))
    return z, meta


def test_support_bundle(http, make_pipeline):
    name = make_pipeline(SQL)
    push_and_wait(http, name, "t", [{"insert": {"id": 1, "x": 1}}])
    r = http.get(f"/pipelines/{name}/support_bundle")
    assert r.headers["content-disposition"] == f'attachment; filename="{name}-support-bundle.zip"'
    z, meta = _bundle(r)
    assert meta["metadata_version"] == 1 and meta["pipeline"]["name"] == name
    assert meta["pipeline"]["status"] == "Running" and "desired_status" not in meta["pipeline"]
    (col,) = meta["collections"]
    d = col["directory"]
    assert sorted(col["collected"]) == sorted(["circuit_profile.zip", "json_circuit_profile.zip", "metrics.txt",
                                                "logs.txt", "stats.json", "pipeline_config.json",
                                                "system_config.json", "pipeline_events.json"])
    assert sorted(f["file"] for f in col["failed"]) == ["dataflow_graph.json", "heap_profile.pb.gz"]
    assert col["skipped"] == []
    assert set(z.namelist()) == {"metadata.txt", "metadata.json"} | {f"{d}/{f}" for f in col["collected"]}
    assert "Successfully Collected:" in z.read("metadata.txt").decode()
    assert json.loads(z.read(f"{d}/stats.json"))["global_metrics"]["total_processed_records"] == 1
    assert "Initializing -> Running" in z.read(f"{d}/logs.txt").decode()
    assert json.loads(z.read(f"{d}/pipeline_config.json"))["name"] == name
    assert json.loads(z.read(f"{d}/pipeline_events.json"))[0]["deployment_runtime_status"] == "Running"
    inner = zipfile.ZipFile(io.BytesIO(z.read(f"{d}/circuit_profile.zip")))
    assert '"t" -> "v";' in inner.read("circuit.dot").decode()
    # Switches leave parts out and list them as skipped.
    z, meta = _bundle(http.get(f"/pipelines/{name}/support_bundle", params={"logs": "false", "heap_profile": "false"}))
    col = meta["collections"][0]
    assert set(col["skipped"]) == {"logs.txt", "heap_profile.pb.gz"} and "logs.txt" not in col["collected"]
    # Sluice stores no collections: without a fresh one the bundle holds only its metadata, as Feldera's would.
    z, meta = _bundle(http.get(f"/pipelines/{name}/support_bundle", params={"collect": "false"}))
    assert meta["collections"] == [] and set(z.namelist()) == {"metadata.txt", "metadata.json"}
    r = http.get(f"/pipelines/{name}/support_bundle", params={"limit": "0"})
    assert r.status_code == 400 and r.json()["error_code"] == "InvalidSupportBundleParameter"


def test_support_bundle_of_a_stopped_pipeline_names_what_it_lacks(http, new_pipeline):
    name = new_pipeline(SQL)
    _z, meta = _bundle(http.get(f"/pipelines/{name}/support_bundle"))
    col = meta["collections"][0]
    assert {"stats.json", "metrics.txt", "circuit_profile.zip"} <= {f["file"] for f in col["failed"]}
    assert "pipeline_config.json" in col["collected"] and meta["pipeline"]["status"] == "Stopped"


def test_official_client(engine, http, make_pipeline):
    feldera = pytest.importorskip("feldera")
    name = make_pipeline(SQL)
    push_and_wait(http, name, "t", [{"insert": {"id": 1, "x": 1}}])
    p = feldera.Pipeline.get(name, feldera.FelderaClient(engine.url))
    assert f'pipeline="{name}"' in p.metrics()
    logs = p.logs()
    assert "Fresh start of pipeline logs" in next(logs)  # Feldera's first line of every pipeline log
    assert "Stopped -> Provisioning" in next(logs)
    logs.close()
    with p.resume_logs() as stream:
        first = next(iter(stream))
        assert "Fresh start of pipeline logs" in first and stream.cursor().endswith(":1")
    bundle = zipfile.ZipFile(io.BytesIO(p.support_bundle(heap_profile=False)))
    meta = json.loads(bundle.read("metadata.json"))
    assert "stats.json" in meta["collections"][0]["collected"] and "heap_profile.pb.gz" in meta["collections"][0]["skipped"]


def test_egress_stream_gauge_counts_open_streams_only(http, make_pipeline, egress):
    """A closed stream stays listed in stats (closed: true) but is no longer an open stream."""
    name = make_pipeline(SQL)
    egress(name, "v").close()
    wait_until(lambda: [o for o in http.get(f"/pipelines/{name}/stats").json()["outputs"] if o["closed"]], 20,
               "the closed stream to show as closed", interval=0.05)
    for path in ("/metrics", f"/pipelines/{name}/metrics"):
        assert f'sluice_egress_streams{{pipeline="{name}"}} 0' in http.get(path).text


def test_the_engine_log_says_which_pipeline_each_line_is_about(tmp_path):
    """With several pipelines, the process log's lines about one (its status changes, its resumption after a
    restart) name it, after the logger; a line whose message already names it does not name it twice."""
    names = ("shop1", "shop2")
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        for name in names:
            c.put(f"/pipelines/{name}", json={"name": name, "program_code": SQL})
            assert c.post(f"/pipelines/{name}/start").status_code == 202
        for name in names:
            wait_status(c, name, "Running")
    with EngineProcess(tmp_path) as eng:  # both come back running, each saying so
        c = eng.client()
        for name in names:
            wait_status(c, name, "Running")
        # A request's refusal names the pipeline in its path and its message already.
        assert c.post("/pipelines/shop2/ingress/nope", params={"format": "json"}, content=b"{}").status_code == 404
        eng.wait_for_output(r"POST /v0/pipelines/shop2/ingress/nope -> 404")
        lines = eng.log.splitlines()
    for name in names:
        resumed = [s for s in lines if "the engine restarted: pipeline resumes as Running" in s and name in s]
        assert len(resumed) == 1 and f"sluice.engine [pipeline {name}]: the engine restarted" in resumed[0], lines
        assert any(f"sluice.engine [pipeline {name}]: deployment status Initializing -> Running" in s
                   for s in lines), lines
    about = [s for s in lines if "sluice.engine" in s and ("deployment status" in s or "the engine restarted" in s)]
    assert about and all("[pipeline shop" in s for s in about), about
    refusal = next(s for s in lines if "ingress/nope -> 404" in s)
    assert "[pipeline" not in refusal and "sluice.server: POST /v0/pipelines/shop2/ingress/nope" in refusal, refusal
