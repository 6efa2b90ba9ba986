"""Where a change log starts (``log_from`` on subscribe): the hub sends, after the first snapshot, the steps
its ring still holds that the choice selects, and says what its bounds dropped. Against the real engine."""

from __future__ import annotations

import time

from .hubsupport import Client, row


def _changes(frame):
    return [(("insert" if "insert" in c else "delete"), c.get("insert") or c.get("delete")) for c in frame["changes"]]


def _three_steps(r, watcher: Client):
    """Three steps after the watcher's snapshot: insert 3; insert 4 and 5; update 1 (x: a -> b).
    Returns the wall-clock time (ms) between the second and the third."""
    t = watcher.subscribe()
    watcher.until(lambda: t.snapshots)
    r.step([{"insert": row(3)}])
    r.step([{"insert": row(4)}, {"insert": row(5)}])
    watcher.until(lambda: len(t.changes) == 2)
    mid = int(time.time() * 1000)
    r.step([{"update": row(1, "b")}])
    watcher.until(lambda: len(t.changes) == 3)
    return mid


UPDATE_1 = [("delete", row(1)), ("insert", row(1, "b"))]


def test_log_from_oldest_newest_n_and_since(real):
    r = real()
    mid = _three_steps(r, r.client())
    everything = [("insert", row(3)), ("insert", row(4)), ("insert", row(5))] + UPDATE_1
    for log_from, want, steps in (("oldest", everything, 3),
                                  ({"last": 3}, [("insert", row(5))] + UPDATE_1, 2),
                                  ({"last": 100}, everything, 3),
                                  ({"since": mid}, UPDATE_1, 1)):
        c = r.client()
        t = c.subscribe(log_from=log_from)
        c.until(lambda: t.history)
        assert t.snapshots == ["subscribe"] and len(t.history) == 1, log_from
        h = t.history[0]
        assert _changes(h) == want, log_from
        assert len(h["steps"]) == steps and h["held"]["steps"] == 3 and h["held"]["changes"] == 5
        assert h["held"]["trimmed_steps"] == 0 and h["held"]["oldest_t"] <= h["steps"][0]["t"]
        # The snapshot already holds every step: the history does not change the table.
        assert t.rows == r.rows()


def test_log_from_now_sends_no_history_and_a_filter_applies(real):
    r = real()
    _three_steps(r, r.client())
    c = r.client()
    now = c.subscribe(sid="now")
    only1 = c.subscribe(sid="k1", log_from="oldest", filter=[{"column": "k", "op": "eq", "value": "1"}])
    c.until(lambda: now.snapshots and only1.history)
    assert now.history == []
    assert _changes(only1.history[0]) == UPDATE_1


def test_ring_bounds_are_counted_as_trimmed(real):
    r = real(settings={"RING_STEPS": 2})
    _three_steps(r, r.client())
    c = r.client()
    t = c.subscribe(log_from="oldest")
    c.until(lambda: t.history)
    h = t.history[0]
    assert _changes(h) == [("insert", row(4)), ("insert", row(5))] + UPDATE_1
    assert (h["held"]["trimmed_steps"], h["held"]["trimmed_changes"]) == (1, 1)
    assert h["held"]["limits"]["RING_STEPS"] == 2


def test_bad_log_from_is_an_error_frame(real):
    r = real(rows=())
    c = r.client()
    bad = ["yesterday", {"last": 0}, {"last": True}, {"since": "noon"}, {"last": 1, "since": 2}, 5]
    tables = [c.subscribe(sid=f"s{i}", log_from=b) for i, b in enumerate(bad)]
    c.until(lambda: all(t.errors for t in tables))
    for b, t in zip(bad, tables):
        assert t.errors[0]["code"] == "BadLogFrom" and "oldest" in t.errors[0]["message"], b
        assert t.snapshots == [], b
