"""Which stored rows a program change carries over, and carrying them.

A table keeps its rows across a program change when the new program declares a table of the same
name with the same primary key and every column of the old table with a type that holds all its values
(the same type, NOT NULL dropped, a wider integer or DECIMAL, REAL to DOUBLE), and any new columns
NULL-able: the rows are copied by column name, the new columns NULL (adding a column or widening one is
the most common change to a table, and its rows stay valid). Any other change (a column dropped,
narrowed or retyped, made NOT NULL, a new NOT NULL column, another key) starts the table empty: its old
rows may not fit the new definition, and Sluice does not guess a conversion. So does a changed table
with connectors: its connectors start over, and would make the kept rows again.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from .catalog import ColumnType, Relation
from .connectors import table_connectors
from .ops import KEEP, UPDATE
from .sql import Program, quote


def kept_columns(prev: Relation, t: Relation) -> list[str] | None:
    """The old table's columns (internal names) whose rows ``t`` takes, or None when ``t`` starts empty."""
    if prev.kind != "table" or _key(prev) != _key(t):
        return None
    if table_connectors(t) and _columns(prev) != _columns(t):
        # A connector starts over on a changed table (its progress is keyed by the definition): with the
        # old rows kept it would make them again (doubled, in a table without a key).
        return None
    now = {c.internal: c for c in t.columns}
    for c in prev.columns:
        n = now.pop(c.internal, None)
        if n is None or not holds_every_value(c.type, n.type):
            return None
    if any(not c.type.nullable for c in now.values()):
        return None  # a new NOT NULL column has no value for the old rows
    return [c.internal for c in prev.columns]


# Integer types, each holding every value of those before it.
_INTEGERS = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT"]


def holds_every_value(old: ColumnType, new: ColumnType) -> bool:
    """Whether a column of type ``new`` takes every value a column of type ``old`` held, unchanged: the same
    type, NOT NULL dropped, a wider integer, a DECIMAL with no fewer integer and fractional digits, REAL to
    DOUBLE."""
    if old.nullable and not new.nullable:
        return False
    a, b = old.duckdb(), new.duckdb()
    if a == b:
        return True
    if old.type in _INTEGERS and new.type in _INTEGERS and old.precision is None and new.precision is None:
        return _INTEGERS.index(old.type) <= _INTEGERS.index(new.type)
    if old.type == new.type == "DECIMAL":
        return new.scale >= old.scale and new.precision - new.scale >= old.precision - old.scale
    return old.type == "REAL" and new.type == "DOUBLE"


def widened(prev: Relation, t: Relation, batch):
    """``batch`` (a ``runtime.Batch`` read for ``prev``'s columns) for ``t``, which has them all, maybe wider,
    and NULL-able ones besides (``kept_columns``): the new columns NULL, left as they are by a partial update."""
    pos = {c.internal: i for i, c in enumerate(prev.columns)}
    idx = [pos.get(c.internal) for c in t.columns]
    if batch.arrow is not None:
        n = batch.arrow.num_rows
        # In the new types (widened ones hold every value), so that it meets later batches' schema.
        arrow = pa.table([batch.arrow.column(i).cast(c.type.arrow()) if i is not None else pa.nulls(n, c.type.arrow())
                          for i, c in zip(idx, t.columns)], names=[c.name for c in t.columns])
        return dataclasses.replace(batch, arrow=arrow)
    ops = [(w, tuple(row[i] if i is not None else (KEEP if w == UPDATE else None) for i in idx))
           for w, row in batch.ops]
    return dataclasses.replace(batch, ops=ops)


def _columns(t: Relation) -> list[tuple]:
    return [(c.internal, c.type.duckdb(), c.type.nullable) for c in t.columns]


def _key(t: Relation) -> list[str]:
    """The primary key's columns by DuckDB's names ("Id" and "ID" are two columns)."""
    by_name = {c.name: c.internal for c in t.columns}
    return [by_name.get(k, k) for k in t.primary_key]


def insert_columns(db, t: Relation, data: pa.Table, cols: list[str]) -> None:
    """Insert ``data``'s columns ``cols`` (DuckDB's names, ``t``'s columns) into table ``t``, by name: its other
    columns NULL."""
    names = ", ".join(quote(c) for c in cols)
    db.register("__sluice_copy", data)
    try:
        db.execute(f"INSERT INTO {quote(t.internal)} ({names}) SELECT {names} FROM __sluice_copy")
    finally:
        db.unregister("__sluice_copy")


def carry_tables(old: Program, olddb, new: Program, newdb) -> tuple[list[str], list[str]]:
    """Copy the rows of every table ``new`` keeps (``kept_columns``) from ``olddb`` into ``newdb``; returns
    (kept tables, those among them whose definition is the same as before)."""
    kept, same = [], []
    for t in new.tables:
        prev = old.relation(t.name)
        cols = kept_columns(prev, t) if prev is not None else None
        if cols is None:
            continue
        names = ", ".join(quote(c) for c in cols)
        insert_columns(newdb, t, olddb.sql(f"SELECT {names} FROM {quote(prev.internal)}").to_arrow_table(), cols)
        kept.append(t.name)
        if old.table_ddl(prev) == new.table_ddl(t):
            same.append(t.name)
    return kept, same


__all__ = ["carry_tables", "holds_every_value", "insert_columns", "kept_columns", "widened"]
