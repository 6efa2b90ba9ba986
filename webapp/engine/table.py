"""Applying one step's input to a DuckDB table and reporting what really changed.

Tables with a PRIMARY KEY have upsert semantics: within a step the last operation on a key wins
(an insert replaces the row, a delete removes it; a delete of a missing key is ignored). Tables
without a key are multisets: a step's inserts and deletes are netted per distinct row first, then
applied; a delete removes at most as many copies as exist.

A keyed table gets an ART index on its first key column the first time a step touches it, and a
step deletes the touched keys through it (``DELETE ... WHERE k IN (...)``), so its cost follows the
number of keys, not the size of the table. Above ``KEY_LIST_MAX`` keys one hash join with an Arrow
table of the keys is cheaper. A step is one delete of its keys and one insert of its rows; the two
are netted against each other in Python only when the delete found rows. A batch of inserts parsed
into Arrow (``apply_inserts``) goes in as it is when its keys are distinct: no Python rows are made
of it; when its keys are all new, the batch itself is the step's change (``arrowrows``), without
the insert's ``RETURNING``.
Index names are ``__sluice_ix_<table>_<column>``: incremental views that probe the same column
share the index. For one integer key column, ``keyranges.KeyRanges`` covers the stored keys, and a
step deletes only the keys within it (new ids insert without a delete that could find nothing).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

import orjson

from .arrowrows import ArrowRows, plain
from .catalog import Column, JsonText, Relation, variant_json
from .keyranges import KeyRanges
from .ops import KEEP, UPDATE
from .params import PARAM_ROWS_MAX, PARAM_TYPES, flat, values_list
from .sql import quote

KEY_LIST_MAX = 1500
_UNKNOWN = object()



class _FrozenDict(tuple):
    """A MAP, ROW or VARIANT object (a dict from DuckDB) as a hashable tuple of its items."""


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return _FrozenDict((_freeze(k), _freeze(x)) for k, x in v.items())
    return v


def _thaw(v: Any) -> Any:
    if isinstance(v, _FrozenDict):
        return {_thaw(k): _thaw(x) for k, x in v}
    return [_thaw(x) for x in v] if isinstance(v, tuple) else v


def _json_cell(v: Any) -> Any:
    """A MAP/ROW/VARIANT cell as JSON text for Arrow: ingress gives ``JsonText``, DuckDB a dict or list."""
    if v is None or isinstance(v, JsonText):
        return v
    return orjson.dumps(variant_json(_thaw(v))).decode()


def load_expr(col: Column, ref: str) -> str:
    """The DuckDB expression reading column ``col`` from the Arrow column ``ref`` (see ``to_arrow``)."""
    if col.type.holds_json():
        return f"CAST(CAST({ref} AS JSON) AS {col.type.duckdb()})"
    return ref


def to_arrow(table: Relation, rows: list[tuple], extra: dict[str, list] | None = None) -> pa.Table:
    cols = {}
    for i, c in enumerate(table.columns):
        vals = [r[i] for r in rows]
        if c.type.holds_json():
            cols[f"c{i}"] = pa.array([_json_cell(v) for v in vals], type=pa.string())
        else:
            cols[f"c{i}"] = pa.array(vals, type=c.type.arrow())
    for k, v in (extra or {}).items():
        cols[k] = pa.array(v, type=pa.int64())
    return pa.table(cols)


class TableApplier:
    """Knows how to apply changes to one table in one DuckDB connection."""

    def __init__(self, table: Relation):
        self.table = table
        self.name = quote(table.internal)
        self.key_idx = [table.column_names.index(k) for k in table.primary_key]
        # Rows holding lists or dicts are frozen into tuples wherever they are hashed.
        self.has_arrays = any(c.type.type in ("ARRAY", "MAP", "STRUCT", "VARIANT") for c in table.columns)
        n = len(table.columns)
        self.select_cols = ", ".join(f"{load_expr(c, f'c{i}')} AS {quote(c.internal)}" for i, c in enumerate(table.columns))
        self.match = " AND ".join(f"t.{quote(c.internal)} IS NOT DISTINCT FROM {load_expr(c, f'd.c{i}')}"
                                  for i, c in enumerate(table.columns))
        self.key_match = " AND ".join(f"t.{quote(table.columns[i].internal)} = k.c{i}" for i in self.key_idx)
        self.width = n
        self.arrow_types = [c.type.arrow() for c in table.columns]
        self.plain = all(plain(t) for t in self.arrow_types)
        self.indexed = False
        self.by_params = all(c.type.duckdb() in PARAM_TYPES for c in table.columns)
        if self.key_idx:
            cols = [quote(table.columns[i].internal) for i in self.key_idx]
            first = table.columns[self.key_idx[0]].internal
            self.index_sql = (f"CREATE INDEX IF NOT EXISTS {quote(f'__sluice_ix_{table.internal}_{first}')} "
                              f"ON {self.name} ({cols[0]})")
            self.key_in = f"{cols[0]} IN "
            self.key_col = cols[0]
            self.int_key = len(cols) == 1 and pa.types.is_integer(self.arrow_types[self.key_idx[0]])
            self.stored: Any = _UNKNOWN  # KeyRanges covering the integer keys stored, when known
            self.row_in = f" AND ({', '.join(cols)}) IN " if len(cols) > 1 else None
            # A parameter is bound as DOUBLE; a REAL key must be compared as REAL.
            self.params = ["CAST(? AS REAL)" if table.columns[i].type.type == "REAL" else "?" for i in self.key_idx]

    def _frozen(self, row: tuple) -> tuple:
        return tuple(_freeze(v) for v in row) if self.has_arrays else row

    def _thawed(self, row: tuple) -> tuple:
        return tuple(_thaw(v) for v in row) if self.has_arrays else row

    def apply(self, con, ops: list[tuple[int, tuple]]) -> tuple[list[tuple], list[tuple]]:
        """Apply ``ops`` (in order); returns the (deleted, inserted) rows, net of each other."""
        if self.key_idx:
            return self._apply_keyed(con, ops)
        return self._apply_multiset(con, ops)

    def _insert(self, con, rows: list[tuple]) -> list[tuple]:
        """Insert ``rows``; returns them as DuckDB stored them (e.g. REAL rounding), for exact output."""
        if not rows:
            return []
        if self.by_params and len(rows) <= PARAM_ROWS_MAX:
            return con.execute(f"INSERT INTO {self.name} VALUES {values_list(len(rows), self.width)} RETURNING *",
                               flat(rows)).fetchall()
        con.register("__sluice_in", to_arrow(self.table, rows))
        try:
            return con.execute(
                f"INSERT INTO {self.name} SELECT {self.select_cols} FROM __sluice_in RETURNING *").fetchall()
        finally:
            con.unregister("__sluice_in")

    def _apply_keyed(self, con, ops):
        if not self.indexed:
            con.execute(self.index_sql)
            self.indexed = True
        if len(self.key_idx) == 1 and not self.has_arrays and not any(w == UPDATE for w, _ in ops):
            i = self.key_idx[0]  # the common case: one plain key column, no tuple per row
            final1 = {row[i]: (row if w > 0 else None) for w, row in ops}  # the last operation wins
            keys = [(k,) for k in final1]
            rows = final1.values()
        else:
            stored: dict[tuple, tuple] = {}
            updated = [self._key(row) for w, row in ops if w == UPDATE]
            if updated:
                stored = {self._key(r): r for r in self._select_keys(con, list(dict.fromkeys(updated)))}
            final: dict[tuple, tuple | None] = {}
            for w, row in ops:
                key = self._key(row)
                if w == UPDATE:
                    cur = final[key] if key in final else stored.get(key)
                    if cur is None:
                        continue  # no row has the key: there is nothing to update (as in Feldera)
                    row, w = tuple(c if v is KEEP else v for c, v in zip(cur, row)), 1
                final[key] = row if w > 0 else None
            keys, rows = list(final), final.values()
        if self.int_key:  # only keys in the stored keys' ranges can have a row to delete
            ranges = self.stored_ranges(con)
            if len(keys) <= KEY_LIST_MAX:
                keys = [k for k in keys if ranges.meets(k[0], k[0])]
            elif not ranges.meets(min(k[0] for k in keys), max(k[0] for k in keys)):
                keys = []  # a large step: looked at as one span
        if not keys:
            old = []
        else:
            old = self._delete_keys(con, keys) if len(keys) <= KEY_LIST_MAX else self._delete_joined(con, keys)
        inserted = [r for r in rows if r is not None]
        stored = self._insert(con, inserted)
        if self.int_key and inserted:
            i = self.key_idx[0]
            if len(inserted) <= KEY_LIST_MAX:
                for r in inserted:
                    ranges.add(r[i], r[i])
            else:  # one span (coarser, never wrong) rather than a Python operation per row
                ranges.add(min(r[i] for r in inserted), max(r[i] for r in inserted))
        if not old:  # new keys only (a bulk load): nothing to net
            return [], stored
        return _net(old, stored, self._frozen)

    def keeps_arrow(self, tbl: pa.Table) -> bool:
        """Whether the rows this table stores from ``tbl`` are ``tbl``'s own (every column's Arrow value
        is DuckDB's), so that inserting it makes its own change (``ArrowRows``) without ``RETURNING``."""
        return self.plain and tbl.schema.types == self.arrow_types

    def apply_inserts(self, con, tbl: pa.Table) -> tuple[list[tuple], list[tuple]] | None:
        """Upsert an Arrow batch of inserts into a table keyed by one column, as one delete of its
        keys and one insert of the batch, without making Python rows of the input; returns the
        (deleted, inserted) rows like ``apply``, or None when this path does not fit (a key twice
        in the batch, a compound key, arrays: ``apply`` then takes the batch)."""
        if len(self.key_idx) != 1 or self.has_arrays or tbl.num_rows == 0:
            return None
        keys = tbl.column(self.key_idx[0])
        parts = _increasing_parts(keys) if self.int_key else None
        # Keys in increasing, disjoint parts (a load of new ids, sent in parts) are distinct without
        # hashing them. Else a Python set, not Arrow's count_distinct or unique: in the engine those
        # wait for Arrow's thread pool, busy parsing the requests' JSON (py-spy: 13-25% of a bulk
        # load's steps).
        if parts is None and len(set(keys.to_pylist())) != tbl.num_rows:
            return None  # the last operation on a key wins: Python orders them
        if not self.indexed:
            con.execute(self.index_sql)
            self.indexed = True
        if parts is not None:
            # Only parts that meet the stored keys' ranges can replace rows (py-spy: the delete was
            # 12% of a load's step thread).
            stored = self.stored_ranges(con)
            keys = pa.chunked_array([p for p, lo, hi in parts if stored.meets(lo, hi)], keys.type)
            for _, lo, hi in parts:
                stored.add(lo, hi)
        else:
            self.stored = _UNKNOWN
        if not len(keys):
            old = []
        elif len(keys) <= KEY_LIST_MAX:
            old = self._delete_keys(con, [(k,) for k in keys.to_pylist()])
        else:
            con.register("__sluice_keys", pa.table({f"c{self.key_idx[0]}": keys}))
            try:
                old = con.execute(f"DELETE FROM {self.name} t USING __sluice_keys k WHERE {self.key_match} "
                                  "RETURNING t.*").fetchall()
            finally:
                con.unregister("__sluice_keys")
        con.register("__sluice_in", tbl)
        try:
            if not old and self.keeps_arrow(tbl):  # new keys only: the rows stored are the batch's
                con.execute(f"INSERT INTO {self.name} SELECT * FROM __sluice_in")
                return [], ArrowRows(tbl)
            stored = con.execute(f"INSERT INTO {self.name} SELECT * FROM __sluice_in RETURNING *").fetchall()
        finally:
            con.unregister("__sluice_in")
        if not old:
            return [], stored
        return _net(old, stored, self._frozen)

    def ranges_known(self) -> bool:
        """Whether ``stored`` covers the table's keys without asking DuckDB (one integer key column)."""
        return self.stored is not _UNKNOWN

    def stored_ranges(self, con) -> KeyRanges:
        """Ranges covering every key the table holds (one integer key column): read as the stored
        keys' span when unknown, then grown by each insert (a batch of any other shape makes them
        unknown again). They never shrink, so a step rolled back leaves them a cover still."""
        if self.stored is _UNKNOWN:
            lo, hi = con.execute(f"SELECT min({self.key_col}), max({self.key_col}) FROM {self.name}").fetchall()[0]
            self.stored = KeyRanges(lo, hi)
        return self.stored

    def _key(self, row: tuple) -> tuple:
        return tuple(_freeze(row[i]) for i in self.key_idx)

    def _keys_where(self, keys: list[tuple]) -> tuple[str, list]:
        """``<first key column> IN (...)`` (and the whole key, for a compound one), with its parameters."""
        firsts = list(dict.fromkeys(k[0] for k in keys))
        sql = self.key_in + "(" + ", ".join([self.params[0]] * len(firsts)) + ")"
        params = [_thaw(v) for v in firsts]
        if self.row_in:
            sql += self.row_in + "(" + ", ".join(["(" + ", ".join(self.params) + ")"] * len(keys)) + ")"
            params += [_thaw(v) for k in keys for v in k]
        return sql, params

    def _select_keys(self, con, keys: list[tuple]) -> list[tuple]:
        sql, params = self._keys_where(keys)
        return con.execute(f"SELECT * FROM {self.name} WHERE " + sql, params).fetchall()

    def _delete_keys(self, con, keys: list[tuple]) -> list[tuple]:
        """Delete the rows with these keys through the index; returns the deleted rows."""
        sql, params = self._keys_where(keys)
        return con.execute(f"DELETE FROM {self.name} WHERE " + sql + " RETURNING *", params).fetchall()

    def _delete_joined(self, con, keys: list[tuple]) -> list[tuple]:
        """Delete the rows with these keys in one join with a table of the keys (its columns are
        named after the key columns' positions, ``c<i>``)."""
        cols = list(zip(*keys))
        types = self.table.columns
        con.register("__sluice_keys", pa.table({
            f"c{i}": pa.array([_thaw(v) for v in col] if self.has_arrays else col, type=types[i].type.arrow())
            for i, col in zip(self.key_idx, cols)}))
        try:
            return con.execute(
                f"DELETE FROM {self.name} t USING __sluice_keys k WHERE {self.key_match} RETURNING t.*"
            ).fetchall()
        finally:
            con.unregister("__sluice_keys")

    def _apply_multiset(self, con, ops):
        weights: Counter = Counter()
        first: dict[tuple, tuple] = {}
        for w, row in ops:
            f = self._frozen(row)
            weights[f] += w
            first.setdefault(f, row)
        ins = [first[f] for f, w in weights.items() if w > 0 for _ in range(w)]
        dels = [(first[f], -w) for f, w in weights.items() if w < 0]
        deleted: list[tuple] = []
        if dels:
            con.register("__sluice_del", to_arrow(self.table, [r for r, _ in dels],
                                                  {"__n": [n for _, n in dels], "__id": list(range(len(dels)))}))
            try:
                deleted = con.execute(
                    f"""DELETE FROM {self.name} WHERE rowid IN (
                          SELECT rid FROM (
                            SELECT t.rowid AS rid, d.__n AS n,
                                   row_number() OVER (PARTITION BY d.__id ORDER BY t.rowid) AS rn
                            FROM {self.name} t JOIN __sluice_del d ON {self.match})
                          WHERE rn <= n)
                        RETURNING *"""
                ).fetchall()
            finally:
                con.unregister("__sluice_del")
        return deleted, self._insert(con, ins)


