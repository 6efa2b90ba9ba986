"""The fan-out hub without sockets: sessions pull frames from feeds reading the real engine over HTTP, and,
for what the engine will not produce on demand (a lost chunk, a step cut into chunks, a stream without its
opening chunk, exact step boundaries), a Feldera-shaped fake upstream (fake_feldera.py, kept honest by
test_fake_contract.py)."""

from __future__ import annotations

import json
import threading
from collections import Counter


from webapp.engine.testing import wait_until

from .fake_feldera import View
from .hubsupport import Client, expected, row


def test_snapshot_then_changes_whole_steps(real):
    r = real()
    c = r.client()
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    assert t.snapshots == ["subscribe"] and t.rows == expected([row(1), row(2)])
    assert t.status["state"] == "live" and t.status["materialized"] is True
    assert t.status["relation"]["key"] == ["k"]
    r.step([{"delete": row(1)}, {"insert": row(1, "b")}, {"insert": row(3)}])
    c.until(lambda: t.changes)
    # the engine writes a step's deletes before its inserts
    assert [Counter(json.dumps(ch, sort_keys=True) for ch in step) for step in t.changes] == [
        Counter(json.dumps(ch, sort_keys=True) for ch in [{"delete": row(1)}, {"insert": row(1, "b")}, {"insert": row(3)}])]
    assert t.cursor["seq"] == 1
    assert t.rows == r.rows() == expected([row(1, "b"), row(2), row(3)])


def test_a_step_cut_into_chunks_arrives_whole(make_hub):
    # The fake: the engine sends a step in one chunk until it is large, and never on demand.
    fake, hub = make_hub()
    c = Client(hub)
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    changes = [{"insert": row(i)} for i in range(10, 17)]
    fake.step("v", changes, split=3)  # three chunks: the first two still say the previous step
    c.until(lambda: t.changes)
    assert t.changes == [changes], "one frame, the whole step"
    assert hub.feeds()[0].counters["steps"] == 1


def test_fifty_sessions_share_one_upstream_stream(real):
    r = real()
    clients = [r.client() for _ in range(50)]
    tables = [c.subscribe() for c in clients]
    for i in range(20):
        r.step([{"insert": row(100 + i)}] + ([{"delete": row(100 + i - 5)}] if i >= 5 else []))
    want = r.rows()
    assert len(want) == 2 + 5
    for c, t in zip(clients, tables, strict=True):
        c.until(lambda t=t: t.rows == want)
    assert r.opens() == 1
    assert r.hub.stats()["feeds"][0]["upstream_opens"] == 1


def test_gap_resynchronises_from_a_fresh_snapshot(make_hub):
    # The fake: the engine drops chunks only for a reader that falls behind, not on demand.
    fake, hub = make_hub()
    c = Client(hub)
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    assert fake.egress_requests == [{"view": "v", "send_snapshot": True, "backpressure": False}]
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


def test_reconnect_with_since_gets_exactly_the_missed_steps(real):
    r = real()
    a = r.client()
    t = a.subscribe()
    a.until(lambda: t.snapshots)
    r.step([{"insert": row(3)}])
    a.until(lambda: t.changes)
    cursor = dict(t.cursor)
    held = Counter(t.rows)
    a.session.close()  # the browser went away
    r.step([{"insert": row(4)}])
    r.step([{"delete": row(3)}])
    b = r.client()  # ...and came back with its cursor
    t2 = b.subscribe(since=cursor)
    t2.rows, t2.cursor = held, cursor
    b.until(lambda: t2.rows == expected([row(1), row(2), row(4)]))
    assert t2.resumed == 1 and t2.snapshots == []
    assert t2.changes == [[{"insert": row(4)}], [{"delete": row(3)}]]
    assert r.opens() == 1, "the feed lingered; no new upstream stream"


def test_unknown_cursor_gets_a_snapshot(real):
    r = real()
    c = r.client()
    t = c.subscribe(since={"epoch": "gone", "seq": 3})
    c.until(lambda: t.snapshots)
    assert t.snapshots == ["subscribe"] and t.resumed == 0
    assert t.rows == expected([row(1), row(2)])


def test_slow_subscriber_never_blocks_and_gets_a_snapshot(real):
    r = real(settings={"RING_STEPS": 8})
    fast, slow = r.client(), r.client()
    tf, ts = fast.subscribe(), slow.subscribe()
    fast.until(lambda: tf.snapshots)
    slow.until(lambda: ts.snapshots)
    for i in range(40):  # the slow one reads nothing meanwhile; the fast one keeps up
        r.step([{"insert": row(200 + i)}])
        fast.until(lambda i=i: tf.rows[json.dumps(row(200 + i), sort_keys=True)] == 1)
    want = r.rows()
    assert len(want) == 42
    fast.until(lambda: tf.rows == want)
    slow.until(lambda: ts.rows == want)
    assert ts.snapshots == ["subscribe", "behind"]
    assert tf.snapshots == ["subscribe"]


def test_filter_and_columns_are_applied_in_the_hub(real):
    r = real(rows=[row(1, "keep"), row(2, "drop")])
    c = r.client()
    t = c.subscribe(filter=[{"column": "x", "op": "eq", "value": "keep"}], columns=["k"])
    c.until(lambda: t.snapshots)
    assert t.rows == expected([{"k": "1"}])
    r.step([{"insert": row(3, "drop")}, {"insert": row(4, "keep")}])
    r.step([{"insert": row(1, "drop")}])  # an upsert by key: row 1 leaves the filter, a delete
    c.until(lambda: len(t.changes) == 2)
    assert t.changes == [[{"insert": {"k": "4"}}], [{"delete": {"k": "1"}}]]
    assert t.rows == expected([{"k": "4"}])


