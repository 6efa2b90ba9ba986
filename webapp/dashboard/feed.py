"""``ViewFeed``: the one upstream egress stream of one (pipeline, view), its state and replay ring.

- Materialized views are read with ``send_snapshot=true&backpressure=false``; the snapshot becomes the
  state of a new epoch (it ends after ``SNAPSHOT_QUIET_MS`` of silence at the latest). Any gap in
  ``sequence_number`` (the server dropped chunks) or any error reopens the stream: a resynchronisation
  from a fresh snapshot, in a new epoch.
- Other views (no snapshot possible) are read with ``backpressure=true``: the state holds what arrived
  since the feed started, and a gap or a reopened stream marks it ``incomplete_since``.

``chunks.StepAssembler`` turns chunks into whole steps; each gets the next ``seq`` of the epoch, is
applied to the state and goes into the ring.

Threads: a reader thread moves lines from the socket into a bounded queue (``UPSTREAM_BUFFER``; when it
is full the reader stops reading, which is backpressure upstream, or dropped chunks there); the feed
thread parses them and commits steps under ``lock``. Both are started lazily, after any fork.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING

import httpx
import orjson

from webapp.client import NotFoundError, SchemaError, SluiceError

from .chunks import Events, StepAssembler
from .state import Ring, Rows, Step, ViewState

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger("sluice.dashboard.feed")

_END = object()


class _Resync(Exception):
    """Raised inside the feed thread when the stream must be reopened at once (a gap)."""


class ViewFeed:
    def __init__(self, hub: "Hub", pipeline: str, view: str):
        self.hub = hub
        self.pipeline = pipeline
        self.view = view
        s = hub.settings
        self.lock = threading.RLock()
        self.state = ViewState()
        self.ring = Ring(s["RING_STEPS"], s["RING_CHANGES"])
        self.epoch: str | None = None
        self.epoch_t: int | None = None  # ms when the epoch began: a change log reaches back at most this far
        self.seq = 0
        self.ready = False  # the state is valid for ``epoch``
        self.relation = None
        self.state_name = "connecting"  # connecting | live | resyncing | upstream_down | pipeline_stopped | missing | stopped
        self.message = ""
        self.status_version = 0
        self.since = None  # non-materialized: ms when the state started
        self.incomplete_since: int | None = None
        self.counters = {"upstream_opens": 0, "resyncs": 0, "gaps": 0, "dropped_chunks": 0, "steps": 0,
                         "changes": 0, "late_snapshot_chunks": 0, "restarts": 0}
        self._upstream_steps: int | None = None  # the pipeline's step count last seen upstream
        self._stalled = False  # "upstream_down" because the open stream went silent (see _silent)
        self.last_change: int | None = None
        self.subscribers = 0
        self.idle_since: float | None = None
        self._sessions: set = set()
        self._stop = threading.Event()
        self._resp: httpx.Response | None = None
        self._snapshot_cache: Rows | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"feed-{pipeline}-{view}")

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._close_resp()
        with self.lock:
            self._set_status("stopped", "")

    def _close_resp(self) -> None:
        resp = self._resp
        if resp is not None:
            _shutdown(resp)  # wakes the reader blocked in recv()
            try:
                resp.close()
            except Exception:
                pass

    # -- listeners -----------------------------------------------------------------------------
    def attach(self, session) -> None:
        with self.lock:
            self._sessions.add(session)

    def detach(self, session) -> None:
        with self.lock:
            self._sessions.discard(session)

    def _wake(self) -> None:
        with self.lock:
            sessions = list(self._sessions)
        for s in sessions:
            s.wake()

    # -- status --------------------------------------------------------------------------------
    def _set_status(self, name: str, message: str) -> None:
        if (name, message) != (self.state_name, self.message):
            self.state_name, self.message = name, message
            self.status_version += 1

    def status(self) -> dict:
        """The ``status`` frame body (without op/id); call with ``lock`` held."""
        rel = self.relation
        return {
            "pipeline": self.pipeline, "view": self.view, "state": self.state_name, "message": self.message,
            "materialized": None if rel is None else rel.materialized,
            "relation": None if rel is None else rel.describe(),
            "since": self.since, "incomplete_since": self.incomplete_since,
            "epoch": self.epoch, "seq": self.seq, "rows": len(self.state), "last_change": self.last_change,
            "resyncs": self.counters["resyncs"], "gaps": self.counters["gaps"],
            "dropped": self.counters["dropped_chunks"], "restarts": self.counters["restarts"],
        }

    def snapshot_rows(self) -> "Rows":
        """The current rows, shared by every subscriber until the next step; call with ``lock`` held."""
        c = self._snapshot_cache
        if c is None or c.epoch != self.epoch or c.seq != self.seq:
            c = Rows(self.epoch, self.seq, self.state.rows())
            self._snapshot_cache = c
        return c

    # -- the feed thread -----------------------------------------------------------------------
    def _run(self) -> None:
        s = self.hub.settings
        delay = 0.25
        while not self._stop.is_set():
            had_data = False
            try:
                rel = self.hub.upstream.relation(self.pipeline, self.view)
                with self.lock:
                    self.relation = rel
                had_data = self._stream(rel)
                if self._stop.is_set():
                    return
                with self.lock:
                    self._lost("the upstream stream ended (pipeline stopped?)")
            except _Resync as e:
                with self.lock:
                    self.counters["resyncs"] += 1
                    self._set_status("resyncing", str(e))
                    if self.relation is not None and not self.relation.materialized and self.incomplete_since is None:
                        self.incomplete_since = _now_ms()
                delay = 0.05
            except (NotFoundError, SchemaError) as e:
                # The server answered: it has no such view (or pipeline). That is no outage, and the page
                # must not say so; the feed keeps asking, since a new program may add the view.
                with self.lock:
                    self._lost(e.message, "missing")
            except (SluiceError, httpx.HTTPError, OSError, ValueError) as e:
                if self._stop.is_set():
                    return
                # The server answers and says the pipeline is not running: no outage, a state of its own
                # (the header's "upstream down" is for a server or connection that fails).
                stopped = isinstance(e, SluiceError) and e.error_code == "PipelineInteractionNotDeployed"
                with self.lock:
                    self._lost(_describe(e), "pipeline_stopped" if stopped else "upstream_down")
            except Exception as e:  # never let a bug end the feed silently
                log.exception("feed %s/%s failed", self.pipeline, self.view)
                with self.lock:
                    self._lost(_describe(e))
            finally:
                self._close_resp()
                self._resp = None
            self._wake()
            if had_data:
                delay = 0.25
            if self._stop.wait(delay):
                return
            delay = min(s["RETRY_MAX"], delay * 2)

    def _lost(self, why: str, state: str = "upstream_down") -> None:
        """The upstream went away (or no longer has the view): keep the state on screen, say so; ``lock``
        held."""
        self._set_status(state, why)
        if self.ready and self.relation is not None and not self.relation.materialized \
                and self.incomplete_since is None:
            self.incomplete_since = _now_ms()

    def _stream(self, rel) -> bool:
        """Read one upstream stream until it ends. Returns True if it delivered anything."""
        s = self.hub.settings
        materialized = rel.materialized
        resp = self.hub.upstream.open_egress(self.pipeline, rel.segment, backpressure=not materialized,
                                             snapshot=materialized, read_timeout=s["STREAM_TIMEOUT"])
        self._resp = resp
        self._stalled = False
        if self._stop.is_set():
            return False
        with self.lock:
            self.counters["upstream_opens"] += 1
        lines: queue.Queue = queue.Queue(maxsize=max(1, s["UPSTREAM_BUFFER"]))
        threading.Thread(target=self._read, args=(resp, lines), daemon=True,
                         name=f"feed-read-{self.pipeline}-{self.view}").start()
        quiet = s["SNAPSHOT_QUIET_MS"] / 1000.0
        # A server that sends a keepalive every few seconds (Sluice's engine: --keepalive, 3 s) and then
        # nothing for STREAM_STALL seconds is not answering (hung, or the network dropped without a reset):
        # the page must not go on saying "live" until STREAM_TIMEOUT reopens the stream.
        stall = s["STREAM_STALL"] or None
        chunks = StepAssembler(expect_snapshot=materialized)
        got = False
        if not materialized:
            self._begin_epoch(None)
        while True:
            try:
                item = lines.get(timeout=quiet if chunks.in_snapshot else stall)
            except queue.Empty:
                if chunks.in_snapshot:
                    self._act(chunks.quiet(), materialized)
                else:
                    self._silent(stall)
                continue
            self._heard()
            if item is _END:
                return got
            if isinstance(item, BaseException):
                raise item
            try:
                obj = orjson.loads(item)
            except orjson.JSONDecodeError:
                raise _Resync(f"the upstream sent a line that is not JSON: {item[:80]!r}") from None
            if not isinstance(obj, dict):
                raise _Resync("the upstream sent something that is not a chunk")
            got = True
            self._note_steps(obj.get("processed_steps"))
            self._act(chunks.take(obj), materialized)

    def _silent(self, seconds: float) -> None:
        """Nothing came for ``seconds``, not even a keepalive: say the server is not answering (the rows
        stay on screen and the stream stays open: if the server wakes, nothing was missed)."""
        with self.lock:
            if self.state_name != "live":
                return
            self._stalled = True
            self._set_status("upstream_down", f"the pipeline server sent nothing for {seconds:g} s, not even a "
                             "keepalive: it is not answering (hung or cut off); still waiting for it")
        self._wake()

    def _heard(self) -> None:
        """A line came after a silence: live again, on the same stream."""
        if not self._stalled:
            return
        with self.lock:
            self._stalled = False
            if self.state_name == "upstream_down":
                self._set_status("live", "")
        self._wake()

    def _note_steps(self, steps) -> None:
        """Step numbers only grow while a pipeline runs: fewer than before means it started again upstream
        (the engine restarted, or the pipeline was stopped and started), which pages mark in the log."""
        if not isinstance(steps, int):
            return
        if self._upstream_steps is not None and steps < self._upstream_steps:
            with self.lock:
                self.counters["restarts"] += 1
                self.status_version += 1
            self._wake()
        self._upstream_steps = steps

    def _act(self, ev: Events, materialized: bool) -> None:
        if ev.missed:
            with self.lock:
                self.counters["gaps"] += 1
                self.counters["dropped_chunks"] += ev.missed
                if not materialized and self.incomplete_since is None:
                    self.incomplete_since = _now_ms()
                self.status_version += 1
            if materialized:
                raise _Resync(f"the upstream dropped {ev.missed} chunk(s); resynchronising from a fresh snapshot")
            self._wake()
        if ev.snapshot is not None:
            self._begin_epoch(ev.snapshot)
        if ev.late_snapshot:
            with self.lock:
                self.counters["late_snapshot_chunks"] += 1
        for changes in ev.steps:
            self._commit(changes)

    def _read(self, resp: httpx.Response, lines: queue.Queue) -> None:
        try:
            for line in self.hub.upstream.lines(resp):
                while True:  # a full queue stops reading: the upstream's backpressure (or its drops)
                    try:
                        lines.put(line, timeout=1.0)
                        break
                    except queue.Full:
                        if self._stop.is_set():
                            return
            lines.put(_END)
        except BaseException as e:
            lines.put(e)

    def _begin_epoch(self, rows: list[dict] | None) -> None:
        """Start a new epoch: from ``rows`` (a snapshot), or keeping the state (``None``)."""
        with self.lock:
            fresh = not self.ready
            if rows is not None:
                self.state.reset(rows)
                self.incomplete_since = None
            elif fresh:
                self.state.reset(())
                self.since = _now_ms()
            self.epoch = uuid.uuid4().hex[:12]
            self.epoch_t = _now_ms()
            self.seq = 0
            self.ring.clear(0)
            self.ready = True
            self._set_status("live", "")
            self.status_version += 1
        self._wake()

    def _commit(self, changes: list[dict]) -> None:
        now = _now_ms()
        with self.lock:
            self.seq += 1
            self.state.apply(changes)
            self.ring.append(Step(self.seq, changes, now))
            self.counters["steps"] += 1
            self.counters["changes"] += len(changes)
            self.last_change = now
        self._wake()

    def held(self) -> dict:
        """How far back this feed's history reaches, for a change log; call with ``lock`` held."""
        return {"steps": len(self.ring), "changes": self.ring.changes, "oldest_t": self.ring.oldest_t,
                "trimmed_steps": self.ring.trimmed_steps, "trimmed_changes": self.ring.trimmed_changes,
                "epoch_t": self.epoch_t, "limits": {"RING_STEPS": self.ring.max_steps,
                                                    "RING_CHANGES": self.ring.max_changes}}

    def stats(self) -> dict:
        with self.lock:
            return {"pipeline": self.pipeline, "view": self.view, "state": self.state_name,
                    "message": self.message, "epoch": self.epoch, "seq": self.seq, "rows": len(self.state),
                    "ring_steps": len(self.ring), "subscribers": self.subscribers, **self.counters,
                    "incomplete_since": self.incomplete_since}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _shutdown(resp: httpx.Response) -> None:
    stream = (resp.extensions or {}).get("network_stream")
    try:
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass


def _describe(e: BaseException) -> str:
    if isinstance(e, SluiceError):
        return e.message
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


__all__ = ["ViewFeed"]
