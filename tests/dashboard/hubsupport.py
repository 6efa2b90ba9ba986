"""What tests of the fan-out hub share: a browser's table built from frames, a session pumped on demand, and
a real pipeline of the session's engine with a hub reading it (fixtures in conftest.py)."""

from __future__ import annotations

import json
import uuid
from collections import Counter

from webapp.dashboard.hub import Hub
from webapp.dashboard.settings import load
from webapp.dashboard.upstream import Upstream
from webapp.engine.testing import push_and_wait, wait_status, wait_until

FAST = {"BATCH_MS": 5, "SNAPSHOT_QUIET_MS": 80, "FEED_LINGER": 0.3, "RETRY_MAX": 0.3, "STREAM_TIMEOUT": 10}


def row(k, x="a"):
    return {"k": str(k), "x": x}


class Table:
    """What a browser would hold after applying the frames it received for one subscription."""

    def __init__(self):
        self.rows: Counter = Counter()
        self.cursor = None
        self.snapshots: list[str] = []
        self.changes: list[list[dict]] = []
        self.status: dict = {}
        self.resumed = 0
        self.errors: list[dict] = []
        self.history: list[dict] = []

    def take(self, frame: dict) -> None:
        op = frame["op"]
        if op == "snapshot":
            self.rows = Counter(json.dumps(r, sort_keys=True) for r in frame["rows"])
            self.snapshots.append(frame["reason"])
            self.cursor = frame["cursor"]
        elif op == "changes":
            assert frame["cursor"]["epoch"] == self.cursor["epoch"], "changes from another epoch"
            assert frame["cursor"]["seq"] > self.cursor["seq"], "a step applied twice"
            assert sum(s["n"] for s in frame["steps"]) == len(frame["changes"])
            for ch in frame["changes"]:
                if "delete" in ch:
                    k = json.dumps(ch["delete"], sort_keys=True)
                    assert self.rows[k] > 0, f"delete of a row the table does not have: {k}"
                    self.rows[k] -= 1
                    if not self.rows[k]:
                        del self.rows[k]
                if "insert" in ch:
                    self.rows[json.dumps(ch["insert"], sort_keys=True)] += 1
            at = 0
            for st in frame["steps"]:  # one entry per step, as the frame marks them
                self.changes.append(frame["changes"][at:at + st["n"]])
                at += st["n"]
            self.cursor = frame["cursor"]
        elif op == "status":
            self.status = frame
        elif op == "resumed":
            self.resumed += 1
            self.cursor = frame["cursor"]
        elif op == "error":
            self.errors.append(frame)
        elif op == "history":  # for the change log only: the snapshot before it holds these steps already
            assert frame["cursor"] == self.cursor, "history must end where the snapshot it follows does"
            assert sum(s["n"] for s in frame["steps"]) == len(frame["changes"])
            self.history.append(frame)

    def as_rows(self) -> Counter:
        return self.rows


def expected(rows) -> Counter:
    return Counter(json.dumps(r, sort_keys=True) for r in rows)


class Client:
    """A session and the tables of its subscriptions, pumped on demand."""

    def __init__(self, hub: Hub, pipeline: str = "p"):
        self.session = hub.open_session()
        self.pipeline = pipeline
        self.tables: dict[str, Table] = {}

    def subscribe(self, view="v", since=None, filter=None, columns=None, sid=None, pipeline=None, log_from=None):
        pipeline = pipeline or self.pipeline
        sid = sid or f"{pipeline}/{view}"
        self.tables[sid] = self.tables.get(sid) or Table()
        self.session.handle(json.dumps({"op": "subscribe", "id": sid, "pipeline": pipeline, "view": view,
                                        "since": since, "filter": filter, "columns": columns,
                                        "log_from": log_from}))
        return self.tables[sid]

    def pump(self, timeout=0.2) -> list[dict]:
        got = []
        for text in self.session.next_frames(timeout=timeout):
            f = json.loads(text)
            got.append(f)
            if f.get("id") in self.tables:
                self.tables[f["id"]].take(f)
        return got

    def until(self, cond, timeout=10.0):
        def met():
            if cond():
                return True
            self.pump(0.05)
            return False
        try:
            wait_until(met, timeout, "the condition", interval=0)
        except AssertionError:
            seen = [(k, t.rows, t.status.get("state")) for k, t in self.tables.items()]
            raise AssertionError(f"condition not met; tables: {seen}") from None


SQL = """CREATE TABLE t (k VARCHAR NOT NULL PRIMARY KEY, x VARCHAR);
CREATE MATERIALIZED VIEW v AS SELECT * FROM t;"""


class Real:
    """A pipeline of the session's engine (table t, materialized view v keyed by k) and a hub reading it."""

    def __init__(self, http, engine_url: str, settings: dict | None, rows, start: bool):
        self.http, self.name = http, f"h{uuid.uuid4().hex[:10]}"
        r = http.put(f"/pipelines/{self.name}", json={"program_code": SQL})
        assert r.status_code == 201, r.text
        if start:
            self.start()
            if rows:
                self.step([{"insert": r} for r in rows])
        self.hub = Hub(Upstream(engine_url), load({**FAST, **(settings or {})}, environ={}))

    def client(self) -> Client:
        return Client(self.hub, self.name)

    def start(self) -> None:
        assert self.http.post(f"/pipelines/{self.name}/start").status_code == 202
        wait_status(self.http, self.name, "Running")

    def stop(self) -> None:
        self.http.post(f"/pipelines/{self.name}/stop", params={"force": "true"})
        wait_status(self.http, self.name, "Stopped")

    def step(self, changes: list[dict]) -> None:
        """One step of the engine: the changes, pushed and processed."""
        push_and_wait(self.http, self.name, "t", changes)

    def rows(self) -> Counter:
        """The view's contents, as the engine answers a query."""
        r = self.http.get(f"/pipelines/{self.name}/query", params={"sql": "SELECT * FROM v", "format": "json"})
        assert r.status_code == 200, r.text
        return expected(json.loads(line) for line in r.text.splitlines() if line.strip())

    def opens(self) -> int:
        """Egress streams ever opened on v in this run (stats lists open and recently closed ones)."""
        return sum(o["config"]["stream"] == "v" for o in self.http.get(f"/pipelines/{self.name}/stats").json()["outputs"])


__all__ = ["FAST", "SQL", "Client", "Real", "Table", "expected", "row"]
