"""Egress: ``OutputHandler`` (what ``listen`` returns), ``Chunk``, and ``ForeachHandle`` (``foreach_chunk``).

One reader thread per handler holds ``POST /egress/{view}?format=json&backpressure=true`` open and
splits the chunked body into lines itself (a line may arrive in pieces; lines end with ``\\r\\n``).
Each line is a chunk ``{"sequence_number", "json_data"?, "processed_steps"?}``; keepalives carry no
``json_data`` and only advance ``processed_steps``. Chunks wait in a bounded buffer until iterated or
collected with ``to_pandas()``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import orjson

from ._frames import INSERT_DELETE, concat, frame_from_changes
from .errors import SluiceError, StreamError, WaitTimeout

if TYPE_CHECKING:
    import pandas as pd

    from .pipeline import Pipeline

log = logging.getLogger("sluice.client")

MAX_BUFFERED_CHUNKS = 10_000
MAX_BUFFERED_RECORDS = 1_000_000


def split_lines(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the non-blank lines of a byte stream that arrives in arbitrary pieces (``\\n`` or ``\\r\\n``)."""
    buf = bytearray()
    for data in pieces:
        if not data:
            continue
        start = len(buf)  # what is already buffered holds no newline
        buf += data
        pos = 0
        while True:
            i = buf.find(b"\n", max(start, pos))
            if i < 0:
                break
            line = bytes(buf[pos:i]).rstrip(b"\r")
            pos = i + 1
            if line.strip():
                yield line
        if pos:
            del buf[:pos]
    if bytes(buf).strip():
        yield bytes(buf).rstrip(b"\r")


@dataclass(frozen=True)
class Chunk:
    """One egress chunk: the view's changes from (part of) one pipeline step.

    ``changes`` holds one dict per changed row, the row's columns as JSON gave them plus
    ``insert_delete``: +1 for an insert, -1 for a delete. ``to_pandas()`` types them by the schema."""

    sequence_number: int
    changes: list[dict]
    snapshot: bool = False
    processed_steps: int | None = None
    fields: list[dict] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: dict, fields: list[dict]) -> "Chunk":
        data = obj.get("json_data")
        if isinstance(data, dict):
            data = [data]
        changes = []
        for item in data or []:
            if not isinstance(item, dict):
                raise StreamError(f"unexpected change {item!r} in chunk {obj.get('sequence_number')}")
            if "delete" in item:
                changes.append({**item["delete"], INSERT_DELETE: -1})
            if "insert" in item:
                changes.append({**item["insert"], INSERT_DELETE: 1})
        return cls(int(obj.get("sequence_number", -1)), changes, bool(obj.get("snapshot", False)),
                   obj.get("processed_steps"), fields)

    def to_pandas(self) -> pd.DataFrame:
        """The changes as a DataFrame: the view's columns, typed, plus ``insert_delete``."""
        return frame_from_changes(self.fields, self.changes)

    def __len__(self) -> int:
        return len(self.changes)