def test_bad_filter_is_an_error_frame(real):
    r = real()
    c = r.client()
    t = c.subscribe(filter=[{"column": "x", "op": "like", "value": "a"}])
    c.until(lambda: t.errors)
    assert t.errors[0]["code"] == "BadFilter"


def test_rounds_are_fair_across_subscriptions(make_hub):
    # The fake: exact step boundaries (the engine merges pushes that arrive during a step, and a frame
    # never splits a step, so its steps could each exceed MAX_FRAME_CHANGES).
    big = View(["k", "x"], True, [])
    small = View(["k", "x"], True, [])
    fake, hub = make_hub(views={"big": big, "small": small}, settings={"MAX_FRAME_CHANGES": 10})
    c = Client(hub)
    tb, ts = c.subscribe("big"), c.subscribe("small")
    c.until(lambda: tb.snapshots and ts.snapshots)
    for i in range(30):
        fake.step("big", [{"insert": row(i)} for _ in range(1)] + [{"insert": row(1000 + i)}] * 9)
    fake.step("small", [{"insert": row("s")}])
    steps = {f.view: f for f in hub.feeds()}
    wait_until(lambda: steps["big"].counters["steps"] == 30 and steps["small"].counters["steps"] == 1, 10,
               "both feeds to take their steps")
    frames = c.pump()
    ids = [f["id"] for f in frames if f["op"] == "changes"]
    assert "p/small" in ids, "the quiet view is served in the same round as the busy one"
    assert sum(len(f["changes"]) for f in frames if f["id"] == "p/big") <= 10
    c.until(lambda: tb.rows == expected(fake.views["big"].rows))


def test_non_materialized_view_follows_with_backpressure_and_flags_gaps(make_hub):
    # The fake: a gap on a stream with backpressure, which the engine never leaves.
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
    # The fake: another Feldera-compatible server may omit the opening chunk and processed_steps; ours never does.
    fake, hub = make_hub(views={"v": View(["k", "x"], True, [])}, opening_chunk=False, processed_steps=False)
    c = Client(hub)
    t = c.subscribe()
    c.until(lambda: t.snapshots)  # ended by the quiet time: nothing says an empty snapshot is over
    assert t.rows == Counter()
    fake.step("v", [{"insert": row(1)}])
    fake.step("v", [{"insert": row(2)}])
    c.until(lambda: t.rows == expected([row(1), row(2)]))
    assert len(t.changes) in (1, 2)


def test_a_stopped_pipeline_then_started_again(real):
    # The server answers that the pipeline is not running: a state of its own, not an outage.
    r = real(start=False)
    c = r.client()
    t = c.subscribe()
    c.until(lambda: t.status.get("state") == "pipeline_stopped")
    assert r.name in t.status["message"]
    r.start()
    r.step([{"insert": row(1)}, {"insert": row(2)}])
    c.until(lambda: t.rows == expected([row(1), row(2)]))
    r.stop()  # the stream ends
    c.until(lambda: t.status.get("state") == "pipeline_stopped")
    assert t.rows == expected([row(1), row(2)]), "stale data stays"
    r.start()
    r.step([{"insert": row(9)}])
    c.until(lambda: t.rows == expected([row(1), row(2), row(9)]))
    assert t.snapshots[-1] == "resync" and t.status.get("state") == "live"


def test_unknown_view_says_so(real):
    # The server answers that it has no such view: that is not an outage ("upstream_down").
    r = real()
    c = r.client()
    t = c.subscribe("nope")
    c.until(lambda: t.status.get("state") == "missing")
    assert "nope" in t.status["message"]


def test_a_view_of_a_program_with_errors_is_not_missing(real, http):
    # Until the program compiles its views are not known: the feed says why, not "no such view".
    r = real(start=False)
    assert http.put(f"/pipelines/{r.name}", json={"program_code": "CREATE VIEW v AS SELEC 1;"}).status_code == 200
    c = r.client()
    t = c.subscribe("v")
    c.until(lambda: t.status.get("state") == "upstream_down")
    assert "no compiled program" in t.status["message"] and "SqlError" in t.status["message"]


def test_idle_feed_stops_after_linger_and_restarts_in_a_new_epoch(real):
    r = real()
    c = r.client()
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    epoch = t.cursor["epoch"]
    c.session.close()
    wait_until(lambda: not r.hub.feeds(), 10, "the idle feed to stop")
    d = r.client()
    t2 = d.subscribe(since=t.cursor)
    d.until(lambda: t2.snapshots)
    assert t2.cursor["epoch"] != epoch and r.opens() == 2


def test_unsubscribe_and_protocol_errors(real):
    r = real()
    c = r.client()
    c.session.handle("not json")
    c.session.handle(json.dumps({"op": "dance"}))
    c.session.handle(json.dumps({"op": "unsubscribe", "id": "nothing"}))
    c.session.handle(json.dumps({"op": "ping", "t": 5}))
    frames = c.pump()
    assert [f["op"] for f in frames] == ["error", "error", "error", "pong"]
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    c.session.handle(json.dumps({"op": "unsubscribe", "id": f"{r.name}/v"}))
    frames = c.pump()
    assert frames[-1]["op"] == "unsubscribed"
    assert r.hub.feeds()[0].subscribers == 0


def test_next_frames_waits_and_wakes(real):
    r = real(rows=[row(1)])
    c = r.client()
    t = c.subscribe()
    c.until(lambda: t.snapshots)
    got = []
    th = threading.Thread(target=lambda: got.extend(c.session.next_frames(timeout=5)))
    th.start()
    wait_until(lambda: c.session._waiting, 5, "the session to wait for frames")
    r.step([{"insert": row(2)}])
    th.join(5)
    assert any('"changes"' in f for f in got)
    assert c.session.next_frames(timeout=0.05) == []
