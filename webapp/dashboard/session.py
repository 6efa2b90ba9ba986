"""``Session``: one browser connection's subscriptions, and the frames it pulls from the feeds.

A session never receives pushed data: it pulls. Each ``Subscription`` remembers the cursor
``{epoch, seq}`` it has sent up to; ``next_frames`` turns what the feed has gained since then into at
most one frame per subscription and round (a busy view cannot starve a quiet one), from the feed's
replay ring, or as a snapshot of the feed's state when the cursor's epoch is gone or the ring no
longer reaches back to it. Thread-safe: one thread passes client messages to ``handle``, another
sends what ``next_frames`` returns. Message shapes: ``docs/websocket.md``.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import TYPE_CHECKING, Any

import orjson

from . import logstart
from .state import FilterError, RowFilter

if TYPE_CHECKING:
    from .feed import ViewFeed
    from .hub import Hub


class Subscription:
    def __init__(self, sid: str, feed: "ViewFeed", rf: RowFilter, since: Any, log_from: dict | None = None):
        self.id = sid
        self.log_from = log_from  # where the change log starts (``logstart``); None: from now
        self.feed = feed
        self.filter = rf
        self.epoch: str | None = None  # cursor of what this subscriber has
        self.seq = 0
        self.status_sent = -1
        self.since = since
        self.snapshots = 0


def _cursor(since: Any) -> tuple[str, int] | None:
    if isinstance(since, dict) and isinstance(since.get("epoch"), str) and isinstance(since.get("seq"), int):
        return since["epoch"], since["seq"]
    return None


def _dumps(obj: dict) -> str:
    return orjson.dumps(obj).decode()


class Session:
    """One browser connection's subscriptions. Thread-safe: one thread handles messages, one sends."""

    _ids = itertools.count(1)

    def __init__(self, hub: "Hub", owner: str = "?"):
        self.hub = hub
        self.owner = owner  # the signed-in user, else the client address: USER_MAX_SUBSCRIPTIONS counts per owner
        self.n = next(self._ids)
        self._subs: dict[str, Subscription] = {}
        self._outbox: list[str] = []
        self._cv = threading.Condition()
        self._dirty = True
        self._waiting = False  # the sender is (about to be) waiting on ``_cv``
        self._backlog = False  # the last round left data behind: no batching pause before the next
        self._closed = False
        self._rr = 0  # where the next round starts, for fairness

    @property
    def closed(self) -> bool:
        return self._closed

    def wake(self) -> None:
        """Called by a feed after each commit, for every session watching it: keep it cheap.

        The sender clears ``_dirty`` before it reads the feeds, so setting it here is enough for a sender
        that is busy or pausing; only a waiting one needs the lock and a notify. ``_round`` sets
        ``_waiting`` before it checks ``_dirty``, and this sets ``_dirty`` before it checks ``_waiting``,
        so one of the two always sees the other. (Locking for every session on every step was half the
        hub's time with 1,000 sockets.)"""
        if self._dirty:
            return
        self._dirty = True
        if self._waiting:
            with self._cv:
                self._cv.notify_all()

    def _say(self, frame: dict) -> None:
        with self._cv:
            self._outbox.append(_dumps(frame))
            self._dirty = True
            self._cv.notify_all()

    # -- client messages -----------------------------------------------------------------------
    def handle(self, text: str | bytes) -> None:
        """Act on one client message; problems are answered with an ``error`` frame."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._say({"op": "error", "code": "BadMessage", "message": "messages must be JSON objects"})
            return
        if not isinstance(msg, dict):
            self._say({"op": "error", "code": "BadMessage", "message": "messages must be JSON objects"})
            return
        op = msg.get("op")
        if op == "subscribe":
            self.subscribe(msg.get("pipeline"), msg.get("view"), since=msg.get("since"), filter=msg.get("filter"),
                           columns=msg.get("columns"), sid=msg.get("id"), log_from=msg.get("log_from"))
        elif op == "unsubscribe":
            sid = msg.get("id") or f"{msg.get('pipeline')}/{msg.get('view')}"
            self.unsubscribe(str(sid))
        elif op == "ping":
            self._say({"op": "pong", "t": msg.get("t")})
        else:
            self._say({"op": "error", "code": "UnknownOp", "message": f"unknown op {op!r}",
                       "details": {"ops": ["subscribe", "unsubscribe", "ping"]}})

    def subscribe(self, pipeline: Any, view: Any, *, since: Any = None, filter: Any = None, columns: Any = None,
                  sid: Any = None, log_from: Any = None) -> str | None:
        if not isinstance(pipeline, str) or not isinstance(view, str) or not pipeline or not view:
            self._say({"op": "error", "id": sid, "code": "BadMessage",
                       "message": "subscribe needs \"pipeline\" and \"view\" (strings)"})
            return None
        sid = str(sid) if sid is not None else f"{pipeline}/{view}"
        try:
            rf = RowFilter(filter, columns)
        except FilterError as e:
            self._say({"op": "error", "id": sid, "pipeline": pipeline, "view": view, "code": "BadFilter",
                       "message": str(e)})
            return None
        try:
            start = logstart.parse(log_from)
        except logstart.LogFromError as e:
            self._say({"op": "error", "id": sid, "pipeline": pipeline, "view": view, "code": "BadLogFrom",
                       "message": str(e)})
            return None
        if self._closed:
            return None
        if sid not in self._subs and len(self._subs) >= int(self.hub.settings["MAX_SUBSCRIPTIONS"]):
            return self._too_many(sid, pipeline, view, "socket", "MAX_SUBSCRIPTIONS")
        self.unsubscribe(sid, quiet=True)  # subscribing again replaces (e.g. a new filter)
        if not self.hub.count_in(self.owner):
            return self._too_many(sid, pipeline, view, "user", "USER_MAX_SUBSCRIPTIONS")
        feed = self.hub.acquire(pipeline, view)
        sub = Subscription(sid, feed, rf, _cursor(since), start)
        with feed.lock:
            c = sub.since
            if c is not None and feed.ready and c[0] == feed.epoch and feed.ring.covers(c[1]):
                sub.epoch, sub.seq = c  # resume: only the steps after ``since`` will follow
                sub.snapshots = 1
                self._say({"op": "resumed", "id": sid, "pipeline": pipeline, "view": view,
                           "cursor": {"epoch": c[0], "seq": c[1]}})
        with self._cv:
            self._subs[sid] = sub
            self._dirty = True
            self._cv.notify_all()
        feed.attach(self)
        # Each subscription starts a feed (threads, an upstream stream) when its view is new: let the other
        # connections run between the messages of one that subscribes to many.
        time.sleep(0)
        return sid

    def _too_many(self, sid: str, pipeline: str, view: str, scope: str, setting: str) -> None:
        limit = int(self.hub.settings[setting])
        holder = "this connection" if scope == "socket" else f"{self.owner} (over all its connections)"
        self._say({"op": "error", "id": sid, "pipeline": pipeline, "view": view, "code": "TooManySubscriptions",
                   "message": f"{holder} already holds {limit} subscriptions, the most allowed ({setting}): "
                              "unsubscribe from a view first", "details": {"scope": scope, "limit": limit,
                                                                           "setting": setting}})
        return None

    def unsubscribe(self, sid: str, quiet: bool = False) -> None:
        with self._cv:
            sub = self._subs.pop(sid, None)
        if sub is None:
            if not quiet:
                self._say({"op": "error", "id": sid, "code": "NotSubscribed", "message": f"no subscription {sid!r}"})
            return
        self.hub.count_out(self.owner)
        if not any(s.feed is sub.feed for s in self._subs.values()):
            sub.feed.detach(self)
        self.hub.release(sub.feed)
        if not quiet:
            self._say({"op": "unsubscribed", "id": sid, "pipeline": sub.feed.pipeline, "view": sub.feed.view})

    def close(self) -> None:
        with self._cv:
            if self._closed:
                return
            self._closed = True
            subs = list(self._subs.values())
            self._subs.clear()
            self._cv.notify_all()
        for sub in subs:
            sub.feed.detach(self)
            self.hub.release(sub.feed)
            self.hub.count_out(self.owner)
        self.hub._forget(self)

    # -- frames out ----------------------------------------------------------------------------
    def next_frames(self, timeout: float | None = None) -> list[str]:
        """Wait (up to ``timeout``) for something to send; return the frames of one fair round.

        Returns ``[]`` on timeout (send a keepalive) and when the session is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            frames = self._round(left)
            if frames or self._closed or (deadline is not None and time.monotonic() >= deadline):
                return frames

    def _round(self, timeout: float | None) -> list[str]:
        batch = self.hub.settings["BATCH_MS"] / 1000.0
        quiet = False
        with self._cv:
            self._waiting = True
            if not self._dirty and not self._closed:
                t0 = time.monotonic()
                self._cv.wait(timeout)
                quiet = time.monotonic() - t0 >= batch
            self._waiting = False
            if self._closed or not self._dirty:
                return []
            backlog, self._backlog = self._backlog, False
            self._dirty = False
        if not backlog and not quiet:
            # Steps are coming: let BATCH_MS of them gather into one frame. After a quiet spell the first
            # step goes out at once. (Under load a session is woken while it still sends, so it always
            # pauses, and the frames grow instead of multiplying.)
            time.sleep(batch)
        with self._cv:
            out, self._outbox = self._outbox, []
            subs = list(self._subs.values())
        if subs:
            start = self._rr % len(subs)
            self._rr += 1
            more = False
            for sub in subs[start:] + subs[:start]:
                frames, left = self._frames_for(sub)
                out.extend(frames)
                more = more or left
            if more:
                with self._cv:
                    self._dirty = self._backlog = True
        return out

    def _frames_for(self, sub: Subscription) -> tuple[list[str], bool]:
        """At most a status frame and one data frame; True if more data is waiting."""
        feed = sub.feed
        max_changes = self.hub.settings["MAX_FRAME_CHANGES"]
        frames: list[str] = []
        with feed.lock:
            if feed.status_version != sub.status_sent:
                sub.status_sent = feed.status_version
                frames.append(_dumps({"op": "status", "id": sub.id, **feed.status()}))
            if not feed.ready:
                return frames, False
            epoch, seq = feed.epoch, feed.seq
            steps = None
            reason = None
            if sub.epoch != epoch:
                reason = "subscribe" if sub.snapshots == 0 else "resync"
            elif sub.seq < seq:
                steps = feed.ring.after(sub.seq, max_changes)
                if steps is None:
                    reason = "behind"
            history = None
            if reason is not None:
                rows = feed.snapshot_rows()
                if reason == "subscribe" and sub.log_from is not None:
                    history = feed.ring.held(), feed.held()  # under the lock: they end where the snapshot does
        if reason is not None:
            sub.epoch, sub.seq = epoch, seq
            sub.snapshots += 1
            head = _dumps({"op": "snapshot", "id": sub.id, "pipeline": feed.pipeline, "view": feed.view,
                           "cursor": {"epoch": epoch, "seq": seq}, "reason": reason})
            body = rows.json() if sub.filter.identity else orjson.dumps(sub.filter.rows(rows.rows)).decode()
            frames.append(head[:-1] + ',"rows":' + body + "}")
            if history is not None:
                keep = None if sub.filter.identity else sub.filter.changes
                picked = logstart.select(history[0], sub.log_from, keep)
                frames.append(_dumps(logstart.frame(
                    {"op": "history", "id": sub.id, "pipeline": feed.pipeline, "view": feed.view,
                     "cursor": {"epoch": epoch, "seq": seq}}, picked, history[1])))
            return frames, False
        if not steps:
            return frames, False
        last = steps[-1].seq
        sub.seq = last
        head = {"op": "changes", "id": sub.id, "pipeline": feed.pipeline, "view": feed.view,
                "cursor": {"epoch": epoch, "seq": last}}
        if sub.filter.identity:  # every subscriber sends the same steps: each is encoded once, in the step
            marks = [{"seq": st.seq, "n": len(st.changes), "t": st.t} for st in steps if st.changes]
            if marks:
                head["steps"] = marks
                body = ",".join(st.changes_json() for st in steps if st.changes)
                frames.append(_dumps(head)[:-1] + ',"changes":[' + body + "]}")
            return frames, last < seq
        changes: list[dict] = []
        marks = []
        for st in steps:
            mine = sub.filter.changes(st.changes)
            if mine:
                changes.extend(mine)
                marks.append({"seq": st.seq, "n": len(mine), "t": st.t})
        if changes:
            head["steps"] = marks
            head["changes"] = changes
            frames.append(_dumps(head))
        return frames, last < seq


__all__ = ["Session", "Subscription"]
