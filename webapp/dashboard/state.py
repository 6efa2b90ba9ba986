"""A view's current contents and its replay ring of recent steps, plus per-subscription row filters.

``ViewState`` is a multiset of rows (SQL views may hold duplicates) keyed by the row's canonical
JSON. ``Ring`` keeps the last steps, each a whole pipeline step's changes in upstream order (deletes
and inserts of one step together), numbered by the hub's ``seq``. ``RowFilter`` applies the
column predicates and column subset a subscriber asked for.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from typing import Any, Iterable

import orjson

_KEY_OPT = orjson.OPT_SORT_KEYS


def row_key(row: dict) -> bytes:
    return orjson.dumps(row, option=_KEY_OPT)


class ViewState:
    """The rows of one view: ``{canonical json: [row, count]}``."""

    def __init__(self) -> None:
        self._rows: dict[bytes, list] = {}
        self.count = 0
        self.unmatched_deletes = 0  # deletes of rows we never saw (state from subscription time)

    def reset(self, rows: Iterable[dict]) -> None:
        self._rows.clear()
        self.count = 0
        self.unmatched_deletes = 0
        for r in rows:
            self._add(r)

    def _add(self, row: dict) -> None:
        k = row_key(row)
        cell = self._rows.get(k)
        if cell is None:
            self._rows[k] = [row, 1]
        else:
            cell[1] += 1
        self.count += 1

    def apply(self, changes: list[dict]) -> None:
        """Apply ``{"insert": row}`` / ``{"delete": row}`` changes in order."""
        for ch in changes:
            row = ch.get("delete")
            if row is not None:
                k = row_key(row)
                cell = self._rows.get(k)
                if cell is None:
                    self.unmatched_deletes += 1
                else:
                    cell[1] -= 1
                    self.count -= 1
                    if cell[1] <= 0:
                        del self._rows[k]
            row = ch.get("insert")
            if row is not None:
                self._add(row)

    def rows(self) -> list[dict]:
        out: list[dict] = []
        for row, n in self._rows.values():
            out.extend([row] * n) if n > 1 else out.append(row)
        return out

    def __len__(self) -> int:
        return self.count


class Step:
    """One pipeline step's changes to a view: ``changes`` is ``[{"insert": row} | {"delete": row}]``, never
    mutated; ``t`` its arrival in milliseconds since the epoch."""

    __slots__ = ("seq", "changes", "t", "_json")

    def __init__(self, seq: int, changes: list, t: int):
        self.seq, self.changes, self.t = seq, changes, t
        self._json: str | None = None

    def changes_json(self) -> str:
        """The changes as JSON array items (no brackets), encoded once however many subscribers send them."""
        j = self._json
        if j is None:  # two threads may both encode it: same text, no harm
            j = self._json = orjson.dumps(self.changes).decode()[1:-1]
        return j


class Ring:
    """The last steps of one epoch, bounded by step count and by change count."""

    def __init__(self, max_steps: int, max_changes: int):
        self.max_steps = max(1, max_steps)
        self.max_changes = max(1, max_changes)
        self._steps: deque[Step] = deque()
        self._changes = 0
        self.last_seq = 0  # seq of the newest step (or of the epoch's snapshot when empty)
        # What the bounds have dropped since the epoch began: a change log started from "the oldest
        # change held" says how much older history it no longer has.
        self.trimmed_steps = 0
        self.trimmed_changes = 0

    def clear(self, seq: int = 0) -> None:
        self._steps.clear()
        self._changes = 0
        self.last_seq = seq
        self.trimmed_steps = self.trimmed_changes = 0

    def append(self, step: Step) -> None:
        self._steps.append(step)
        self._changes += len(step.changes)
        self.last_seq = step.seq
        while len(self._steps) > 1 and (len(self._steps) > self.max_steps or self._changes > self.max_changes):
            n = len(self._steps.popleft().changes)
            self._changes -= n
            self.trimmed_steps += 1
            self.trimmed_changes += n

    def covers(self, seq: int) -> bool:
        """True if every step after ``seq`` is still here."""
        if seq > self.last_seq or seq < 0:
            return False
        first = self._steps[0].seq if self._steps else self.last_seq + 1
        return seq >= first - 1

    def after(self, seq: int, max_changes: int) -> list[Step] | None:
        """Whole steps after ``seq``, at least one and then up to ``max_changes``; None if not covered."""
        if not self.covers(seq):
            return None
        out: list[Step] = []
        n = 0
        first = self._steps[0].seq if self._steps else self.last_seq + 1
        for i in range(seq + 1 - first, len(self._steps)):
            step = self._steps[i]
            if out and n + len(step.changes) > max_changes:
                break
            out.append(step)
            n += len(step.changes)
        return out

    def held(self) -> list[Step]:
        """Every step held, oldest first (a copy: steps themselves are never mutated)."""
        return list(self._steps)

    @property
    def changes(self) -> int:
        return self._changes

    @property
    def oldest_t(self) -> int | None:
        return self._steps[0].t if self._steps else None

    def __len__(self) -> int:
        return len(self._steps)


class Rows:
    """One state's rows, and their JSON encoded once however many subscribers ask."""

    def __init__(self, epoch: str | None, seq: int, rows: list[dict]):
        self.epoch, self.seq, self.rows = epoch, seq, rows
        self._json: str | None = None
        self._lock = threading.Lock()

    def json(self) -> str:
        with self._lock:
            if self._json is None:
                self._json = orjson.dumps(self.rows).decode()
            return self._json



