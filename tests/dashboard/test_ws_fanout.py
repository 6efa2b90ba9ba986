"""WebSocket clients against the real dashboard process and a real engine: one upstream egress per view,
every client's final table equal to the view's query result; Origin, Host and CSRF checks."""

from __future__ import annotations

import json
import threading
from collections import Counter

import httpx
import simple_websocket

from webapp.engine.testing import push_and_wait, wait_status, wait_until

from .support import handshake_status
from .hubsupport import Table

SQL = """
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR, n INT) WITH ('materialized' = 'true');
CREATE MATERIALIZED VIEW v AS SELECT id, name, n FROM t WHERE n >= 0;
"""


class WsClient:
    """A WebSocket client holding the table its frames describe (read on its own thread)."""

    def __init__(self, url: str, headers=None):
        self.ws = simple_websocket.Client.connect(url.replace("http://", "ws://") + "/ws", headers=headers)
        self.table = Table()
        self.frames = 0
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def subscribe(self, pipeline, view, **kw):
        self.ws.send(json.dumps({"op": "subscribe", "id": f"{pipeline}/{view}", "pipeline": pipeline, "view": view,
                                 **kw}))

    def _read(self):
        try:
            while True:
                text = self.ws.receive()
                if text is None:
                    continue
                f = json.loads(text)
                self.frames += 1
                if f["op"] not in ("ping", "pong"):
                    self.table.take(f)
        except (simple_websocket.ConnectionClosed, OSError):
            self.closed = True

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def query_rows(http, pipeline, sql):
    r = http.get(f"/pipelines/{pipeline}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    return Counter(json.dumps(json.loads(line), sort_keys=True) for line in r.text.splitlines() if line.strip())


push = push_and_wait


def test_fifty_clients_one_upstream_egress(dashboard, engine, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": i, "name": f"r{i}", "n": i}} for i in range(20)])
    clients = [WsClient(dashboard.url) for _ in range(50)]
    try:
        for c in clients:
            c.subscribe(p, "v")
        wait_until(lambda: all(c.table.snapshots for c in clients), 30, what="50 snapshots")
        for round_ in range(5):
            push(http, p, "t", [{"insert": {"id": 100 + round_ * 10 + i, "name": "new", "n": i}} for i in range(10)])
            push(http, p, "t", [{"insert": {"id": round_, "name": f"upd{round_}", "n": 100 + round_}}])  # upsert
            push(http, p, "t", [{"delete": {"id": 19 - round_}}])
        want = query_rows(http, p, "SELECT * FROM v")
        wait_until(lambda: all(c.table.rows == want for c in clients), 30, what="every table equal to the view")
        hub = httpx.get(dashboard.url + "/api/hub").json()
        feeds = [f for f in hub["feeds"] if f["pipeline"] == p and f["view"] == "v"]
        assert len(feeds) == 1 and feeds[0]["upstream_opens"] == 1, hub
        outputs = [o for o in http.get(f"/pipelines/{p}/stats").json()["outputs"] if o["config"]["stream"] == "v"]
        assert len(outputs) == 1, f"the engine saw {len(outputs)} egress streams for v"
        assert all(c.table.snapshots == ["subscribe"] for c in clients)
    finally:
        for c in clients:
            c.close()


def test_websocket_handshake_checks_origin_and_host(dashboard):
    assert handshake_status(dashboard.url, "http://evil.example") == 403
    assert handshake_status(dashboard.url, dashboard.url, host="rebind.example:80") == 403
    assert handshake_status(dashboard.url, dashboard.url) == 101


def test_state_changing_requests_need_csrf_origin_and_host(dashboard, http, make_pipeline):
    p = make_pipeline(SQL)
    with httpx.Client(base_url=dashboard.url) as c:
        page = c.get(f"/pipelines/{p}")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert "<script>" not in page.text and "onclick" not in page.text
        token = c.cookies["sluice_csrf"]
        assert f'content="{token}"' in page.text
        assert c.post(f"/api/pipelines/{p}/pause").status_code == 403  # no token
        assert c.post(f"/api/pipelines/{p}/pause", headers={"X-CSRF-Token": "wrong" * 5}).status_code == 403
        r = c.post(f"/api/pipelines/{p}/pause", headers={"X-CSRF-Token": token, "Origin": "http://evil.example"})
        assert r.status_code == 403 and r.json()["error_code"] == "OriginNotAllowed"
        r = c.post(f"/api/pipelines/{p}/pause", headers={"X-CSRF-Token": token, "Origin": dashboard.url})
        assert r.status_code == 202, r.text
        wait_status(http, p, "Paused")
        r = c.post(f"/api/pipelines/{p}/resume", headers={"X-CSRF-Token": token})
        assert r.status_code == 202
        r = c.get("/", headers={"Host": "rebind.example"})
        assert r.status_code == 403 and r.json()["error_code"] == "HostNotAllowed"


def test_ndjson_stream_sends_the_same_frames(dashboard, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": i, "name": f"r{i}", "n": i}} for i in range(5)])
    t = Table()
    with httpx.Client(base_url=dashboard.url, timeout=10) as c:
        with c.stream("GET", "/stream", params={"pipeline": p, "view": "v", "id": "x"}) as resp:
            assert resp.headers["content-type"].startswith("application/x-ndjson")
            lines = resp.iter_lines()
            while not t.snapshots:
                f = json.loads(next(lines))
                if f.get("id") == "x":
                    t.take(f)
            push(http, p, "t", [{"delete": {"id": 0}}, {"insert": {"id": 9, "name": "nine", "n": 9}}])
            want = query_rows(http, p, "SELECT * FROM v")
            while t.rows != want:
                f = json.loads(next(lines))
                if f.get("id") == "x":
                    t.take(f)
            cursor = t.cursor
    # Reconnect with since: exactly the steps after it, no snapshot.
    push(http, p, "t", [{"insert": {"id": 10, "name": "ten", "n": 10}}])
    want = query_rows(http, p, "SELECT * FROM v")
    with httpx.Client(base_url=dashboard.url, timeout=10) as c:
        with c.stream("GET", "/stream", params={"pipeline": p, "view": "v", "id": "x",
                                                "since": f"{cursor['epoch']}:{cursor['seq']}"}) as resp:
            lines = resp.iter_lines()
            while t.rows != want or not t.resumed:
                f = json.loads(next(lines))
                if f.get("id") == "x":
                    t.take(f)
    assert t.snapshots == ["subscribe"] and t.resumed == 1


def test_upstream_gap_through_a_real_dashboard_resyncs(tmp_path):
    """A Feldera-shaped upstream drops a chunk: the dashboard process resynchronises, the table stays right."""
    from webapp.dashboard.testing import DashboardProcess

    from .conftest import TEST_SETTINGS
    from .fake_feldera import FakeFeldera, View

    fake = FakeFeldera({"v": View(["k", "x"], True, [{"k": "1", "x": "a"}], [["k"]])}, processed_steps=False,
                       sluice_extension=False)
    url = fake.serve()
    try:
        with DashboardProcess(url, settings=TEST_SETTINGS) as dash:
            c = WsClient(dash.url)
            c.subscribe("p", "v")
            wait_until(lambda: c.table.snapshots, 30, what="snapshot")
            assert c.table.status["relation"]["key"] is None  # Feldera says nothing: the user picks
            fake.step("v", [{"insert": {"k": "2", "x": "b"}}])
            wait_until(lambda: len(c.table.rows) == 2, 30, what="first change")
            fake.drop_next("v")
            fake.step("v", [{"insert": {"k": "3", "x": "lost"}}])
            fake.step("v", [{"delete": {"k": "1", "x": "a"}}])
            want = Counter(json.dumps(r, sort_keys=True) for r in fake.views["v"].rows)
            wait_until(lambda: c.table.rows == want, 30, what="the right table after the gap")
            assert c.table.snapshots == ["subscribe", "resync"]
            assert fake.opens("v") == 2
            hub = httpx.get(dash.url + "/api/hub").json()["feeds"][0]
            assert hub["resyncs"] == 1 and hub["gaps"] == 1
            c.close()
    finally:
        fake.close()