class OutputHandler:
    """Receives every change to one view from the moment it was created; returned by ``Pipeline.listen``.

    Iterate it (``for chunk in handler``) to get ``Chunk`` objects as they arrive; iteration ends when
    ``close()`` is called or the pipeline stops, and raises ``StreamError`` if the stream breaks.
    ``to_pandas()`` collects what has arrived and not been iterated yet. Use it as a context manager.

    Backpressure: the stream is read with ``backpressure=true``, as the official client does, so the
    pipeline waits for this reader. Received chunks wait in a buffer bounded by ``max_buffered_chunks``
    and ``max_buffered_records``; once it is full the reader stops reading, and the pipeline, with
    every other reader and writer of it, waits until you iterate, call ``to_pandas()`` or ``close()``.
    (Sluice's engine gives up on a reader that stalls longer than its ``--egress-stall-timeout``,
    60 s by default, and ends that stream; iteration then raises ``StreamError``.)
    """

    def __init__(self, pipeline: "Pipeline", view_name: str, relation: dict, segment: str, *,
                 send_snapshot: bool = False, max_buffered_chunks: int = MAX_BUFFERED_CHUNKS,
                 max_buffered_records: int = MAX_BUFFERED_RECORDS):
        self.pipeline = pipeline
        self.view_name = view_name
        self.relation = relation
        self.fields: list[dict] = relation.get("fields") or []
        self._segment = segment
        self._send_snapshot = send_snapshot
        self._max_chunks = max(1, max_buffered_chunks)
        self._max_records = max(1, max_buffered_records)
        self._cv = threading.Condition()
        self._buf: deque[Chunk] = deque()
        self._buf_records = 0
        self._closed = False
        self._ended = False
        self._error: BaseException | None = None
        self._first = threading.Event()
        self._processed_steps = 0
        self._lines = 0
        self._resp = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"sluice-listen-{pipeline.name}-{view_name}")

    # -- starting ------------------------------------------------------------------------------
    def start(self, timeout_s: float | None) -> "OutputHandler":
        """Open the stream and return once its first line arrived (so nothing after this is missed)."""
        self.pipeline.client._handlers.add(self)
        self._thread.start()
        if not self._first.wait(timeout_s):
            self.close()
            raise WaitTimeout(f"the egress stream of {self.view_name!r} sent nothing within {timeout_s} s")
        with self._cv:
            if self._error is not None and not self._lines:
                raise self._error  # the stream never opened; a later failure is raised by iteration
        return self

    def _run(self) -> None:
        params = {"format": "json", "backpressure": True, "array": False,
                  "send_snapshot": True if self._send_snapshot else None}
        resp = None
        try:
            resp = self.pipeline.client._rest.egress(self.pipeline.name, self._segment, params)
            with self._cv:
                self._resp = resp
                if self._closed:
                    return
            for line in split_lines(resp.iter_bytes()):
                self._take_line(line)
                if self._closed:
                    return
        except Exception as e:
            with self._cv:
                if not self._closed:
                    err = e
                    if not isinstance(e, SluiceError):
                        err = StreamError(f"the egress stream of {self.view_name!r} broke: {type(e).__name__}: {e}")
                        err.__cause__ = e
                    self._error = err
        finally:
            if resp is not None:
                try:
                    resp.close()
                except Exception:
                    pass
            with self._cv:
                self._ended = True
                self._resp = None
                self._cv.notify_all()
            self._first.set()

    def _take_line(self, line: bytes) -> None:
        obj = _chunk(line, self.view_name)
        chunk = Chunk.from_json(obj, self.fields) if "json_data" in obj else None
        with self._cv:
            if chunk is not None:
                while not self._closed and self._buf and (
                        len(self._buf) >= self._max_chunks or self._buf_records + len(chunk) > self._max_records):
                    self._cv.wait()  # full: stop reading, so the server's backpressure holds the pipeline
                if self._closed:
                    return
                self._buf.append(chunk)
                self._buf_records += len(chunk)
            steps = obj.get("processed_steps")
            if isinstance(steps, int):
                self._processed_steps = max(self._processed_steps, steps)
            self._lines += 1
            self._cv.notify_all()
        self._first.set()

    # -- consuming -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Chunk]:
        while True:
            with self._cv:
                while not self._buf and not self._ended and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                if self._buf:
                    chunk = self._pop()
                elif self._error is not None:
                    raise self._error
                else:
                    return
            yield chunk

    def _pop(self) -> Chunk:
        chunk = self._buf.popleft()
        self._buf_records -= len(chunk)
        self._cv.notify_all()
        return chunk

    def to_pandas(self, clear_buffer: bool = True) -> pd.DataFrame:
        """Every change received and not yet iterated, as one typed DataFrame (with ``insert_delete``).

        Raises the stream's error if it broke (the buffer is then left as it is)."""
        with self._cv:
            if self._error is not None:
                raise self._error
            chunks = list(self._buf)
            if clear_buffer:
                self._buf.clear()
                self._buf_records = 0
                self._cv.notify_all()
        return concat((c.to_pandas() for c in chunks), self.fields)

    def to_dict(self, clear_buffer: bool = True) -> list[dict]:
        """``to_pandas()`` as a list of row dicts."""
        return self.to_pandas(clear_buffer).to_dict("records")

    def wait_for_token(self, token: str, timeout_s: float | None = None) -> None:
        """Block until the output of everything up to ``token`` has arrived on this stream.

        Raises ``StreamError`` if the stream ends first and ``WaitTimeout`` after ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        status = self.pipeline.wait_for_token(token, timeout_s=timeout_s)
        step = status.get("step")
        if not isinstance(step, int):
            return  # the server does not number steps: completion is all there is to wait for
        with self._cv:
            while self._processed_steps < step:
                if self._error is not None:
                    raise self._error
                if self._ended or self._closed:
                    raise StreamError(f"the egress stream of {self.view_name!r} ended before step {step} "
                                      f"arrived (it got to step {self._processed_steps})")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise WaitTimeout(f"the output of step {step} did not arrive on {self.view_name!r} "
                                      f"within {timeout_s} s (stream is at step {self._processed_steps})")
                self._cv.wait(left)

    # -- state ---------------------------------------------------------------------------------
    @property
    def processed_steps(self) -> int:
        """Pipeline steps whose output for this view has been fully received."""
        return self._processed_steps

    @property
    def ended(self) -> bool:
        """True once the stream is over (closed, pipeline stopped, or broken)."""
        return self._ended

    @property
    def error(self) -> BaseException | None:
        return self._error

    def close(self) -> None:
        """Stop receiving: ends iteration and frees the server's endpoint. Safe to call twice."""
        with self._cv:
            if self._closed:
                return
            self._closed = True  # what is buffered stays for to_pandas(); iteration ends now
            resp = self._resp
            self._cv.notify_all()
        if resp is not None:
            _shutdown(resp)  # wakes a reader blocked in recv()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5.0)

    def __enter__(self) -> "OutputHandler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "ended" if self._ended else "open"
        return (f"<OutputHandler {self.pipeline.name}/{self.view_name} {state}, {len(self._buf)} chunks buffered, "
                f"step {self._processed_steps}>")


