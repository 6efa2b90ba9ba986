"""The step thread's DuckDB: a transaction begun at the step's first write, and a table's few new rows
held back from DuckDB until something reads the table.

A step of one or a few new rows (an order at a time, at a steady pace) used to cost four DuckDB
statements however little the views had to do: BEGIN, the table's INSERT, the views' probes, COMMIT.
After the thread has been idle, each statement costs several times what it costs back to back (the
machine's caches have moved on), so on a step of one order those statements were most of its time
(benchmarks/README.md, "Small steps: fewer DuckDB statements"). Two things cut them:

* ``StepConnection`` begins the step's transaction only before its first statement that is not a
  plain ``SELECT`` (DuckDB's own parser says which, ``duckdb.extract_statements``). A step whose views
  only probe (a join looking up the other side by key) runs those reads as they are, with no
  transaction: the step thread is the only writer, so what they read is what it committed last.
* ``HeldRows``: the inserts of a step into a table go into DuckDB later when they are few
  (``PARAM_ROWS_MAX`` rows at most, waiting), of types whose Python values are what DuckDB stores
  (``params.PARAM_TYPES``: the parsed value *is* the stored one, as the insert's ``RETURNING`` would
  give), all inserts, and, for a keyed table, of keys the table cannot hold yet (its ``KeyRanges``).
  The views get the rows as the step's change at once, as they would after the insert. The rows go
  into DuckDB (one INSERT) before any statement that may read the table: the step connection looks
  for the table's DuckDB name, or the name of any view computed from it, in each statement's text, in
  any case, quoted or not, wherever no letter, digit or underscore touches it (the engine's own
  statements quote names, but a view's contents that DuckDB wrote back from its parse tree name tables
  bare, ``maintain._substituted``; a name that merely appears, in a string or as a word of a quoted
  name, costs an early insert, never a wrong read). Everything else that reads the tables (ad-hoc queries,
  snapshots, checkpoints, profiles) does so under the step lock after ``flush``; the step thread
  flushes when it has been idle ``IDLE_FLUSH_SECS``, before a step that touches the table otherwise,
  and when the runtime ends.

Held rows are acknowledged (in the write-ahead log) and their step is done, so a later step that fails
must not lose them: a flush inside a step's transaction that is rolled back puts them back, and they
are inserted on their own (``flush``) before the runtime hands its leftovers on. A crash loses nothing
either: a checkpoint flushes first, so the rows are in the log after it and are replayed.
"""

from __future__ import annotations

import re

import duckdb

from .params import PARAM_ROWS_MAX, flat, values_list
from .sql import quote

IDLE_FLUSH_SECS = 0.2  # the step thread inserts held rows once no input came for this long
_CACHE_MAX = 4096  # statements classified, by text (the engine's statements repeat)
_INT_BITS = {"TINYINT": 8, "SMALLINT": 16, "INTEGER": 32, "BIGINT": 64}
_PY = {"BOOLEAN": bool, "DOUBLE": float, "VARCHAR": str}


