"""The statistics history (a bounded SQLite store in STATE_DIR), its sampler, and the logs proxy, against
the session's real engine and real dashboards under gunicorn."""

from __future__ import annotations

import json

import httpx
import pytest

from webapp.dashboard.history import History
from webapp.dashboard.sampler import Sampler, measures
from webapp.dashboard.testing import DashboardProcess
from webapp.engine.testing import push_and_wait, wait_status, wait_until

from .conftest import TEST_SETTINGS

SQL = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, n INT); CREATE MATERIALIZED VIEW v AS SELECT id, n FROM t;"


def test_store_keeps_the_newest_rows_within_its_bound_and_reopens_them(tmp_path):
    h = History(tmp_path / "h.sqlite3", max_rows=50)
    for i in range(120):
        h.add_sample("p", 1_000_000 + i * 1000, {"processed": i * 10, "incarnation": "a"},
                     {"tables": {"t": [i, 0]}, "views": {}})
    for i in range(70):
        h.add_event("p", 1_000_000 + i, "started", "Running")
    assert h.count("samples") == 50 and h.count("events") == 50
    h.close()
    again = History(tmp_path / "h.sqlite3", max_rows=50)  # as after a dashboard restart
    s = again.series("p", "5m", now=1_000_000 + 119_000, interval_ms=1000)
    assert [t for t, _ in s["pipeline"]["throughput"]][0] == 1_000_000 + 71_000  # samples 70..119 kept
    assert {v for _, v in s["pipeline"]["throughput"]} == {10.0}
    assert {v for _, v in s["tables"]["t"]["rate"]} == {1.0}
    assert len(again.events("p")) == 50
    again.close()


def test_a_restart_breaks_rates_rather_than_reading_as_negative(tmp_path):
    h = History(None, max_rows=100)
    for i, (n, inc) in enumerate([(0, "a"), (10, "a"), (20, "a"), (3, "b"), (13, "b")]):
        h.add_sample("p", i * 1000, {"processed": n, "incarnation": inc}, {})
    pts = h.series("p", "5m", now=5000, interval_ms=1000)["pipeline"]["throughput"]
    assert [v for _, v in pts] == [10.0, 10.0, None, 10.0]


def test_a_watched_table_is_not_counted_as_a_view():
    out = lambda stream, n: {"config": {"stream": stream}, "metrics": {"transmitted_records": n}, "closed": False}
    _, rels = measures({"global_metrics": {"view_time_msecs": {"v": 2.5}},
                        "inputs": [{"config": {"stream": "t"}, "metrics": {"total_records": 7, "buffered_records": 1}}],
                        "outputs": [out("t", 3), out("v", 4), out("v", 5)]})
    assert rels == {"tables": {"t": [7, 1]}, "views": {"v": [9, 2.5]}}


class _Server:
    """What the sampler asks of the pipeline server, set by the test between looks (the edge cases that a
    real server shows only by chance: a restart between two looks, a dashboard restart in between)."""

    def __init__(self):
        self.listed: list[dict] = []
        self.incarnation = None

    def pipelines(self):
        return self.listed

    def stats(self, name):
        return {"global_metrics": {"incarnation_uuid": self.incarnation, "total_processed_records": 1}}


def test_health_events_from_what_changes_between_two_looks(tmp_path):
    h, up = History(tmp_path / "h.sqlite3", 100), _Server()
    look = Sampler(up, h, 1.0)

    def at(t, status, incarnation=None, error=None):
        up.listed = [{"name": "p", "deployment_status": status,
                      "deployment_error": {"message": error} if error else None}]
        up.incarnation = incarnation
        look.tick(now=t)
    at(1, "Running", "a")
    at(2, "Running", "b")  # stopped and started again between two looks
    look = Sampler(up, h, 1.0)  # the dashboard restarted: its memory comes from the store
    at(3, "Running", "b")
    at(4, "Paused", "b")
    at(5, "Stopped", error="out of memory")
    up.listed = []
    look.tick(now=6)
    assert [(e["t"], e["kind"]) for e in h.events("p")] == [
        (1, "started"), (2, "restarted"), (4, "paused"), (5, "error"), (5, "stopped"), (6, "deleted")]


def test_one_process_samples_a_state_dir_at_a_time(tmp_path):
    a = Sampler(None, None, 1.0, str(tmp_path))
    b = Sampler(None, None, 1.0, str(tmp_path))
    assert a.leads() and not b.leads()
    a.stop()  # as when that worker exits: another takes over
    assert b.leads()
    b.stop()


