"""A deployed pipeline: input queue, step thread, completion tokens, egress fan-out and counters.

Threading model: request threads parse input and append batches to ``queue`` (under ``cv``); one
step thread takes everything queued, applies it to the tables and recomputes the views inside one
DuckDB transaction (under ``step_lock``), then hands each relation's change to its subscribers.
A batch's sequence number is its completion token; ``processed_seq`` advances only after a step's
output has been handed to every egress stream, so a complete token means the output is on its way.
"""

from __future__ import annotations

import base64
import bisect
import gc
import logging
import os
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass

import orjson

from typing import Any

from .catalog import Relation, row_encoder
from .egress import Subscriber, encode_json_chunks
from .errors import (
    AdHocQueryError, BufferFull, ClientGone, InvalidToken, PipelinePaused, QueryTimeout, StaleToken, StorageUnavailable,
    Terminating, UnknownOutputStream,
)
from .wal import T_BATCH, WalUnavailable
import pyarrow as pa

from . import heap
from .connectors import record_progress, start_connectors
from .records import ParsedBatch, arrow_rows
from .sql import _clean_duck_message, quote
from .query_watch import WATCHDOG
from .logbuf import bind as bind_log
from .lateness import LatenessFilter
from .arrowrows import ArrowRows
from .stepdb import IDLE_FLUSH_SECS, HeldRows, StepConnection, flush as flush_held
from .table import TableApplier
from .transaction import Transaction

log = logging.getLogger("sluice.engine")


@dataclass
class Batch:
    seq: int
    table: str
    ops: list | None  # None when ``arrow`` holds the batch (inserts parsed by the fast path)
    records: int
    nbytes: int
    wal_seq: int = 0
    arrow: Any = None
    source: dict | None = None  # a connector's progress tag (connectors/progress.py); None for HTTP input

    def get_ops(self) -> list:
        return self.ops if self.ops is not None else [(1, r) for r in arrow_rows(self.arrow)]


def apply_batches(con, applier: TableApplier, batches: list, want_delta: bool) -> tuple[list, list]:
    """Apply one table's batches in order; returns (deleted, inserted) rows (empty when not wanted
    and the batches were plain inserts into a table without a key, which go in as Arrow)."""
    if not applier.key_idx and all(b.arrow is not None for b in batches):
        tbl = batches[0].arrow if len(batches) == 1 else pa.concat_tables([b.arrow for b in batches])
        con.register("__sluice_in", tbl)
        try:
            sql = f"INSERT INTO {quote(applier.table.internal)} SELECT * FROM __sluice_in"
            if want_delta and not applier.keeps_arrow(tbl):
                return [], con.execute(sql + " RETURNING *").fetchall()
            con.execute(sql)
            # The rows stored are the batch's (``arrowrows``): no Python rows unless someone reads them.
            return [], ArrowRows(tbl) if want_delta else []
        finally:
            con.unregister("__sluice_in")
    if all(b.arrow is not None for b in batches):
        tbl = batches[0].arrow if len(batches) == 1 else pa.concat_tables([b.arrow for b in batches])
        done = applier.apply_inserts(con, tbl)
        if done is not None:
            return done
    return applier.apply(con, [op for b in batches for op in b.get_ops()])