def _checker(table):
    """Whether a row holds exactly what DuckDB would store for it, without error: its NOT NULL columns
    set, each value of its column's Python type (an integer in its range). Rows the record parser made
    always do; input carried from before a program change may not, and goes to DuckDB, which says why."""
    cols = []
    for c in table.columns:
        duck = c.type.duckdb()
        bits = _INT_BITS.get(duck)
        cols.append((c.type.nullable, _PY.get(duck, int), (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if bits else None))

    def ok(row: tuple) -> bool:
        for v, (nullable, cls, rng) in zip(row, cols):
            if v is None:
                if not nullable:
                    return False
            elif v.__class__ is not cls or (rng is not None and not rng[0] <= v <= rng[1]):
                return False
        return len(row) == len(cols)
    return ok


class HeldRows:
    """Rows of small insert-only steps not yet in their DuckDB tables, per table."""

    def __init__(self, program, appliers: dict):
        self.appliers = appliers
        self.rows: dict[str, list[tuple]] = {}  # table name -> rows, in step order
        self.batches: dict[str, list] = {}  # table name -> the batches of those rows (a failure's leftover)
        self.in_txn: dict[str, tuple[list, list]] = {}  # (rows, batches) inserted in the open transaction
        self.new: dict[str, tuple[int, int]] = {}  # (rows, batches) the running step held, per table
        self.ok = {name: _checker(a.table) for name, a in appliers.items() if a.by_params}
        # A pattern for how a statement can spell each relation's DuckDB name (bare names are read in any
        # case; a quoted one has its quotes doubled) -> the tables its contents are computed from.
        by_name = {r.name: r for r in program.tables + program.views}
        self.names: list[tuple[re.Pattern, frozenset[str]]] = []
        for r in program.tables + program.views:
            tables, todo, seen = set(), [r.name], set()
            while todo:
                n = todo.pop()
                if n in seen or n not in by_name:
                    continue
                seen.add(n)
                rel = by_name[n]
                if rel.kind == "table":
                    tables.add(n)
                todo.extend(rel.depends_on)
            spell = "|".join(re.escape(n) for n in {r.internal, quote(r.internal)})
            self.names.append((re.compile(rf"(?<![\w$])(?:{spell})(?![\w$])", re.IGNORECASE), frozenset(tables)))

    def __bool__(self) -> bool:
        return bool(self.rows)

    def hold(self, con, name: str, batches: list) -> list[tuple] | None:
        """The rows of ``batches`` (one step's input to table ``name``) when they can wait outside
        DuckDB (see the module's docstring): they are held and returned as the step's inserted rows.
        Else None, and nothing is held. ``con``: the step's, for the table's key ranges when unknown."""
        applier = self.appliers[name]
        if sum(b.records for b in batches) > PARAM_ROWS_MAX:
            return None
        ops = [op for b in batches for op in b.get_ops()]
        held = self.rows.get(name, [])
        if not ops or len(ops) + len(held) > PARAM_ROWS_MAX or not applier.by_params or applier.has_arrays:
            return None
        if any(w != 1 for w, _ in ops):
            return None
        rows = [r for _, r in ops]
        ok = self.ok[name]
        if not all(ok(r) for r in rows):
            return None
        if applier.key_idx:
            if not applier.int_key:
                return None
            if not applier.ranges_known() and name in self.rows:
                return None  # (cannot happen: holding rows needs the ranges, which only a bulk step forgets)
            ranges = applier.stored_ranges(con)  # a read of the table, once: it holds no held rows
            i = applier.key_idx[0]
            keys = [r[i] for r in rows]
            if len(set(keys)) != len(keys) or any(ranges.meets(k, k) for k in keys):
                return None  # a key the table may hold: the step deletes it first (``TableApplier.apply``)
            for k in keys:
                ranges.add(k, k)
        self.rows.setdefault(name, []).extend(rows)
        self.batches.setdefault(name, []).extend(batches)
        n, m = self.new.get(name, (0, 0))
        self.new[name] = (n + len(rows), m + len(batches))
        return rows

    def held_batches(self) -> list:
        """Every batch with rows held or inserted in the open transaction, in log order."""
        bs = [b for v in self.batches.values() for b in v] + [b for _, v in self.in_txn.values() for b in v]
        return sorted(bs, key=lambda b: b.seq)

    def reads_held(self, sql: str) -> list[str]:
        """The tables with held rows that ``sql`` may read (it names them, or a view of them)."""
        out: set[str] = set()
        for name, tables in self.names:
            if tables & self.rows.keys() and name.search(sql):
                out |= tables & self.rows.keys()
        return sorted(out)

    def insert(self, con, names=None) -> list[str]:
        """Insert the held rows of ``names`` (default: every table's) into DuckDB; returns the tables."""
        done = []
        for name in list(self.rows) if names is None else names:
            rows = self.rows.get(name)
            if not rows:
                continue
            applier = self.appliers[name]
            con.execute(f"INSERT INTO {applier.name} VALUES {values_list(len(rows), applier.width)}", flat(rows))
            r, b = self.in_txn.setdefault(name, ([], []))
            r.extend(self.rows.pop(name))
            b.extend(self.batches.pop(name))
            done.append(name)
        return done

    def committed(self) -> None:
        """The transaction that inserted rows (or the step that held some) committed."""
        self.in_txn.clear()
        self.new.clear()

    def rolled_back(self) -> None:
        """The transaction that inserted rows was rolled back: they are held again, first; and the rows
        the failed step itself held are dropped (its batches are handed on as they are)."""
        for name, (rows, batches) in self.in_txn.items():
            self.rows[name] = rows + self.rows.get(name, [])
            self.batches[name] = batches + self.batches.get(name, [])
        self.in_txn.clear()
        for name, (n, m) in self.new.items():
            del self.rows[name][len(self.rows[name]) - n:]
            del self.batches[name][len(self.batches[name]) - m:]
            if not self.rows[name]:
                del self.rows[name], self.batches[name]
        self.new.clear()


class StepConnection:
    """The DuckDB connection as a step's operators use it: inserts held rows before a statement that
    may read them, and begins the step's transaction before its first statement that is not a plain
    SELECT (``begin``/``end``: see the module's docstring)."""

    _kinds: dict[str, bool] = {}  # statement text -> whether it is one plain SELECT

    def __init__(self, con, held: HeldRows):
        self.con, self.held = con, held
        self.begun = False

    def __getattr__(self, name):  # register, unregister, cursor, ...
        return getattr(self.con, name)

    def _before(self, sql: str) -> None:
        if self.held:
            names = self.held.reads_held(sql)
            if names:
                self.begin()
                self.held.insert(self.con, names)
        if not self.begun and not self._is_select(sql):
            self.begin()

    @classmethod
    def _is_select(cls, sql: str) -> bool:
        kind = cls._kinds.get(sql)
        if kind is None:
            try:
                stmts = duckdb.extract_statements(sql)
                kind = len(stmts) == 1 and stmts[0].type == duckdb.StatementType.SELECT
            except duckdb.Error:
                kind = False  # DuckDB will say what is wrong with it, in a transaction
            if len(cls._kinds) >= _CACHE_MAX:
                cls._kinds.clear()
            cls._kinds[sql] = kind
        return kind

    def begin(self) -> None:
        if not self.begun:
            self.con.execute("BEGIN TRANSACTION")
            self.begun = True

    def execute(self, sql: str, *args):
        self._before(sql)
        return self.con.execute(sql, *args)

    def sql(self, sql: str, *args, **kw):
        self._before(sql)
        return self.con.sql(sql, *args, **kw)

    def need(self, name: str) -> None:
        """Table ``name`` is about to be written otherwise: its held rows go in first, in order."""
        if name in self.held.rows:
            self.begin()
            self.held.insert(self.con, [name])

    def commit(self) -> None:
        if self.begun:
            self.con.execute("COMMIT")
            self.begun = False
        self.held.committed()

    def rollback(self) -> None:
        if self.begun:
            self.begun = False
            self.con.execute("ROLLBACK")
        self.held.rolled_back()


def flush(con, held: HeldRows) -> None:
    """Insert every held row in a transaction of its own (between steps, under the step lock)."""
    if not held:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        held.insert(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        held.rolled_back()
        raise
    held.committed()


__all__ = ["IDLE_FLUSH_SECS", "HeldRows", "StepConnection", "flush"]
