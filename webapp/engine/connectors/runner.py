"""The datagen connector at run time: worker threads that make rows and push them as HTTP input is.

Each batch goes through ``Pipeline.push_parsed``, the path of an HTTP ingress request: into the
write-ahead log first (when the pipeline is fault tolerant), then onto the step queue, so generated
rows survive a crash exactly as acknowledged HTTP input does. The batch carries a progress tag
(``progress.py``) so that a restarted connector goes on from where the tables are.

Workers claim consecutive chunks of a plan's rows (Feldera's ``worker_chunk_size``, by default
``min(rate, 10000)``), wait while the pipeline or the connector is paused, while a connector named
in ``start_after`` has not reached its end of input, and while the table has ``max_queued_records``
waiting; a plan's ``rate`` is shared by all workers. End of input is reported once every worker has
finished every plan (never for a plan without ``limit``).
"""

from __future__ import annotations

import logging
import random
import threading
import time

import orjson

from ..errors import BufferFull, StorageUnavailable, Terminating
from ..ingress import parse_body
from ..logbuf import in_pipeline
from .generators import GenerationError, RowMaker
from .progress import Claims

log = logging.getLogger("sluice.engine")

_JSON_PARAMS = {"format": "json", "update_format": "raw", "array": "true"}
_MAX_CHUNK = 10_000  # Feldera's largest datagen batch


class _Rate:
    """Paces a plan's rows to ``rate`` per second across all workers."""

    def __init__(self, rate: int | None):
        self.rate = rate
        self.lock = threading.Lock()
        self.next_free: float | None = None

    def release_at(self, n: int) -> float:
        """When ``n`` more rows may go (now if the plan has no rate)."""
        now = time.monotonic()
        if not self.rate:
            return now
        with self.lock:
            at = now if self.next_free is None or self.next_free < now else self.next_free
            self.next_free = at + n / self.rate
        return at