class Runtime:
    def __init__(self, pipeline, db, program, plans, *, paused: bool, settings, carried: list | None = None):
        """``carried``: acknowledged batches a failed run left unapplied (``leftover``), queued first."""
        self.pipeline = pipeline
        self.db = db
        self.program = program
        self.settings = settings
        self.incarnation = str(uuid.uuid4())
        self.start_time = time.time()
        self.cv = threading.Condition()
        self.step_lock = threading.Lock()
        self.queue: deque[Batch] = deque()
        # Per table, records accepted and not yet taken by a step (Feldera's ``buffered_records``: what
        # the circuit has not consumed); the buffer limit counts these. A step takes everything queued,
        # so under a bulk load the next step can take up to the limit while this one runs: steps twice
        # as large as when the limit also counted the running step's records, and half the per-step
        # work per record (bench_workload.py W1). ``processing``: the records of the running step.
        self.buffered: Counter = Counter()
        self.buffered_bytes: Counter = Counter()
        self.processing = 0
        # Batch numbers (tokens) continue across stop/start and restarts: everything numbered before this
        # deployment was applied before it started.
        self.next_seq = pipeline.batch_seq
        self.processed_seq = pipeline.batch_seq
        # The newest batch acknowledged (durable and queued). A batch the log refused keeps its number but
        # is never processed, so "everything accepted so far" is this, not ``next_seq``.
        self.acked_seq = pipeline.batch_seq
        self.inflight = 0  # batches in the write-ahead log's queue, not yet durable
        self.waiting: Counter[str] = Counter()  # per table, ingress requests held back (paused, buffer full)
        self.applied_wal_seq = pipeline.applied_wal_seq  # last log record whose batch the tables hold
        self.marks: list[tuple[int, int]] = []  # (max seq consumed, step), ascending
        self.step = 0
        self.paused = paused
        self.stopping = False
        self.stopped = threading.Event()
        self.error: str | None = None
        # Set (under step_lock) when a step was rolled back: the views' in-memory state, and the
        # changes some keep back from their log tables, then hold that step; the pipeline is stopping.
        self.failed = False
        self.unapplied: list[Batch] = []  # the batches of the step that failed
        self.where = ""  # what the step thread is applying or stepping (for a failure's message)
        self.subs: dict[str, list[Subscriber]] = {}
        self.closed_subs: deque = deque(maxlen=50)
        self.appliers = {t.name: TableApplier(t) for t in program.tables}
        self.held = HeldRows(program, self.appliers)  # small steps' rows not yet in DuckDB (``stepdb``)
        self.late = LatenessFilter(program, db)
        # Every view, LOCAL ones included, keeps state: later views may read an earlier view's change.
        self.views = plans.build()
        self.encoders = {r.name: row_encoder(r.columns) for r in program.tables + program.views}
        self.dependents = _dependents(program)
        cfg = pipeline.runtime_config
        self.min_batch = int(cfg.get("min_batch_size_records") or 0)
        self.max_delay = float(cfg.get("max_buffering_delay_usecs") or 0) / 1e6
        # counters
        self.inputs = {t.name: Counter() for t in program.tables}
        self.input_ids = {t.name: f"{t.name}.api-ingress-{uuid.uuid4().hex[:16]}" for t in program.tables}
        # Tables that HTTP ingress has reached: as Feldera's, a table's HTTP input endpoint exists (and
        # /stats lists it) from its first ingress request on, not before.
        self.http_inputs: set[str] = set()
        self.total_input_records = 0
        self.total_input_bytes = 0
        self.total_processed_records = 0
        self.total_processed_bytes = 0
        self.step_latencies: deque[float] = deque(maxlen=1000)
        self.view_times: Counter = Counter()
        self.view_steps: Counter = Counter()  # steps in which each view had a change to apply
        self.txn = Transaction()
        for v in self.views.values():
            v.initialize(self.db)
        self.source_processed: Counter = Counter()  # records of each connector the steps have taken
        for b in carried or ():
            self.queue.append(b)
            self.buffered[b.table] += b.records
            self.buffered_bytes[b.table] += b.nbytes
            self.processed_seq = min(self.processed_seq, b.seq - 1)  # their tokens complete once applied
            if b.source is not None:  # a connector must not make these rows again (they are queued)
                record_progress(pipeline.conn_progress, b.source)
        self.connectors = start_connectors(self, settings.max_datagen_workers)
        # The views' state just built (often millions of small objects, none of them in reference
        # cycles) stays out of Python's full garbage collections from now on; a full collection
        # over it took 30 ms per 100,000 input rows in the middle of steps (bench_incremental.py).
        # Unfrozen when the step thread ends, so that a stopped pipeline's state is collected; and
        # collected first, so that what a stopped runtime left in reference cycles is not frozen too.
        gc.collect()
        gc.freeze()
        self.samples: deque[dict] = deque(maxlen=60)
        self.storage_bytes, self.storage_mb_secs = pipeline.storage_bytes(), 0.0
        self.thread = threading.Thread(target=self._loop, name=f"step-{pipeline.name}", daemon=True)
        self.thread.start()
        self.sampler = threading.Thread(target=self._sample, name=f"sample-{pipeline.name}", daemon=True)
        self.sampler.start()
        for c in self.connectors:
            c.start()

    # -- ingress -------------------------------------------------------------------------------
    def admit(self, table: str, force: bool) -> tuple[float, bool]:
        """Wait, before the body is read, while the pipeline is paused (unforced) or the table's buffer is
        full, so that waiting requests hold no data: their senders are held back by TCP flow control.
        Returns (the deadline ``push`` goes on with, whether it waited)."""
        deadline = time.monotonic() + self.settings.ingress_wait_secs
        cap = self.settings.max_buffered_records
        held = 0
        with self.cv:
            self.http_inputs.add(table)
            try:
                while not self.stopping and ((self.paused and not force) or self.buffered[table] >= cap):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break  # push() raises the precise error
                    self.waiting[table] += 1 - held  # counted once, for stats (and tests) to see
                    held = 1
                    self.cv.wait(min(left, 1.0))
            finally:
                self.waiting[table] -= held
        return deadline, bool(held)

    def push(self, table: Relation, batch: ParsedBatch, force: bool, *, key: str | None = None,
             log_payload=None, answer=None, deadline: float | None = None,
             source: dict | None = None, gone=None) -> tuple[str, Any]:
        """Queue ``batch``; returns (token, answer) once it is durable (when logged) and queued.

        ``log_payload(seq, key, answer) -> bytes`` is the batch's write-ahead-log record
        (``recovery.batch_record``); ``answer(token)`` builds the reply stored with an idempotency key.
        ``deadline`` carries on the wait ``admit`` began, so a refused request waits ``ingress_wait_secs`` in all.
        ``gone()``: whether the request's client has left; checked while this waits (paused again, or the
        buffer filled, while the body was read), and raises ``ClientGone``, as ``admit``'s wait does."""
        if deadline is None:
            deadline = time.monotonic() + self.settings.ingress_wait_secs
        cap = self.settings.max_buffered_records
        with self.cv:
            while True:
                if self.stopping:
                    raise Terminating(f"pipeline '{self.pipeline.name}' is stopping; the input was not taken")
                left = deadline - time.monotonic()
                waits = (self.paused and not force) or (self.buffered[table.name] >= cap and batch.num_records)
                if waits and gone is not None and gone():
                    raise client_left(self.pipeline.name, table.name)
                if self.paused and not force:
                    if left <= 0:
                        raise PipelinePaused(
                            f"pipeline '{self.pipeline.name}' stayed paused for {self.settings.ingress_wait_secs:g} s; "
                            "resume it, or push with force=true to have the input processed while paused",
                            {"pipeline_name": self.pipeline.name, "waited_secs": self.settings.ingress_wait_secs})
                    self.cv.wait(min(left, 1.0))
                    continue
                if self.buffered[table.name] >= cap and batch.num_records:
                    if left <= 0:
                        raise BufferFull(
                            f"table '{table.name}' already has {self.buffered[table.name]} records waiting "
                            f"(limit {cap}); retry when the pipeline has caught up",
                            {"table": table.name, "buffered_records": self.buffered[table.name], "limit": cap})
                    self.cv.wait(min(left, 1.0))
                    continue
                break
            if source is None:  # a connector counts its own input (connectors/runner.py)
                self.http_inputs.add(table.name)
                m = self.inputs[table.name]
                m["num_parse_errors"] += batch.num_errors
                m["json_scanned_chars"] += batch.scanned_chars
            if not batch.num_records:
                tok = self._token(self.next_seq if self.inflight else self.acked_seq)
                return tok, answer(tok) if answer else None
            self.next_seq += 1
            b = Batch(self.next_seq, table.name, batch._ops if batch.arrow is None else None, batch.num_records,
                      batch.num_bytes, arrow=batch.arrow, source=source)
            tok = self._token(b.seq)
            ans = answer(tok) if answer else None
            self.buffered[table.name] += batch.num_records
            self.buffered_bytes[table.name] += batch.num_bytes
            wal = self.pipeline.wal()
            if wal is None:
                self._enqueue(b)
                return tok, ans
            payload = log_payload(b.seq, key, ans)
            self.inflight += 1
            ticket = wal.append(T_BATCH, payload, batch.num_records, on_durable=lambda: self._enqueue(b))
            b.wal_seq = ticket.seq
            self.pipeline.note_logged(ticket.seq)
        try:
            ticket.wait(self.settings.ingress_wait_secs + 30)
        except WalUnavailable as e:
            with self.cv:
                self.inflight -= 1
                self.buffered[table.name] -= batch.num_records
                self.buffered_bytes[table.name] -= batch.num_bytes
                self.cv.notify_all()
            raise StorageUnavailable(
                f"the input was not accepted: {e}. Nothing of it was stored; retry once the disk has room "
                "and is writable", {"table": table.name}) from None
        return tok, ans

    def _enqueue(self, b: Batch) -> None:
        """Make a (durable) batch visible to the step thread; the log calls this in log order."""
        with self.cv:
            if b.wal_seq:
                self.inflight -= 1
            if b.source is None:
                m = self.inputs[b.table]
                m["total_bytes"] += b.nbytes
                m["total_records"] += b.records
            self.total_input_records += b.records
            self.total_input_bytes += b.nbytes
            self.acked_seq = max(self.acked_seq, b.seq)
            self.queue.append(b)
            self.cv.notify_all()

    def current_token(self) -> str:
        """A token that completes once every batch accepted so far is processed."""
        with self.cv:
            return self._token(self.acked_seq)

    def _token(self, seq: int) -> str:
        raw = orjson.dumps({"i": self.pipeline.token_id, "s": seq})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def completion(self, token: str) -> dict:
        try:
            d = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            inc, seq = d["i"], int(d["s"])
        except Exception:
            raise InvalidToken("invalid completion token: pass the token returned by ingress unchanged",
                               {"token": token}) from None
        if inc != self.pipeline.token_id:
            raise StaleToken("this token belongs to data that was since cleared (or to another pipeline)",
                             {"token": token})
        with self.cv:
            if seq <= self.processed_seq:
                i = bisect.bisect_left(self.marks, (seq, -1))
                step = self.marks[i][1] if i < len(self.marks) else self.step
                return {"status": "complete", "step": step}
            return {"status": "inprogress", "step": None}

    def wait_complete(self, token: str, timeout: float) -> bool:
        """Block until ``token`` is complete (True) or ``timeout`` passes or the pipeline stops (False)."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while self.completion(token)["status"] != "complete":
                left = deadline - time.monotonic()
                if left <= 0 or (self.stopping and not self.queue and not self.inflight):
                    return False
                self.cv.wait(min(left, 0.5))
        return True

    # -- control -------------------------------------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        with self.cv:
            self.paused = paused
            self.cv.notify_all()

    def stop(self) -> None:
        """Stop the connectors, process what was acknowledged, end every egress stream, stop the step thread."""
        for c in self.connectors:
            c.request_stop()
        with self.cv:
            self.stopping = True
            self.cv.notify_all()
        for c in self.connectors:
            c.join()  # no connector pushes once the step thread has drained the queue
        # Readers get what is left, but a reader that does not read must not hold the stop up.
        for subs in list(self.subs.values()):
            for s in list(subs):
                s.stop_waiting()
        self.thread.join()
        for subs in list(self.subs.values()):
            for s in list(subs):  # close() removes the subscriber from this list
                s.close()
        self.stopped.set()
        # Joined so that when the pipeline says Stopped no thread of this runtime still holds it.
        self.sampler.join()

    # -- egress --------------------------------------------------------------------------------
    def subscribe(self, name: str, fmt: str, backpressure: bool, snapshot: bool) -> Subscriber:
        rel = self.program.output(name)
        if rel is None:
            raise UnknownOutputStream(name)
        sub = Subscriber(rel.name, fmt, backpressure, stall_timeout=self.settings.egress_stall_secs,
                         keepalive=self.settings.keepalive_secs, max_chunks=self.settings.egress_max_chunks)
        with self.step_lock:
            sub.open(self.step, snapshot=snapshot)
            if snapshot and not self.failed:
                self.tables_complete()
                if rel.name in self.views:
                    self.views[rel.name].flush(self.db)  # changes a view kept back reach its log table
                sql = self.views[rel.name].contents_sql() if rel.name in self.views else \
                    f"SELECT * FROM {quote(rel.internal)}"  # DuckDB's name ("Orders" and orders are two tables)
                cur = self.db.cursor()
                try:
                    rows = cur.execute(sql + " ORDER BY ALL").fetchall()
                finally:
                    cur.close()
                enc = self.encoders[rel.name]
                if rows:
                    sub.publish(self._encode(rel.name, [], rows, fmt, enc), self.step, snapshot=True)
            if self.stopping or self.failed:
                sub.close()
            self.subs.setdefault(rel.name, []).append(sub)

        def _gone():
            subs = self.subs.get(rel.name, [])
            if sub in subs:
                subs.remove(sub)
                self.closed_subs.append(sub)
        sub.on_close = _gone
        return sub

    def _encode(self, name, dels, ins, fmt, enc=None):
        enc = enc or self.encoders[name]
        if fmt == "csv":
            from .csvfmt import encode_csv_chunks
            return encode_csv_chunks(dels, ins, enc, self.program.relation(name))
        return encode_json_chunks([{"delete": enc(r)} for r in dels] + [{"insert": enc(r)} for r in ins])

    # -- ad-hoc reads --------------------------------------------------------------------------
    def begin_read(self, cur, gone=None) -> None:
        """Begin ``cur``'s read-only transaction between two steps, every view's log table complete:
        views that keep changes back from it (``IncrementalView.defer_log``) append them first, and
        the transaction's snapshot is taken before the next step may start (DuckDB takes it at the
        first statement that reads the catalog, not at BEGIN), so that a query never sees tables one
        step ahead of a view. Waits, at most the query's time limit and while its client is there,
        for what holds the step lock: a step, a snapshot being sent, a checkpoint."""
        limit = self.settings.query_timeout_secs
        deadline = time.monotonic() + limit if limit > 0 else None
        while not self.step_lock.acquire(timeout=0.1):
            if gone is not None and gone():
                raise AdHocQueryError("query stopped: its client went away", None)
            if deadline is not None and time.monotonic() >= deadline:
                raise QueryTimeout(f"the query waited {limit:g} s for the pipeline's current step (or a snapshot "
                                   "or checkpoint it was taking) to end and was not run (the engine's "
                                   "--query-timeout setting)", {"timeout_secs": limit})
        try:
            if self.failed:
                # The views hold a rolled-back step's changes, and some kept committed ones back from their
                # log tables: what a query would read of them is not the tables' step.
                raise Terminating(f"pipeline '{self.pipeline.name}' is stopping after a failed step ({self.error}); "
                                  "query it again once it is started", {"pipeline_name": self.pipeline.name})
            self.tables_complete()
            for v in self.views.values():
                v.flush(self.db)
            cur.execute("BEGIN TRANSACTION READ ONLY")
            cur.execute("SELECT count(*) FROM duckdb_tables()").fetchall()
        finally:
            self.step_lock.release()

    # -- the step loop -------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            with bind_log(self.pipeline.name):
                self._run()
        finally:
            gc.unfreeze()

    def _run(self) -> None:
        while True:
            batches: list[Batch] = []
            flush = False  # held rows go into their tables: the thread is idle, or the runtime ends
            with self.cv:
                while not self._can_step():
                    if not self.held:
                        self.cv.wait()
                    elif not self.cv.wait(IDLE_FLUSH_SECS) and not self._can_step():
                        flush = True
                        break
                commit = self.txn.committing
                end = not self.queue and self.stopping and not self.inflight and not commit
                if flush or end:
                    commit = False
                elif self.min_batch and not self.stopping and not commit:
                    deadline = time.monotonic() + self.max_delay
                    while sum(b.records for b in self.queue) < self.min_batch and not self.stopping:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self.cv.wait(left)
                if not (flush or end):
                    batches = list(self.queue)
                    self.queue.clear()
                    for b in batches:
                        self.buffered[b.table] -= b.records
                        self.buffered_bytes[b.table] -= b.nbytes
                        self.processing += b.records
                    if batches:
                        self.cv.notify_all()  # requests held back by the buffer limit may go on
            try:
                if flush or end:
                    self.flush_held()
                    if end:
                        return
                    continue
                if batches:
                    self._step(batches)
                if commit:
                    self._committed()
            except Exception as e:  # a step that fails stops the pipeline, as a runtime error does in Feldera
                log.exception("step failed in pipeline %s", self.pipeline.name)
                self.error = f"step failed in {self.where}: {root_cause(e)}"
                if self.failed:  # rolled back: its input is not in the tables, and is kept (``leftover``)
                    n = sum(b.records for b in batches)
                    self.error += (f". The step's input ({n} records, acknowledged) is kept and applied again "
                                   "when the pipeline starts: change the program so that it does not fail, or "
                                   "clear the pipeline's storage to drop it")
                # Rows earlier steps held back (``stepdb``) go into their tables now; if even that fails,
                # their batches are handed on with the failed step's, to be applied again.
                held = []
                try:
                    self.flush_held()
                except Exception:
                    log.exception("pipeline %s: inserting held rows failed; their batches are kept",
                                  self.pipeline.name)
                    held = self.held.held_batches()
                with self.cv:
                    self.stopping = True
                    # Only a step rolled back left its input out of the tables (an error after COMMIT,
                    # in publishing say, did not).
                    self.unapplied = sorted(held + (list(batches) if self.failed else []), key=lambda b: b.seq)
                    self.processing = 0
                    self.cv.notify_all()
                threading.Thread(target=self.pipeline._runtime_failed, args=(self.error,), daemon=True).start()
                return

    def flush_held(self) -> None:
        """Insert the rows small steps held back (``stepdb``) into their tables; takes the step lock."""
        if self.held:
            with self.step_lock:
                self.where = "inserting rows held back from earlier steps"
                self.tables_complete()

    def tables_complete(self) -> None:
        """(Under ``step_lock``.) The rows small steps held back go into their tables, so that what reads
        the tables next (a query, a snapshot, a checkpoint) sees every step that ended."""
        flush_held(self.db, self.held)

    def leftover(self) -> list[Batch]:
        """(Once stopped.) Acknowledged batches this run did not apply: a failed step's and those queued
        after it, in log order."""
        deadline = time.monotonic() + 10
        with self.cv:  # a batch still on its way through the log is queued once durable
            while self.inflight and time.monotonic() < deadline:
                self.cv.wait(0.1)
            return self.unapplied + list(self.queue)

    def _can_step(self) -> bool:
        """(Under ``cv``.) Whether the step thread has work: queued input no transaction holds back, a
        commit to finish, or the end of a stop."""
        if self.txn.committing or (self.stopping and not self.inflight):
            return True
        return bool(self.queue) and not self.txn.holds_input

    def _committed(self) -> None:
        with self.cv:
            tid = self.txn.id
            self.txn.committed()
            self.cv.notify_all()
        log.info("transaction %d committed at step %d", tid, self.step)

    # -- transactions --------------------------------------------------------------------------
    def start_transaction(self) -> int:
        with self.cv:
            tid = self.txn.start()
        log.info("transaction %d started", tid, extra={"pipeline": self.pipeline.name})
        return tid

    def commit_transaction(self) -> int:
        with self.cv:
            tid = self.txn.commit()
            self.cv.notify_all()
        log.info("transaction %d committing", tid, extra={"pipeline": self.pipeline.name})
        return tid

    def _step(self, batches: list[Batch]) -> None:
        t0 = time.perf_counter()
        by_table: dict[str, list] = {}
        for b in batches:
            by_table.setdefault(b.table, []).append(b)
        changes: dict[str, tuple[list, list]] = {}
        with self.step_lock:
            con = StepConnection(self.db, self.held)
            try:
                touched: set[str] = set()
                for name, bs in by_table.items():
                    self.where = f"table {name}"
                    want = bool(self.dependents.get(name)) or bool(self.subs.get(name))
                    bs = self.late.admit(name, bs)
                    ins = self.held.hold(con, name, bs) if bs else None
                    if ins is not None:
                        dels = []
                    else:
                        con.need(name)
                        dels, ins = apply_batches(con, self.appliers[name], bs, want)
                    if dels or ins:
                        changes[name] = (dels, ins)
                        touched.add(name)
                affected = set()
                for name in touched:
                    affected |= self.dependents.get(name, set())
                for v in self.program.views:
                    if v.name in affected and v.name in self.views:
                        self.where = f"view {v.name}"
                        tv = time.perf_counter()
                        dels, ins = self.views[v.name].step(con, changes)
                        self.view_times[v.name] += time.perf_counter() - tv
                        self.view_steps[v.name] += 1
                        if dels or ins:
                            changes[v.name] = (dels, ins)
                con.commit()
                self.late.commit()
                for b in batches:
                    if b.source is not None:
                        record_progress(self.pipeline.conn_progress, b.source)
            except BaseException:
                con.rollback()
                self.failed = True
                raise
            self.step += 1
            step = self.step
            subs = {k: list(v) for k, v in self.subs.items() if v}
        for name, lst in subs.items():
            if name in changes:
                dels, ins = changes[name]
                payload = {}
                for s in lst:
                    if s.fmt not in payload:
                        payload[s.fmt] = self._encode(name, dels, ins, s.fmt)
                    s.publish(payload[s.fmt], step)
            else:
                for s in lst:
                    s.mark_step(step)
        # After the egress streams have the change, before its tokens complete (so that what a
        # client measures once its load completes is what the process keeps).
        heap.after_bulk(sum(b.nbytes for b in batches), not self.queue)  # (a batch queued meanwhile only delays it)
        with self.cv:
            for b in batches:
                self.processing -= b.records
                self.total_processed_records += b.records
                self.total_processed_bytes += b.nbytes
                if b.source is not None:
                    self.source_processed[b.source["k"]] += b.records
            if batches:
                self.processed_seq = max(self.processed_seq, batches[-1].seq)
                self.applied_wal_seq = max([self.applied_wal_seq] + [b.wal_seq for b in batches])
                self.marks.append((self.processed_seq, step))
                if len(self.marks) > 100_000:
                    del self.marks[:50_000]
            self.step_latencies.append(time.perf_counter() - t0)
            self.cv.notify_all()

    # -- statistics ----------------------------------------------------------------------------
    def _sample(self) -> None:
        """One sample a second for throughput charts: processed records, memory, storage."""
        last = time.monotonic()
        while not self.stopped.is_set():
            try:
                self.storage_bytes = self.pipeline.storage_bytes()
            except Exception:  # one bad look must not end the samples of the whole run
                log.exception("pipeline %s: counting its storage failed", self.pipeline.name,
                              extra={"pipeline": self.pipeline.name})
            now = time.monotonic()
            self.storage_mb_secs += self.storage_bytes / 2**20 * (now - last)
            last = now
            self.samples.append({"t": int(time.time() * 1000), "r": self.total_processed_records,
                                 "i": self.total_input_records, "m": _rss(), "s": self.storage_bytes})
            self.stopped.wait(1.0)

    def connector_stats(self, connector) -> dict:
        with self.cv:
            return connector.stats(self.source_processed[connector.key])

    def time_series(self) -> dict:
        return {"now": int(time.time() * 1000), "samples": list(self.samples)}

    def stats(self) -> dict:
        with self.cv:
            buffered = sum(self.buffered.values())
            lat = sorted(self.step_latencies)
            inputs = [{
                "endpoint_name": self.input_ids[t],
                "config": {"stream": t},
                "metrics": {
                    "total_bytes": m["total_bytes"], "total_records": m["total_records"],
                    "buffered_records": self.buffered[t], "buffered_bytes": self.buffered_bytes[t],
                    # HTTP input ends with each request, as Feldera's per-request HTTP endpoints do.
                    "num_transport_errors": 0, "num_parse_errors": m["num_parse_errors"], "end_of_input": True,
                    "json_scanned_chars": m["json_scanned_chars"],
                    "waiting_requests": self.waiting[t],
                    # The table's records dropped by its LATENESS (from any input), in committed steps.
                    "num_late_records": self.late.dropped.get(t, 0),
                },
                "paused": self.paused, "barrier": False, "fatal_error": None,
            } for t, m in self.inputs.items() if t in self.http_inputs]
            inputs += [c.stats(self.source_processed[c.key]) for c in self.connectors]
            # Feldera's completion: every input connector has ended and everything it sent is processed.
            complete = (buffered == 0 and not self.processing and not self.queue and not self.inflight
                        and all(c.eoi for c in self.connectors))
            gm = {
                "state": "Paused" if self.paused else "Running",
                "bootstrap_in_progress": False,
                "transaction_status": self.txn.status,
                "transaction_id": self.txn.id,
                "rss_bytes": _rss(),
                "cpu_msecs": int(time.process_time() * 1000),
                "start_time": int(self.start_time),
                "initial_start_time": int(self.start_time),
                "uptime_msecs": int((time.time() - self.start_time) * 1000),
                "incarnation_uuid": self.incarnation,
                "wal_applied_seq": self.applied_wal_seq,
                "storage_bytes": self.storage_bytes,
                "storage_mb_secs": int(self.storage_mb_secs),
                "runtime_elapsed_msecs": int((time.time() - self.start_time) * 1000),
                "buffered_input_records": buffered,
                "buffered_input_bytes": sum(self.buffered_bytes.values()),
                "total_input_records": self.total_input_records,
                "total_input_bytes": self.total_input_bytes,
                "total_processed_records": self.total_processed_records,
                "total_processed_bytes": self.total_processed_bytes,
                "total_completed_records": self.total_processed_records,
                "total_initiated_steps": self.step + (1 if self.queue else 0),
                "total_completed_steps": self.step,
                "pipeline_complete": complete,
                "output_stall_msecs": 0,
                "step_latency_msecs": {
                    "p50": _pct(lat, 0.5), "p90": _pct(lat, 0.9), "p99": _pct(lat, 0.99), "max": _pct(lat, 1.0),
                },
                "view_time_msecs": {k: round(v * 1000, 3) for k, v in self.view_times.items()},
                "running_adhoc_queries": WATCHDOG.running(self.db),
            }
        outputs = []
        for subs in list(self.subs.values()):
            for s in list(subs):
                outputs.append({"endpoint_name": s.endpoint_name, "config": {"stream": s.stream},
                                "metrics": s.metrics(), "fatal_error": None, "closed": False})
        # Streams closed recently stay listed, so a stall or drop is never invisible.
        for s in list(self.closed_subs):
            outputs.append({"endpoint_name": s.endpoint_name, "config": {"stream": s.stream},
                            "metrics": s.metrics(), "fatal_error": "stalled" if s.stalls else None, "closed": True})
        # Feldera's CheckpointActivity, tagged by "status": idle, or in_progress since started_at.
        started = self.pipeline.ckpt_started_at
        activity = {"status": "in_progress", "started_at": started} if started else {"status": "idle"}
        return {"global_metrics": gm, "inputs": inputs, "outputs": outputs, "suspend_error": None,
                "checkpoint_activity": activity, "permanent_checkpoint_errors": []}


def client_left(pipeline: str, table: str) -> ClientGone:
    """The error for an ingress request whose client closed its connection while the request waited: the
    client saw no answer (and would send it again), so nothing of it is taken."""
    log.info("an ingress request to table %s was dropped: its client closed the connection while the request "
             "waited (paused pipeline or full buffer); nothing of it was stored", table, extra={"pipeline": pipeline})
    return ClientGone(f"the client closed the connection while the request to table '{table}' waited; nothing of "
                      "it was stored", {"table": table})


def root_cause(e: BaseException) -> str:
    """The error that failed a step: DuckDB refuses every later statement of the aborted transaction
    (cleanup in a ``finally``, say), and that refusal must not stand in for the cause."""
    while "Current transaction is aborted" in str(e) and (e.__context__ or e.__cause__) is not None:
        e = e.__cause__ or e.__context__
    # DuckDB's first line says what failed; the rest quotes the operator's internal SQL (``__c0``).
    return _clean_duck_message(re.sub(r" when casting from source column __c\d+", "", str(e).split("\n")[0]))


def _pct(sorted_vals: list[float], q: float) -> float | None:
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return round(sorted_vals[i] * 1000, 3)


def _rss() -> int:
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _dependents(program) -> dict[str, set[str]]:
    """For each relation, every view that reads it directly or through other views."""
    direct: dict[str, set[str]] = {}
    for v in program.views:
        for d in v.depends_on:
            direct.setdefault(d, set()).add(v.name)
    out: dict[str, set[str]] = {}
    for r in [t.name for t in program.tables] + [v.name for v in program.views]:
        seen, todo = set(), list(direct.get(r, ()))
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.add(x)
                todo.extend(direct.get(x, ()))
        out[r] = seen
    return out


__all__ = ["Runtime", "Batch", "client_left"]