def _increasing_parts(keys: pa.ChunkedArray) -> list[tuple[pa.Array, int, int]] | None:
    """[(part, lowest, highest)] of integer ``keys`` without NULLs whose parts (one per request, as a
    step concatenates them) each increase and do not overlap, so that every key is distinct; else None."""
    if not pa.types.is_integer(keys.type) or keys.null_count:
        return None
    parts = []
    for part in keys.chunks:
        a = part.to_numpy()
        if len(a) > 1 and not bool((a[1:] > a[:-1]).all()):
            return None
        if len(a):
            parts.append((part, int(a[0]), int(a[-1])))
    spans = sorted((lo, hi) for _, lo, hi in parts)
    if any(spans[i][1] >= spans[i + 1][0] for i in range(len(spans) - 1)):
        return None
    return parts


def _net(old: list[tuple], new: list[tuple], frozen) -> tuple[list[tuple], list[tuple]]:
    c = Counter(frozen(r) for r in new)
    c.subtract(frozen(r) for r in old)
    back = {frozen(r): r for r in old + new}
    dels = [back[f] for f, w in c.items() if w < 0 for _ in range(-w)]
    ins = [back[f] for f, w in c.items() if w > 0 for _ in range(w)]
    return dels, ins


__all__ = ["TableApplier", "to_arrow"]