@pytest.fixture(scope="module")
def watched(engine, http_module):
    """A running pipeline with a few processed rows."""
    name = "hist_p"
    http_module.put(f"/pipelines/{name}", json={"name": name, "program_code": SQL})
    wait_until(lambda: http_module.get(f"/pipelines/{name}").json()["program_status"] == "Success", 30, "compiled")
    http_module.post(f"/pipelines/{name}/start")
    wait_status(http_module, name, "Running")
    push_and_wait(http_module, name, "t", [{"insert": {"id": i, "n": i}} for i in range(5)])
    yield name
    http_module.post(f"/pipelines/{name}/stop", params={"force": "true"})
    wait_status(http_module, name, "Stopped")
    http_module.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
    http_module.delete(f"/pipelines/{name}")


@pytest.fixture(scope="module")
def http_module(engine):
    with httpx.Client(base_url=engine.url + "/v0", timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dashboard-state")


@pytest.fixture(scope="module")
def dash(engine, state_dir):
    settings = TEST_SETTINGS | {"STATE_DIR": str(state_dir), "HISTORY_INTERVAL": 0.2, "LOG_STREAMS": 2}
    with DashboardProcess(engine.url, "--proxy-fix", settings=settings) as d:  # a client per X-Forwarded-For
        yield d


def test_logs_are_proxied_as_frames_with_a_cursor_that_resumes(watched, dash):
    url = f"{dash.url}/api/pipelines/{watched}/logs"
    with httpx.stream("GET", url, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        frames = r.iter_lines()
        assert json.loads(next(frames)) == {"op": "open"}
        frame = json.loads(next(frames))
    assert frame["op"] == "lines" and any("deployment status" in ln for ln in frame["lines"]), frame
    epoch, _, seq = frame["cursor"].rpartition(":")
    assert int(seq) >= len(frame["lines"])
    # From the cursor of the one line before the last, the next frame starts with that last line.
    with httpx.stream("GET", url, params={"cursor": f"{epoch}:{int(seq) - 1}"}, timeout=30) as r:
        again = [json.loads(line) for _, line in zip(range(2), r.iter_lines())][1]
    assert again["lines"][0] == frame["lines"][-1]
    missing = httpx.get(f"{dash.url}/api/pipelines/no_such_pipeline/logs")
    assert missing.status_code == 404 and missing.json()["error_code"], missing.text


def test_a_client_may_hold_only_log_streams_at_once(watched, dash):
    url = f"{dash.url}/api/pipelines/{watched}/logs"
    with httpx.Client(timeout=30, headers={"X-Forwarded-For": "10.20.30.40"}) as c, \
            c.stream("GET", url) as a, c.stream("GET", url) as b:
        assert a.status_code == b.status_code == 200
        third = c.get(url)
        assert third.status_code == 429 and third.json()["error_code"] == "TooManyLogStreams", third.text
        with httpx.stream("GET", url, headers={"X-Forwarded-For": "10.20.30.41"}, timeout=30) as other:
            assert other.status_code == 200  # the limit is per client


def test_history_survives_a_dashboard_restart_and_records_health_events(watched, http_module, dash, state_dir):
    with httpx.Client(base_url=dash.url, timeout=30) as c:
        def history():
            return c.get(f"/api/pipelines/{watched}/history", params={"range": "5m"}).json()
        first = wait_until(lambda: (h := history())["samples"] >= 3 and h, 30, "three samples", detail=lambda: dash.log)
        assert first["tables"]["t"]["rate"] and "v" in first["views"]
        assert [e["kind"] for e in first["events"]][:1] == ["started"]
        http_module.post(f"/pipelines/{watched}/stop", params={"force": "true"})
        wait_status(http_module, watched, "Stopped")
        wait_until(lambda: history()["events"][-1]["kind"] == "stopped", 30, "the stop as an event")
        http_module.post(f"/pipelines/{watched}/start")
        wait_status(http_module, watched, "Running")
        seen = wait_until(lambda: (k := [e["kind"] for e in history()["events"]])[-2:] == ["stopped", "started"] and k,
                          30, "the stop and start as events", detail=lambda: dash.log)
        kept = history()
        bad = c.get(f"/api/pipelines/{watched}/history", params={"range": "2d"})
        assert bad.status_code == 400 and bad.json()["error_code"] == "UnknownRange", bad.text
    dash.stop()
    # What the stopped dashboard kept is in its STATE_DIR, where the next one reads it.
    store = History.in_dir(state_dir, TEST_SETTINGS.get("HISTORY_MAX_SAMPLES", 200_000))
    after = store.series(watched, "5m", now=kept["to"], interval_ms=200)
    store.close()
    assert after["samples"] >= kept["samples"] >= 3
    assert [e["kind"] for e in after["events"]][:len(seen)] == seen
