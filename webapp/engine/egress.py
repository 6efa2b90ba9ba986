"""Egress streams: one subscriber per HTTP reader, fed by the step thread.

Every chunk, keepalives included, takes the stream's next sequence number. With backpressure the
step thread waits for room in the subscriber's small queue (up to ``stall_timeout`` seconds; then the
reader is declared dead, its stream closed and counted as a stall). Without backpressure the queue
holds at most ``max_chunks`` chunks and ``max_records`` records; a chunk that does not fit is dropped,
which the reader sees as a gap in sequence numbers and ``/stats`` counts as dropped.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import Callable, Iterator

import orjson

KEEPALIVE_SECS = 3.0
MAX_RECORDS_PER_CHUNK = 10_000


class Subscriber:
    def __init__(self, stream: str, fmt: str, backpressure: bool, *, max_chunks: int = 100,
                 max_records: int = 1_000_000, max_bytes: int = 256 << 20, stall_timeout: float = 60.0,
                 keepalive: float = KEEPALIVE_SECS):
        self.stream = stream
        self.fmt = fmt
        self.backpressure = backpressure
        self.endpoint_name = f"{stream}.api-{uuid.uuid4()}"
        self.max_chunks = 4 if backpressure else max_chunks
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.stall_timeout = stall_timeout
        self.keepalive = keepalive
        self._q: deque[tuple[bytes, int]] = deque()  # (line, records)
        self._queued_records = 0
        self._queued_bytes = 0
        self._cv = threading.Condition()
        self._seq = 0
        self.processed_steps = 0
        self.closed = False
        self._no_wait = False
        self.on_close: Callable[[], None] | None = None
        self.on_stall: Callable[[], None] | None = None  # e.g. shut the reader's socket down
        # counters for /stats
        self.transmitted_records = 0
        self.transmitted_bytes = 0
        self.dropped_chunks = 0
        self.dropped_records = 0
        self.stalls = 0
        self.created = time.time()

    # -- step thread side ----------------------------------------------------------------------
    def publish(self, payloads: list[tuple[bytes, int]], step: int, snapshot: bool = False) -> None:
        """Queue one step's chunks (``(json_data bytes, record count)``); the last one carries ``step``.

        A snapshot is queued whole before the reader starts, so it bypasses the limits."""
        with self._cv:
            if self.closed:
                return
            for i, (data, nrec) in enumerate(payloads):
                last = i == len(payloads) - 1
                steps = step if last else max(step - 1, self.processed_steps)
                if self.backpressure and not snapshot:
                    deadline = time.monotonic() + self.stall_timeout
                    while len(self._q) >= self.max_chunks and not self.closed and not self._no_wait:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            self.stalls += 1
                            self._close_locked()
                            if self.on_stall:
                                try:
                                    self.on_stall()
                                except OSError:
                                    pass
                            return
                        self._cv.wait(min(left, 1.0))
                    if self.closed:
                        return
                seq = self._seq
                self._seq += 1
                line = self._line(seq, snapshot, data, steps)
                if not self.backpressure and not snapshot and (
                    len(self._q) >= self.max_chunks
                    or self._queued_records + nrec > self.max_records
                    or self._queued_bytes + len(line) > self.max_bytes
                ):
                    self.dropped_chunks += 1
                    self.dropped_records += nrec
                    continue
                self._q.append((line, nrec))
                self._queued_records += nrec
                self._queued_bytes += len(line)
                self._cv.notify_all()
            if not snapshot:
                self.processed_steps = max(self.processed_steps, step)

    def stop_waiting(self) -> None:
        """The pipeline is stopping: queue what is left without waiting for the reader."""
        with self._cv:
            self._no_wait = True
            self._cv.notify_all()

    def mark_step(self, step: int) -> None:
        """Record that ``step`` produced nothing for this stream."""
        with self._cv:
            self.processed_steps = max(self.processed_steps, step)

    def _line(self, seq: int, snapshot: bool, data: bytes | None, steps: int) -> bytes:
        head = b'{"sequence_number":%d,"snapshot":%s' % (seq, b"true" if snapshot else b"false")
        if data is not None:
            key = b',"json_data":' if self.fmt == "json" else b',"text_data":'
            head += key + data
        return head + b',"processed_steps":%d}\r\n' % steps

    def close(self) -> None:
        with self._cv:
            self._close_locked()

    def _close_locked(self) -> None:
        if not self.closed:
            self.closed = True
            self._cv.notify_all()
            if self.on_close:
                try:
                    self.on_close()
                except OSError:
                    pass

    # -- reader side ---------------------------------------------------------------------------
    def open(self, step: int, snapshot: bool = False) -> None:
        """Queue the empty chunk that goes out at once on connect, so clients know the stream is open.
        When a snapshot follows, this chunk is its first (``snapshot: true``), as every chunk before the
        first change is: a reader can count on ``snapshot: false`` meaning "the snapshot is complete"."""
        with self._cv:
            self.processed_steps = step
            seq = self._seq
            self._seq += 1
            line = self._line(seq, snapshot, None, step)
            self._q.append((line, 0))
            self._queued_bytes += len(line)

    def lines(self) -> Iterator[bytes]:
        """Yield lines until the stream closes and its queue is drained."""
        while True:
            with self._cv:
                if not self._q:
                    if self.closed:
                        return
                    self._cv.wait(self.keepalive)
                if self._q:
                    line, nrec = self._q.popleft()
                    self._queued_records -= nrec
                    self._queued_bytes -= len(line)
                    self.transmitted_records += nrec
                    self.transmitted_bytes += len(line)
                    self._cv.notify_all()
                elif self.closed:
                    return
                else:
                    seq = self._seq
                    self._seq += 1
                    line = self._line(seq, False, None, self.processed_steps)
            yield line

    def metrics(self) -> dict:
        with self._cv:
            return {
                "transmitted_records": self.transmitted_records,
                "transmitted_bytes": self.transmitted_bytes,
                "queued_records": self._queued_records,
                "queued_batches": len(self._q),
                "buffered_records": self._queued_records,
                "buffered_batches": len(self._q),
                "num_encode_errors": 0,
                "num_transport_errors": 0,
                "total_processed_input_records": 0,
                "total_processed_steps": self.processed_steps,
                "memory": self._queued_bytes,
                "dropped_chunks": self.dropped_chunks,
                "dropped_records": self.dropped_records,
                "stalls": self.stalls,
                "backpressure": self.backpressure,
            }


def encode_json_chunks(changes: list[dict], limit: int = MAX_RECORDS_PER_CHUNK) -> list[tuple[bytes, int]]:
    """Cut a list of ``{"insert"|"delete": row}`` into ``json_data`` payloads of at most ``limit`` records."""
    return [(orjson.dumps(changes[i: i + limit]), len(changes[i: i + limit])) for i in range(0, len(changes), limit)]


__all__ = ["Subscriber", "encode_json_chunks", "KEEPALIVE_SECS", "MAX_RECORDS_PER_CHUNK"]
