"""The dashboard's statistics history and health events: a small SQLite file, bounded in rows.

    samples  one row per pipeline per sampling tick: counters (processed, input, steps), gauges (buffered,
             step latency p99, memory, storage), the run's incarnation, and per table and view a JSON map
    events   what the sampler saw change: started, paused, resumed, stopped, restarted, error, deleted

``HISTORY_MAX_SAMPLES`` bounds the rows of each table: after each write the oldest rows beyond it go, so
the file stays small (SQLite reuses the freed pages). With no ``STATE_DIR`` the store lives in memory and
ends with the process. Several gunicorn workers may open the same file: SQLite's WAL mode lets one write
(the sampler, ``sampler.py``) while the others read.

``series`` answers a range (``RANGES``) with at most ``MAX_POINTS`` points per series: the last sample of
each interval. Rates come from consecutive counters; a counter that went down or a new incarnation (the
pipeline restarted) or a gap longer than ``GAP_FACTOR`` intervals (stopped, or the dashboard was down)
gives ``None``, which the charts draw as a break in the line.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

RANGES = {"5m": 5 * 60_000, "1h": 3600_000, "24h": 24 * 3600_000}
MAX_POINTS = 300
GAP_FACTOR = 3
FILE_NAME = "history.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, t INTEGER NOT NULL,
    processed INTEGER, input INTEGER, steps INTEGER, buffered INTEGER, latency_p99 REAL,
    memory INTEGER, storage INTEGER, incarnation TEXT, relations TEXT);
CREATE INDEX IF NOT EXISTS samples_by_pipeline ON samples (pipeline, t);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, t INTEGER NOT NULL, kind TEXT NOT NULL,
    status TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS events_by_pipeline ON events (pipeline, t);
"""

_COLUMNS = ("processed", "input", "steps", "buffered", "latency_p99", "memory", "storage", "incarnation")


class UnknownRange(ValueError):
    """Raised when a range is not one of ``RANGES``."""