def _shutdown(resp) -> None:
    stream = (getattr(resp, "extensions", None) or {}).get("network_stream")
    sock = None
    if stream is not None:
        try:
            sock = stream.get_extra_info("socket")
        except Exception:
            sock = None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class EgressStream:
    """One raw egress stream, from ``Pipeline.egress``: the chunks exactly as the server sends them.

    Iterate it for one dict per line: ``sequence_number``, ``snapshot``, ``processed_steps`` and,
    when the chunk carries changes, ``json_data`` (a list of ``{"insert": row}`` / ``{"delete": row}``;
    ``text_data`` for other formats). Nothing is filtered: the empty chunk the server sends on
    connect and the keepalives are there too, so a gap in ``sequence_number`` means chunks were
    dropped. ``lines()`` gives the same lines undecoded. Iteration ends when the server ends the
    stream (the pipeline stopped) or ``close()`` is called, and raises ``StreamError`` if it breaks.

    Nothing is buffered: with ``backpressure=True`` the pipeline waits for this reader; without it,
    the server drops chunks a slow reader cannot take. Use it as a context manager (``with``), or
    call ``close()``, to free the server's endpoint; ``close()`` may be called from another thread
    and wakes a reader blocked waiting for the next line.
    """

    def __init__(self, response, view_name: str):
        self.response = response  # the underlying ``httpx.Response``, opened and unread
        self.view_name = view_name
        self._closed = False
        self._raw: Iterator[bytes] | None = None

    def lines(self) -> Iterator[bytes]:
        """The stream's lines as bytes, undecoded (blank lines skipped, line ends stripped).

        There is one stream: this iterator and iterating the ``EgressStream`` take from the same lines."""
        if self._raw is None:
            self._raw = self._read_lines()
        return self._raw

    def _read_lines(self) -> Iterator[bytes]:
        try:
            yield from split_lines(self.response.iter_bytes())
        except Exception as e:
            if self._closed:
                return
            if isinstance(e, SluiceError):
                raise
            raise StreamError(f"the egress stream of {self.view_name!r} broke: {type(e).__name__}: {e}") from e

    def __iter__(self) -> EgressStream:
        return self

    def __next__(self) -> dict:
        return _chunk(next(self.lines()), self.view_name)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End the stream and free the server's endpoint. Safe to call twice, and from another thread."""
        if self._closed:
            return
        self._closed = True
        _shutdown(self.response)  # wakes a reader blocked in recv()
        try:
            self.response.close()
        except Exception:
            pass

    def __enter__(self) -> EgressStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<EgressStream {self.view_name} {'closed' if self._closed else 'open'}>"


class ForeachHandle:
    """Runs ``callback(df, seq_no)`` on its own thread for each chunk of a view; from ``foreach_chunk``.

    ``stop()`` ends it after the current call; ``join()`` waits for the end and re-raises what the
    callback raised (it is also logged when it happens). The thread also ends when the pipeline stops."""

    def __init__(self, handler: OutputHandler, callback: Callable[[pd.DataFrame, int], None]):
        self.handler = handler
        self._callback = callback
        self._exc: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"sluice-foreach-{handler.view_name}")
        self._thread.start()

    def _run(self) -> None:
        try:
            for chunk in self.handler:
                try:
                    self._callback(chunk.to_pandas(), chunk.sequence_number)
                except BaseException as e:
                    log.exception("foreach_chunk callback for view %r failed on chunk %d; no more chunks will be "
                                  "passed to it (join() re-raises this)", self.handler.view_name,
                                  chunk.sequence_number)
                    self._exc = e
                    return
        except BaseException as e:
            log.error("foreach_chunk on view %r stopped: %s", self.handler.view_name, e)
            self._exc = e
        finally:
            self.handler.close()

    def stop(self) -> None:
        """Stop receiving; the callback is not called again once the current call returns."""
        self.handler.close()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the thread has ended; re-raise the callback's exception (or the stream's).

        Raises ``WaitTimeout`` if it is still running after ``timeout`` seconds."""
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise WaitTimeout(f"foreach_chunk on {self.handler.view_name!r} still running after {timeout} s")
        if self._exc is not None:
            raise self._exc

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def exception(self) -> BaseException | None:
        """What the callback (or the stream) raised, if anything."""
        return self._exc

    def __enter__(self) -> "ForeachHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self.join()


def _chunk(line: bytes, view_name: str) -> dict:
    """One egress line as its chunk object; ``StreamError`` when it is not a JSON object."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise StreamError(f"the egress stream of {view_name!r} sent a line that is not JSON: "
                          f"{line[:200]!r}") from None
    if not isinstance(obj, dict):
        raise StreamError(f"the egress stream of {view_name!r} sent {line[:200]!r}, not a chunk")
    return obj


__all__ = ["OutputHandler", "Chunk", "ForeachHandle", "EgressStream", "split_lines"]
