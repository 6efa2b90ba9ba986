"""Per-pipeline logs: a bounded buffer of log lines for each pipeline, fed by a ``logging`` handler.

A record belongs to a pipeline when it carries ``pipeline`` (``extra={"pipeline": name}``, or a
``LoggerAdapter`` from ``pipeline_logger``) or is logged while ``bind(name)`` holds in the current
thread. Every other record is left to the process log alone.

Lines are numbered from 1 within one buffer's lifetime (its ``epoch``, a UUID). The buffer outlives a
stop and start of its pipeline; it ends when the pipeline is deleted or the engine restarts, as
Feldera's does. A reader resumes with the cursor ``"<epoch>:<seq>"`` (the last line it read).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import datetime as _dt
import logging
import re
import threading
import uuid
from collections import deque

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("sluice_pipeline", default=None)

LOGGER_ROOT = "sluice"


@contextlib.contextmanager
def bind(name: str):
    """Attribute records logged in this thread (and context) to pipeline ``name`` while it holds."""
    token = _current.set(name)
    try:
        yield
    finally:
        _current.reset(token)


def enter(name: str) -> contextvars.Token:
    """``bind`` for code that cannot hold a ``with`` (a request's start and end); ``leave`` ends it."""
    return _current.set(name)


def leave(token: contextvars.Token) -> None:
    _current.reset(token)


def in_pipeline(name: str, fn):
    """``fn`` wrapped so that it runs under ``bind(name)``: for a pipeline's own threads."""
    def run(*args, **kwargs):
        with bind(name):
            return fn(*args, **kwargs)
    return run


def pipeline_logger(name: str, logger: str = "sluice.pipeline") -> logging.LoggerAdapter:
    return logging.LoggerAdapter(logging.getLogger(logger), {"pipeline": name})


class LogRing:
    """One pipeline's retained lines; ``follow`` hands them to readers as they come."""

    def __init__(self, capacity: int):
        self.epoch = str(uuid.uuid4())
        self.lines: deque[str] = deque(maxlen=max(1, capacity))
        self.last_seq = 0  # number of the newest line
        self.closed = False
        self.cv = threading.Condition()
        # A buffer opens with Feldera's own first line, which its tools and tests look for to tell a
        # log that starts here from one that lost its beginning.
        self.append(format_lines(logging.LogRecord(f"{LOGGER_ROOT}.logs", logging.INFO, __file__, 0,
                                                   "Fresh start of pipeline logs", None, None))[0])

    @property
    def first_seq(self) -> int:
        """Number of the oldest retained line (last_seq + 1 when none is)."""
        return self.last_seq - len(self.lines) + 1

    def append(self, line: str) -> None:
        with self.cv:
            self.lines.append(line)
            self.last_seq += 1
            self.cv.notify_all()

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def position(self, cursor: str | None) -> tuple[int, int]:
        """(seq of the line before the first one to send, lines lost between the cursor and it).

        An empty cursor, or one from another epoch, starts at the oldest retained line; a cursor older
        than the retained lines starts there too, and the difference is the gap."""
        with self.cv:
            start = self.first_seq - 1
            if not cursor:
                return start, 0
            epoch, _, seq_s = cursor.rpartition(":")
            try:
                seq = int(seq_s)
            except ValueError:
                seq = -1
            if epoch != self.epoch or seq < 0 or seq > self.last_seq:
                # A cursor of an earlier lifetime (or beyond the end): what it missed is unknown here,
                # so only the lines this buffer already dropped are counted as lost.
                return start, start
            if seq >= start:
                return seq, 0
            return start, start - seq

    def read_after(self, seq: int, timeout: float) -> tuple[list[str], int]:
        """Lines numbered above ``seq`` (waiting up to ``timeout`` for one), and the new position."""
        with self.cv:
            if self.last_seq <= seq and not self.closed:
                self.cv.wait(timeout)
            if self.last_seq <= seq:
                return [], seq
            first = self.first_seq
            skip = max(0, seq + 1 - first)
            out = list(self.lines)[skip:]
            return out, self.last_seq


class PipelineLogs(logging.Handler):
    """Every pipeline's ``LogRing``, fed from the ``sluice`` loggers."""

    def __init__(self, capacity: int, known=None):
        super().__init__(level=logging.INFO)
        self.capacity = capacity
        # Whether a pipeline of that name exists: a record logged late by a deleted pipeline's thread
        # must not start a buffer that a new pipeline of the same name would then inherit.
        self.known = known
        self.rings: dict[str, LogRing] = {}
        self._lock = threading.Lock()

    def ring(self, name: str) -> LogRing:
        with self._lock:
            r = self.rings.get(name)
            if r is None:
                r = self.rings[name] = LogRing(self.capacity)
            return r

    def forget(self, name: str) -> None:
        """The pipeline was deleted: its buffer ends, and readers see the end of their stream."""
        with self._lock:
            r = self.rings.pop(name, None)
        if r is not None:
            r.close()

    def close_all(self) -> None:
        with self._lock:
            rings = list(self.rings.values())
        for r in rings:
            r.close()

    def emit(self, record: logging.LogRecord) -> None:
        name = pipeline_of(record)
        if not name or (self.known is not None and not self.known(name)):
            return
        try:
            ring = self.ring(name)
            for line in format_lines(record):  # one sequence number per line, as readers count them
                ring.append(line)
        except Exception:  # a log line must never break the code that logs it
            self.handleError(record)

    def attach(self) -> "PipelineLogs":
        lg = logging.getLogger(LOGGER_ROOT)
        lg.addHandler(self)
        if lg.getEffectiveLevel() > logging.INFO:
            lg.setLevel(logging.INFO)  # lifecycle lines are INFO; the process log keeps its own level
        return self

    def detach(self) -> None:
        logging.getLogger(LOGGER_ROOT).removeHandler(self)
        self.close_all()


def pipeline_of(record: logging.LogRecord) -> str | None:
    """The pipeline ``record`` is about: its ``pipeline`` extra, or the one bound where it was logged."""
    return getattr(record, "pipeline", None) or _current.get()


class ConsoleFormatter(logging.Formatter):
    """The process log's lines (on standard error), naming the pipeline a line is about after the logger:
    ``INFO sluice.engine [pipeline shop2]: deployment status Stopped -> Provisioning``. With several
    pipelines, a line that did not say which one is of no use. A message that already names it (``pipeline
    shop2``, ``Pipeline 'shop2'``, a request's ``/pipelines/shop2/...`` path) is left as it is, so no line
    names it twice. A pipeline's own log (``LogRing``) does not need the name and never gets it.

    Formatted in the thread that logs (``logging`` handlers are synchronous), so a ``bind`` still holds."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        name = pipeline_of(record)
        if name and not _names_pipeline(record.message, name):
            record = copy.copy(record)  # other handlers see the record as logged
            record.name = f"{record.name} [pipeline {name}]"
        return super().formatMessage(record)


def _names_pipeline(message: str, name: str) -> bool:
    return re.search(rf"(?i)\bpipelines?[ /]['\"]?{re.escape(name)}(?![\w-])", message) is not None


def format_lines(record: logging.LogRecord) -> list[str]:
    """``<RFC 3339 UTC time> <LEVEL> <logger>: <message>``; a message or traceback of several lines
    continues on further lines, each indented."""
    ts = _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    first, *rest = text.splitlines() or [""]
    return [f"{ts} {record.levelname:>5} {record.name}: {first}"] + ["    " + r for r in rest]


__all__ = ["PipelineLogs", "LogRing", "ConsoleFormatter", "bind", "in_pipeline", "pipeline_logger", "pipeline_of",
           "format_lines"]