class History:
    """The store at ``path`` (``None``: in memory), keeping at most ``max_rows`` rows per table."""

    def __init__(self, path: str | Path | None, max_rows: int):
        self.path = str(path) if path else ":memory:"
        self.max_rows = max(1, int(max_rows))
        # One connection per store, used by one caller at a time: the sampler writes and requests read
        # from the same worker, and sqlite3 connections are not for concurrent use.
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                # A power cut may lose the last samples, never the file: enough for statistics.
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    @classmethod
    def in_dir(cls, state_dir: str | Path | None, max_rows: int) -> "History":
        if not state_dir:
            return cls(None, max_rows)
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        return cls(Path(state_dir) / FILE_NAME, max_rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ---------------------------------------------------------------------------------
    def add_sample(self, pipeline: str, t: int, values: dict, relations: dict) -> None:
        """``values`` has the keys of ``_COLUMNS`` (missing ones are stored as NULL); ``relations`` is
        ``{"tables": {name: [records, buffered]}, "views": {name: [records, compute_ms]}}``."""
        row = [pipeline, int(t), *(values.get(c) for c in _COLUMNS), json.dumps(relations, separators=(",", ":"))]
        with self._lock:
            self._db.execute(f"INSERT INTO samples (pipeline, t, {', '.join(_COLUMNS)}, relations) "
                             f"VALUES ({', '.join('?' * len(row))})", row)
            self._trim("samples")

    def add_event(self, pipeline: str, t: int, kind: str, status: str | None = None, detail: str | None = None):
        with self._lock:
            self._db.execute("INSERT INTO events (pipeline, t, kind, status, detail) VALUES (?, ?, ?, ?, ?)",
                             (pipeline, int(t), kind, status, detail))
            self._trim("events")

    def _trim(self, table: str) -> None:
        # Row ids only grow (the newest row is never deleted), so the newest max_rows rows are the ids
        # within max_rows of the largest one.
        self._db.execute(f"DELETE FROM {table} WHERE id <= (SELECT MAX(id) FROM {table}) - ?", (self.max_rows,))

    # -- reading ---------------------------------------------------------------------------------
    def count(self, table: str = "samples") -> int:
        if table not in ("samples", "events"):
            raise ValueError(table)
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def last_event(self, pipeline: str) -> dict | None:
        """The newest event of ``pipeline`` (the sampler's memory of its state across restarts)."""
        with self._lock:
            row = self._db.execute("SELECT t, kind, status, detail FROM events WHERE pipeline = ? "
                                   "ORDER BY id DESC LIMIT 1", (pipeline,)).fetchone()
        return None if row is None else dict(zip(("t", "kind", "status", "detail"), row))

    def last_incarnation(self, pipeline: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT incarnation FROM samples WHERE pipeline = ? ORDER BY id DESC LIMIT 1",
                                   (pipeline,)).fetchone()
        return row[0] if row else None

    def events(self, pipeline: str, since: int = 0, limit: int = 500) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT t, kind, status, detail FROM events WHERE pipeline = ? AND t >= ? "
                                    "ORDER BY id DESC LIMIT ?", (pipeline, since, limit)).fetchall()
        return [dict(zip(("t", "kind", "status", "detail"), r)) for r in reversed(rows)]

    def series(self, pipeline: str, range_name: str, now: int, interval_ms: int) -> dict:
        """Every chart's points over ``range_name`` ending at ``now`` (ms), plus the events in it.
        Raises ``UnknownRange``."""
        if range_name not in RANGES:
            raise UnknownRange(range_name)
        span = RANGES[range_name]
        start = now - span
        bucket = max(int(interval_ms), span // MAX_POINTS, 1)
        with self._lock:
            # SQLite takes a bare column of a MAX() aggregate from the row that holds the maximum: the
            # last sample of each interval.
            rows = self._db.execute(
                f"SELECT MAX(t), {', '.join(_COLUMNS)}, relations FROM samples WHERE pipeline = ? AND t >= ? "
                "GROUP BY t / ? ORDER BY 1", (pipeline, start, bucket)).fetchall()
        points = [dict(zip(("t", *_COLUMNS), r[:-1])) | {"relations": json.loads(r[-1] or "{}")} for r in rows]
        gap = GAP_FACTOR * max(bucket, int(interval_ms))
        out = {"range": range_name, "from": start, "to": now, "bucket_ms": bucket, "samples": len(points),
               "pipeline": {
                   "throughput": _rates(points, lambda p: p["processed"], gap),
                   "input_rate": _rates(points, lambda p: p["input"], gap),
                   "steps_rate": _rates(points, lambda p: p["steps"], gap),
                   "latency_p99": _gauge(points, "latency_p99", gap),
                   "memory": _gauge(points, "memory", gap),
                   "storage": _gauge(points, "storage", gap),
                   "buffered": _gauge(points, "buffered", gap)},
               "tables": {}, "views": {}}
        for kind, names in (("tables", _names(points, "tables")), ("views", _names(points, "views"))):
            second = "buffered" if kind == "tables" else "compute_ms_per_s"
            for name in names:
                def get(p, i, kind=kind, name=name):
                    v = ((p["relations"].get(kind) or {}).get(name))
                    return None if v is None else v[i]
                out[kind][name] = {"rate": _rates(points, lambda p: get(p, 0), gap),
                                   second: (_gauge_of(points, lambda p: get(p, 1), gap) if kind == "tables"
                                            else _rates(points, lambda p: get(p, 1), gap))}
        out["events"] = self.events(pipeline, start)
        return out


def _names(points: list[dict], kind: str) -> list[str]:
    seen: dict[str, None] = {}
    for p in points:
        for n in (p["relations"].get(kind) or {}):
            seen.setdefault(n)
    return sorted(seen)


def _rates(points: list[dict], value, gap: int) -> list[list]:
    """Per second between consecutive points: ``[t, rate]``, ``[t, None]`` where it cannot be known."""
    out = []
    for a, b in zip(points, points[1:]):
        va, vb, dt = value(a), value(b), b["t"] - a["t"]
        if (va is None or vb is None or dt <= 0 or dt > gap or vb < va
                or a["incarnation"] != b["incarnation"]):
            out.append([b["t"], None])
        else:
            out.append([b["t"], round((vb - va) * 1000 / dt, 3)])
    return out


def _gauge(points: list[dict], key: str, gap: int) -> list[list]:
    return _gauge_of(points, lambda p: p[key], gap)


def _gauge_of(points: list[dict], value, gap: int) -> list[list]:
    """Each point's value, with a ``None`` point where consecutive samples are further apart than ``gap``."""
    out = []
    for i, p in enumerate(points):
        if i and p["t"] - points[i - 1]["t"] > gap:
            out.append([points[i - 1]["t"] + 1, None])
        out.append([p["t"], value(p)])
    return out


__all__ = ["History", "RANGES", "UnknownRange", "MAX_POINTS"]