# ---------------------------------------------------------------------------------------------
# Per-subscription filters

OPS = ("eq", "ne", "lt", "le", "gt", "ge", "contains", "prefix", "null", "notnull")
_NUM = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


class FilterError(ValueError):
    """Raised when a subscription's ``filter`` or ``columns`` cannot be understood."""


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and _NUM.match(v.strip()):
        return float(v)
    return None


def _compare(a: Any, b: Any) -> int | None:
    na, nb = _num(a), _num(b)  # DECIMAL arrives as a string: compare numbers as numbers
    if na is not None and nb is not None:
        return (na > nb) - (na < nb)
    if a is None or b is None:
        return None
    sa, sb = str(a), str(b)
    return (sa > sb) - (sa < sb)


def _pred(column: str, op: str, value: Any):
    if op == "null":
        return lambda r: r.get(column) is None
    if op == "notnull":
        return lambda r: r.get(column) is not None
    if op == "contains":
        needle = str(value).lower()
        return lambda r: r.get(column) is not None and needle in _text(r.get(column)).lower()
    if op == "prefix":
        start = str(value).lower()
        return lambda r: r.get(column) is not None and _text(r.get(column)).lower().startswith(start)
    tests = {"eq": lambda c: c == 0, "ne": lambda c: c != 0, "lt": lambda c: c < 0, "le": lambda c: c <= 0,
             "gt": lambda c: c > 0, "ge": lambda c: c >= 0}
    test = tests[op]

    def check(r: dict) -> bool:
        c = _compare(r.get(column), value)
        return c is not None and test(c)
    return check


def _text(v: Any) -> str:
    return v if isinstance(v, str) else orjson.dumps(v).decode()


class RowFilter:
    """Column predicates (all must hold) and an optional column subset, from a subscribe message.

    ``filter``: ``[{"column": "city", "op": "eq", "value": "London"}, ...]`` (ops in ``OPS``);
    ``columns``: ``["city", "revenue"]`` or None for all. Raises ``FilterError``."""

    def __init__(self, filter: Any = None, columns: Any = None):
        preds = []
        if filter:
            if not isinstance(filter, list):
                raise FilterError("filter must be a list of {column, op, value}")
            for p in filter:
                if not isinstance(p, dict) or not isinstance(p.get("column"), str):
                    raise FilterError(f"bad filter predicate {p!r}: want {{column, op, value}}")
                op = p.get("op", "eq")
                if op not in OPS:
                    raise FilterError(f"unknown filter op {op!r}; use one of {', '.join(OPS)}")
                preds.append(_pred(p["column"], op, p.get("value")))
        if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
            raise FilterError("columns must be a list of column names")
        self._preds = preds
        self.columns = list(columns) if columns else None
        self.identity = not preds and not self.columns

    def keep(self, row: dict) -> bool:
        return all(p(row) for p in self._preds)

    def project(self, row: dict) -> dict:
        return row if self.columns is None else {c: row.get(c) for c in self.columns}

    def rows(self, rows: list[dict]) -> list[dict]:
        if self.identity:
            return rows
        return [self.project(r) for r in rows if self.keep(r)]

    def changes(self, changes: list[dict]) -> list[dict]:
        if self.identity:
            return changes
        out = []
        for ch in changes:
            for kind in ("delete", "insert"):
                row = ch.get(kind)
                if row is not None and self.keep(row):
                    out.append({kind: self.project(row)})
        return out


__all__ = ["ViewState", "Ring", "Step", "Rows", "RowFilter", "FilterError", "OPS", "row_key"]
