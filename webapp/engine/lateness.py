"""Feldera's ``LATENESS`` on table columns, applied where steps take their input.

A value X of an annotated column is "too much out of order" when an earlier step took a row whose value Y in
that column has ``Y - lateness > X``; such a row is dropped before it reaches the table, "as if such insertions
never took place" (a change to it, delete or insert, is dropped alike). The largest value moves only after a
step, so rows within one step never make each other late. A row is dropped if any of its annotated columns is
too late; a NULL value is never late.

The largest values start, when a runtime starts, from the table's contents (a checkpoint keeps the table,
not the values of rows since deleted); replaying the log after a crash may merge steps, which can only admit
rows that were dropped before, never drop one that was admitted.
"""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal
from typing import Any

from .sql import quote

UPDATE_WEIGHTS = (1, -1)  # insert and delete; a partial "update" record carries no full row to judge


class LatenessFilter:
    """Per pipeline: which columns are annotated and the largest value each has seen in earlier steps."""

    def __init__(self, program, db):
        self.columns: dict[str, list[tuple[int, str, Any]]] = {}
        self.high: dict[tuple[str, str], Any] = {}
        self.pending: dict[tuple[str, str], Any] = {}
        # Records dropped as late, per table: by committed steps, and by the step in progress.
        self.dropped: dict[str, int] = {}
        self.dropping: dict[str, int] = {}
        for t in program.tables:
            cols = program.lateness.get(t.name)
            if not cols:
                continue
            names = t.column_names
            self.columns[t.name] = [(names.index(c), c, v) for c, v in cols.items()]
            internal = {col.name: col.internal for col in t.columns}  # DuckDB's spelling (sql/names.py)
            for c in cols:
                self.high[(t.name, c)] = db.execute(
                    f"SELECT max({quote(internal[c])}) FROM {quote(t.internal)}").fetchone()[0]

    def admit(self, table: str, batches: list) -> list:
        """``batches`` without the changes that are too late; notes the largest values they bring."""
        cols = self.columns.get(table)
        if not cols:
            return batches
        limits = [(i, c, None if self.high[(table, c)] is None else self.high[(table, c)] - lat)
                  for i, c, lat in cols]
        out = []
        late = 0
        for b in batches:
            kept = []
            for w, row in b.get_ops():
                if w in UPDATE_WEIGHTS and any(lim is not None and row[i] is not None and row[i] < lim
                                               for i, _, lim in limits):
                    late += 1
                    continue
                kept.append((w, row))
                if w == 1:
                    for i, c, _ in cols:
                        v, key = row[i], (table, c)
                        if v is not None and (self.pending.get(key) is None or v > self.pending[key]):
                            self.pending[key] = v
            out.append(dataclasses.replace(b, ops=kept, arrow=None))
        if late:
            self.dropping[table] = self.dropping.get(table, 0) + late
        return out

    def commit(self) -> None:
        """The step's largest values become the ones later steps are judged by (and its late records count)."""
        for key, v in self.pending.items():
            if self.high[key] is None or v > self.high[key]:
                self.high[key] = v
        self.pending.clear()
        for table, n in self.dropping.items():
            self.dropped[table] = self.dropped.get(table, 0) + n
        self.dropping.clear()


_UNITS = (("DAY", 86_400_000_000), ("HOUR", 3_600_000_000), ("MINUTE", 60_000_000))


def sql_text(value: Any) -> str:
    """A LATENESS value as Feldera's schema writes it (its compiler's SQL for the constant): an interval in
    its largest whole unit, ``INTERVAL '1' HOUR``, ``INTERVAL '90' MINUTE``, ``INTERVAL '1.5' SECOND``; a
    number as written. (The value was evaluated at compile time, so ``INTERVAL 120 MINUTES`` reads back as
    ``INTERVAL '2' HOUR``: the same lateness, in other words.)"""
    if isinstance(value, datetime.timedelta):
        us = value // datetime.timedelta(microseconds=1)
        for unit, size in _UNITS:
            if us % size == 0:
                return f"INTERVAL '{us // size}' {unit}"
        return f"INTERVAL '{Decimal(us).scaleb(-6).normalize():f}' SECOND"
    return str(value)


def annotate_schema(schema: dict, lateness: dict[str, dict[str, Any]]) -> dict:
    """``schema`` (``Program.schema_json``) with Feldera's ``lateness`` on each field declared with one; the
    other fields stay without it, as in the compiler's schema JSON."""
    for rel in schema.get("inputs") or []:
        cols = lateness.get(rel["name"])
        for f in rel["fields"] if cols else ():
            if f["name"] in cols:
                f["lateness"] = sql_text(cols[f["name"]])
    return schema


__all__ = ["LatenessFilter", "annotate_schema", "sql_text"]