class DatagenRunner:
    def __init__(self, rt, table, connector, key: str, done: dict):
        self.rt, self.table, self.conn, self.key = rt, table, connector, key
        self.endpoint_name = f"{table.name}.{connector.name}"
        cfg = connector.datagen
        self.user_paused = connector.paused
        self.eoi = False
        self.fatal_error: str | None = None
        self.total_records = self.total_bytes = self.parse_errors = self.transport_errors = 0
        self._claims = [Claims(p.limit, done.get(str(i), [])) for i, p in enumerate(cfg.plans)]
        self._rates = [_Rate(p.rate) for p in cfg.plans]
        self._lock = threading.Lock()
        self._finished = 0
        self._stop = False
        self._threads = [threading.Thread(target=in_pipeline(rt.pipeline.name, self._work), args=(w,), daemon=True,
                                          name=f"datagen-{rt.pipeline.name}-{self.endpoint_name}-{w}")
                         for w in range(cfg.workers)]

    # -- control (called by the runtime) -------------------------------------------------------
    def start(self) -> None:
        for t in self._threads:
            t.start()

    def request_stop(self) -> None:
        with self.rt.cv:
            self._stop = True
            self.rt.cv.notify_all()

    def join(self) -> None:
        for t in self._threads:
            if t.is_alive():
                t.join()

    def set_paused(self, paused: bool) -> None:
        with self.rt.cv:
            self.user_paused = paused
            self.rt.cv.notify_all()

    # -- workers -------------------------------------------------------------------------------
    def _runnable(self) -> bool:
        """Wait (on the runtime's condition) until this connector may push; False when it must stop."""
        rt = self.rt
        with rt.cv:
            while True:
                if self._stop or rt.stopping:
                    return False
                if not (rt.paused or self.user_paused or not self._started()
                        or rt.buffered[self.table.name] >= self.conn.max_queued_records):
                    return True
                rt.cv.wait(1.0)

    def _started(self) -> bool:
        """``start_after``: every connector carrying one of those labels has reached its end of input."""
        wanted = set(self.conn.start_after)
        return not wanted or all(r.eoi for r in self.rt.connectors if wanted & set(r.conn.labels))

    def _work(self, worker: int) -> None:
        cfg = self.conn.datagen
        strings = None
        completed = False
        try:
            for i, plan in enumerate(cfg.plans):
                if any(fs.strategy not in ("increment", "uniform", "zipf") for fs in _all_settings(plan)):
                    from .strings import StringMaker
                    strings = strings or StringMaker()
                maker = RowMaker(self.table, plan, strings)
                chunk = plan.worker_chunk_size or min(plan.rate or _MAX_CHUNK, _MAX_CHUNK)
                if self.conn.max_batch_size:
                    chunk = min(chunk, self.conn.max_batch_size)
                while True:
                    if not self._runnable():
                        return
                    with self._lock:
                        claim = self._claims[i].take(chunk)
                    if claim is None:
                        break
                    start, end = claim
                    # One seed per chunk: the same seed makes the same rows however they were split.
                    rng = random.Random(f"{cfg.seed}:{i}:{start}") if cfg.seed is not None else random.Random()
                    body = orjson.dumps([maker.row(idx, rng) for idx in range(start, end)])
                    wait = self._rates[i].release_at(end - start) - time.monotonic()
                    if wait > 0 and not self._sleep(wait):
                        return
                    self._push(body, {"k": self.key, "p": i, "r": [start, end]})
            completed = True
        except Terminating:
            return
        except GenerationError as e:
            self._fail(str(e))
        except Exception as e:  # a bug here must not pass for a finished connector
            log.exception("datagen connector %s failed", self.endpoint_name)
            self._fail(f"datagen failed: {e}")
        finally:
            with self.rt.cv:
                self._finished += completed
                if completed and self._finished == len(self._threads) and cfg.finite:
                    self.eoi = True
                self.rt.cv.notify_all()

    def _fail(self, message: str) -> None:
        # As in Feldera, a generator error is fatal to the connector and ends its input.
        with self.rt.cv:
            self.fatal_error = message
            self.eoi = True
            self._stop = True
            self.rt.cv.notify_all()

    def _sleep(self, secs: float) -> bool:
        deadline = time.monotonic() + secs
        with self.rt.cv:
            while not (self._stop or self.rt.stopping):
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self.rt.cv.wait(left)
        return False

    def _push(self, body: bytes, tag: dict) -> None:
        batch = parse_body(body, self.table, _JSON_PARAMS)
        raw = (body, dict(_JSON_PARAMS)) if not batch.num_errors else None
        while True:
            try:
                self.rt.pipeline.push_parsed(self.rt, self.table, batch, True, raw=raw, source=tag)
                break
            except BufferFull:
                continue  # the table is still full after the engine's wait; keep waiting
            except StorageUnavailable:
                self.transport_errors += 1
                if not self._sleep(1.0):
                    raise Terminating("stopping") from None
        with self.rt.cv:
            self.total_records += batch.num_records
            self.total_bytes += _record_bytes(body, batch.num_records + batch.num_errors)
            self.parse_errors += batch.num_errors

    # -- statistics ----------------------------------------------------------------------------
    def stats(self, processed: int) -> dict:
        """One ``inputs`` entry of ``/stats``; ``processed`` = this connector's records the steps took."""
        buffered = max(0, self.total_records - processed)
        return {
            "endpoint_name": self.endpoint_name,
            "config": dict(self.conn.raw, stream=self.table.name),
            "metrics": {
                "total_bytes": self.total_bytes, "total_records": self.total_records,
                "buffered_records": buffered, "buffered_bytes": 0,
                "num_transport_errors": self.transport_errors, "num_parse_errors": self.parse_errors,
                "end_of_input": self.eoi,
            },
            "paused": self.user_paused, "barrier": False, "fatal_error": self.fatal_error,
        }


def _all_settings(plan):
    for fs in plan.fields.values():
        while fs is not None:
            yield fs
            fs = fs.value


def _record_bytes(body: bytes, n: int) -> int:
    """The bytes of the ``n`` records in the compact JSON array ``body``, without its brackets and commas:
    Feldera's datagen counts each generated record's JSON, not the batch that carries them (5 rows
    ``{"c1":0}``..``{"c1":4}`` are 40 bytes)."""
    return len(body) - (n + 1) if n else 0


__all__ = ["DatagenRunner"]
