"""The fan-out hub without sockets: sessions pull frames from feeds reading a Feldera-shaped fake upstream."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from webapp.dashboard.hub import Hub
from webapp.dashboard.settings import load
from webapp.dashboard.upstream import Upstream

from .fake_feldera import FakeFeldera, View

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

    def as_rows(self) -> Counter:
        return self.rows


def expected(rows) -> Counter:
    return Counter(json.dumps(r, sort_keys=True) for r in rows)


class Client:
    """A session and the tables of its subscriptions, pumped on demand."""

    def __init__(self, hub: Hub):
        self.session = hub.open_session()
        self.tables: dict[str, Table] = {}

    def subscribe(self, view="v", since=None, filter=None, columns=None, sid=None, pipeline="p"):
        sid = sid or f"{pipeline}/{view}"
        self.tables[sid] = self.tables.get(sid) or Table()
        self.session.handle(json.dumps({"op": "subscribe", "id": sid, "pipeline": pipeline, "view": view,
                                        "since": since, "filter": filter, "columns": columns}))
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
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                seen = [(k, t.rows, t.status.get("state")) for k, t in self.tables.items()]
                raise AssertionError(f"condition not met; tables: {seen}")
            self.pump(0.05)


@pytest.fixture
def make_hub():
    made = []

    def make(views=None, settings=None, **fake_kw):
        fake = FakeFeldera(views or {"v": View(["k", "x"], True, [row(1), row(2)], [["k"]])}, **fake_kw)
        up = Upstream("http://fake", transport=fake.transport())
        hub = Hub(up, load({**FAST, **(settings or {})}, environ={}))
        made.append((fake, hub))
        return fake, hub

    yield make
    for fake, hub in made:
        hub.close()
        fake.close()


def test_snapshot_then_changes_whole_steps(make_hub):
    fake, hub = make_hub()
    c = Client(hub)
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    assert t.snapshots == ["subscribe"] and t.rows == expected(fake.views["v"].rows)
    assert fake.egress_requests == [{"view": "v", "send_snapshot": True, "backpressure": False}]
    assert t.status["state"] == "live" and t.status["materialized"] is True
    assert t.status["relation"]["key"] == ["k"]
    fake.step("v", [{"delete": row(1)}, {"insert": row(1, "b")}, {"insert": row(3)}])
    c.until(lambda: t.changes)
    assert t.changes == [[{"delete": row(1)}, {"insert": row(1, "b")}, {"insert": row(3)}]]
    assert t.cursor["seq"] == 1
    assert t.rows == expected(fake.views["v"].rows)


def test_a_step_cut_into_chunks_arrives_whole(make_hub):
    fake, hub = make_hub()
    c = Client(hub)
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    changes = [{"insert": row(i)} for i in range(10, 17)]
    fake.step("v", changes, split=3)  # three chunks: the first two still say the previous step
    c.until(lambda: t.changes)
    assert t.changes == [changes], "one frame, the whole step"
    assert hub.feeds()[0].counters["steps"] == 1


def test_fifty_sessions_share_one_upstream_stream(make_hub):
    fake, hub = make_hub()
    clients = [Client(hub) for _ in range(50)]
    tables = [c.subscribe() for c in clients]
    for i in range(20):
        fake.step("v", [{"insert": row(100 + i)}] + ([{"delete": row(100 + i - 5)}] if i >= 5 else []))
    want = expected(fake.views["v"].rows)
    for c, t in zip(clients, tables, strict=True):
        c.until(lambda t=t: t.rows == want)
    assert fake.opens("v") == 1
    assert hub.stats()["feeds"][0]["upstream_opens"] == 1


def test_gap_resynchronises_from_a_fresh_snapshot(make_hub):
    fake, hub = make_hub()
    c = Client(hub)
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    first_epoch = t.cursor["epoch"]
    fake.step("v", [{"insert": row(3)}])
    c.until(lambda: t.changes)
    fake.drop_next("v")
    fake.step("v", [{"insert": row(4)}])  # lost on the way
    fake.step("v", [{"insert": row(5)}])  # arrives, after a gap in sequence numbers
    c.until(lambda: len(t.snapshots) == 2)
    assert t.snapshots == ["subscribe", "resync"]
    assert t.cursor["epoch"] != first_epoch
    assert t.rows == expected(fake.views["v"].rows), "the table is right, with the lost row"
    assert fake.opens("v") == 2
    feed = hub.feeds()[0]
    assert feed.counters["resyncs"] == 1 and feed.counters["gaps"] == 1 and feed.counters["dropped_chunks"] == 1
    c.until(lambda: t.status.get("resyncs") == 1)


def test_reconnect_with_since_gets_exactly_the_missed_steps(make_hub):
    fake, hub = make_hub()
    a = Client(hub)
    t = a.subscribe()
    a.until(lambda: t.snapshots)
    fake.step("v", [{"insert": row(3)}])
    a.until(lambda: t.changes)
    cursor = dict(t.cursor)
    held = Counter(t.rows)
    a.session.close()  # the browser went away
    fake.step("v", [{"insert": row(4)}])
    fake.step("v", [{"delete": row(3)}])
    b = Client(hub)  # ...and came back with its cursor
    t2 = b.subscribe(since=cursor)
    t2.rows, t2.cursor = held, cursor
    b.until(lambda: t2.rows == expected(fake.views["v"].rows))
    assert t2.resumed == 1 and t2.snapshots == []
    assert t2.changes == [[{"insert": row(4)}], [{"delete": row(3)}]]
    assert fake.opens("v") == 1, "the feed lingered; no new upstream stream"


def test_unknown_cursor_gets_a_snapshot(make_hub):
    fake, hub = make_hub()
    c = Client(hub)
    t = c.subscribe(since={"epoch": "gone", "seq": 3})
    c.until(lambda: t.snapshots)
    assert t.snapshots == ["subscribe"] and t.resumed == 0
    assert t.rows == expected(fake.views["v"].rows)


def test_slow_subscriber_never_blocks_and_gets_a_snapshot(make_hub):
    fake, hub = make_hub(settings={"RING_STEPS": 8})
    fast, slow = Client(hub), Client(hub)
    tf, ts = fast.subscribe(), slow.subscribe()
    fast.until(lambda: tf.snapshots)
    slow.until(lambda: ts.snapshots)
    for i in range(40):  # the slow one reads nothing meanwhile; the fast one keeps up
        fake.step("v", [{"insert": row(200 + i)}])
        fast.until(lambda i=i: tf.cursor["seq"] == i + 1)
    fast.until(lambda: tf.rows == expected(fake.views["v"].rows))
    slow.until(lambda: ts.rows == expected(fake.views["v"].rows))
    assert ts.snapshots == ["subscribe", "behind"]
    assert tf.snapshots == ["subscribe"]


def test_filter_and_columns_are_applied_in_the_hub(make_hub):
    fake, hub = make_hub(views={"v": View(["k", "x"], True, [row(1, "keep"), row(2, "drop")])})
    c = Client(hub)
    t = c.subscribe(filter=[{"column": "x", "op": "eq", "value": "keep"}], columns=["k"])
    c.until(lambda: t.snapshots)
    assert t.rows == expected([{"k": "1"}])
    fake.step("v", [{"insert": row(3, "drop")}, {"insert": row(4, "keep")}])
    fake.step("v", [{"delete": row(1, "keep")}, {"insert": row(1, "drop")}])  # leaves the filter: a delete
    c.until(lambda: len(t.changes) == 2)
    assert t.changes == [[{"insert": {"k": "4"}}], [{"delete": {"k": "1"}}]]
    assert t.rows == expected([{"k": "4"}])


def test_bad_filter_is_an_error_frame(make_hub):
    fake, hub = make_hub()
    c = Client(hub)
    t = c.subscribe(filter=[{"column": "x", "op": "like", "value": "a"}])
    c.pump()
    assert t.errors and t.errors[0]["code"] == "BadFilter"


def test_rounds_are_fair_across_subscriptions(make_hub):
    big = View(["k", "x"], True, [])
    small = View(["k", "x"], True, [])
    fake, hub = make_hub(views={"big": big, "small": small}, settings={"MAX_FRAME_CHANGES": 10})
    c = Client(hub)
    tb, ts = c.subscribe("big"), c.subscribe("small")
    c.until(lambda: tb.snapshots and ts.snapshots)
    for i in range(30):
        fake.step("big", [{"insert": row(i)} for _ in range(1)] + [{"insert": row(1000 + i)}] * 9)
    fake.step("small", [{"insert": row("s")}])
    time.sleep(0.3)  # let both feeds take their steps
    frames = c.pump()
    ids = [f["id"] for f in frames if f["op"] == "changes"]
    assert "p/small" in ids, "the quiet view is served in the same round as the busy one"
    assert sum(len(f["changes"]) for f in frames if f["id"] == "p/big") <= 10
    c.until(lambda: tb.rows == expected(fake.views["big"].rows))


def test_non_materialized_view_follows_with_backpressure_and_flags_gaps(make_hub):
    fake, hub = make_hub(views={"v": View(["k", "x"], False, [row(1)])})
    c = Client(hub)
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    assert fake.egress_requests[0] == {"view": "v", "send_snapshot": False, "backpressure": True}
    assert t.rows == Counter(), "no snapshot possible: state from the moment the hub subscribed"
    assert t.status["since"] and t.status["materialized"] is False
    fake.step("v", [{"insert": row(2)}])
    c.until(lambda: t.rows == expected([row(2)]))
    fake.drop_next("v")
    fake.step("v", [{"insert": row(3)}])
    fake.step("v", [{"insert": row(4)}])
    c.until(lambda: t.status.get("incomplete_since"))
    c.until(lambda: t.rows == expected([row(2), row(4)]))


def test_snapshot_end_without_opening_chunk_or_rows(make_hub):
    fake, hub = make_hub(views={"v": View(["k", "x"], True, [])}, opening_chunk=False, processed_steps=False)
    c = Client(hub)
    t = c.subscribe()
    c.until(lambda: t.snapshots)  # ended by the quiet time: nothing says an empty snapshot is over
    assert t.rows == Counter()
    fake.step("v", [{"insert": row(1)}])
    fake.step("v", [{"insert": row(2)}])
    c.until(lambda: t.rows == expected([row(1), row(2)]))
    assert len(t.changes) in (1, 2)


def test_upstream_down_then_back(make_hub):
    fake, hub = make_hub(status="Stopped")
    c = Client(hub)
    t = c.subscribe()
    c.until(lambda: t.status.get("state") == "upstream_down")
    assert "not deployed" in t.status["message"]
    fake.status = "Running"
    c.until(lambda: t.snapshots)
    assert t.rows == expected(fake.views["v"].rows)
    fake.end_streams()  # the pipeline stopped: the stream ends
    fake.status = "Stopped"
    c.until(lambda: t.status.get("state") == "upstream_down")
    assert t.rows == expected(fake.views["v"].rows), "stale data stays"
    fake.status = "Running"
    fake.step("v", [{"insert": row(9)}])
    c.until(lambda: t.rows == expected(fake.views["v"].rows))
    assert t.snapshots == ["subscribe", "resync"]


def test_unknown_view_says_so(make_hub):
    fake, hub = make_hub()
    c = Client(hub)
    t = c.subscribe("nope")
    c.until(lambda: t.status.get("state") == "upstream_down")
    assert "nope" in t.status["message"]


def test_idle_feed_stops_after_linger_and_restarts_in_a_new_epoch(make_hub):
    fake, hub = make_hub()
    c = Client(hub)
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    epoch = t.cursor["epoch"]
    c.session.close()
    deadline = time.monotonic() + 10
    while hub.feeds() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not hub.feeds()
    d = Client(hub)
    t2 = d.subscribe(since=t.cursor)
    d.until(lambda: t2.snapshots)
    assert t2.cursor["epoch"] != epoch and fake.opens("v") == 2


def test_unsubscribe_and_protocol_errors(make_hub):
    fake, hub = make_hub()
    c = Client(hub)
    c.session.handle("not json")
    c.session.handle(json.dumps({"op": "dance"}))
    c.session.handle(json.dumps({"op": "unsubscribe", "id": "nothing"}))
    c.session.handle(json.dumps({"op": "ping", "t": 5}))
    frames = c.pump()
    assert [f["op"] for f in frames] == ["error", "error", "error", "pong"]
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    c.session.handle(json.dumps({"op": "unsubscribe", "id": "p/v"}))
    frames = c.pump()
    assert frames[-1]["op"] == "unsubscribed"
    assert hub.feeds()[0].subscribers == 0


def test_next_frames_waits_and_wakes():
    fake = FakeFeldera({"v": View(["k", "x"], True, [row(1)])})
    hub = Hub(Upstream("http://fake", transport=fake.transport()), load(FAST, environ={}))
    try:
        c = Client(hub)
        t = c.subscribe()
        c.until(lambda: t.snapshots)
        got = []
        th = threading.Thread(target=lambda: got.extend(c.session.next_frames(timeout=5)))
        th.start()
        time.sleep(0.1)
        fake.step("v", [{"insert": row(2)}])
        th.join(5)
        assert any('"changes"' in f for f in got)
        assert c.session.next_frames(timeout=0.05) == []
    finally:
        hub.close()
        fake.close()
