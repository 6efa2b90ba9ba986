"""Incremental view maintenance against recomputation, at the engine level (no HTTP).

``Harness`` builds a pipeline's database the way ``Pipeline._new_db`` does, applies batches with
``TableApplier`` and steps every view with the object ``ViewPlans`` picks, inside one transaction per
step, as the runtime does. After every step each view's contents, accumulated from its emitted
changes since the initial snapshot, must equal DuckDB evaluating the view's SQL from scratch, and
a snapshot (``contents_sql``) must equal them too.

Comparison: integers, DECIMAL, strings and every other type exactly, and with the same Python type
(DECIMAL also with the same scale). DOUBLE within a relative tolerance of ``REL_TOL``: an
incremental DOUBLE sum is the correctly rounded exact sum, DuckDB's is a left-to-right sum.

The property tests generate random programs from the grammar of issue 5 and random insert /
delete / update batches. ``SLUICE_LONG_TESTS=1`` runs the long version (>= 1,000 cases).
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from decimal import Decimal
from fractions import Fraction

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.engine.ivm import maintain as incremental
from webapp.engine.ivm import acc as ivm_acc
from webapp.engine.ivm import agg as ivm_agg
from webapp.engine.ivm import join as ivm_join
from webapp.engine import table as table_mod
from webapp.engine.arrowrows import ArrowRows
from webapp.engine.duckconfig import DUCKDB_CONFIG
from webapp.engine.runtime import Batch, apply_batches
from webapp.engine.sql import compile_program, quote
from webapp.engine.table import TableApplier
from webapp.engine.strategy import ViewPlans

REL_TOL = 1e-9
LONG = os.environ.get("SLUICE_LONG_TESTS") == "1"


@pytest.fixture(autouse=True, params=["tables in memory", "tables probed in DuckDB"])
def join_probes(request, monkeypatch):
    """Every test twice: a join's stored-table side kept in memory while small (``TableSide.mem``, the
    default for these small tables), and always probed through DuckDB (as a large table is)."""
    if request.param == "tables probed in DuckDB":
        monkeypatch.setattr(ivm_join, "MEM_ROWS_MAX", -1)


# ---------------------------------------------------------------------------------------------
# Comparing bags of rows

def _same_value(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if a != a or b != b:
            return a != a and b != b
        return a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b))
    if isinstance(a, Decimal):
        return a == b and a.as_tuple().exponent == b.as_tuple().exponent
    return a == b


def _bucket(row) -> tuple:
    out = []
    for v in row:
        if isinstance(v, float):
            out.append(("f", "nan" if v != v else float(f"{v:.6g}")))
        else:
            out.append((type(v).__name__, v if not isinstance(v, Decimal) else str(v)))
    return tuple(out)


def assert_same_bag(got: list[tuple], want: list[tuple], what: str) -> None:
    """Equal as multisets, floats within REL_TOL, every other value exactly and of the same type."""
    left = list(want)
    by: dict = {}
    for i, r in enumerate(left):
        by.setdefault(_bucket(r), []).append(i)
    used = [False] * len(left)
    missing = []
    for r in got:
        cands = by.get(_bucket(r), [])
        for i in cands:
            if not used[i] and len(left[i]) == len(r) and all(map(_same_value, r, left[i])):
                used[i] = True
                break
        else:
            for i, w in enumerate(left):  # a float near a rounding boundary of the bucket
                if not used[i] and len(w) == len(r) and all(map(_same_value, r, w)):
                    used[i] = True
                    break
            else:
                missing.append(r)
    extra = [w for i, w in enumerate(left) if not used[i]]
    if missing or extra:
        raise AssertionError(f"{what}: rows only in the maintained view: {missing[:10]}; "
                             f"rows only in the recomputed view: {extra[:10]}")


def _exact_key(row):
    return _key(tuple(v + 0.0 if isinstance(v, float) else v for v in row))


def _key(row):
    return tuple((v != v) if isinstance(v, float) and v != v else repr(v) for v in row)


# ---------------------------------------------------------------------------------------------
# An engine without HTTP

class Harness:
    """``preload``: a batch applied to the tables before the views start (their state is then
    built from existing data, as after a restart)."""

    def __init__(self, code: str, preload: dict | None = None, arrow: bool = False):
        self.prog = compile_program(code)
        self.arrow = arrow  # a step's plain inserts come as an Arrow batch, as ingress parses them
        self.db = duckdb.connect(":memory:", config=dict(DUCKDB_CONFIG))
        for t in self.prog.tables:
            self.db.execute(self.prog.table_ddl(t))
        for v in self.prog.views:
            self.db.execute(self.prog.view_ddl(v))
        # The reference: every view's body as DuckDB evaluates it from the tables, in a schema of its
        # own (DuckDB binds a view's names in its schema). A running view's own DuckDB name may read
        # its maintained rows (``IncrementalView.initialize``), which a check must not compare with.
        self.db.execute("CREATE SCHEMA __ref")
        for t in self.prog.tables:
            self.db.execute(f"CREATE VIEW __ref.{quote(t.internal)} AS SELECT * FROM main.{quote(t.internal)}")
        for v in self.prog.views:
            self.db.execute(self.prog.view_ddl(v).replace("CREATE VIEW ", "CREATE VIEW __ref.", 1))
        self.appliers = {t.name: TableApplier(t) for t in self.prog.tables}
        for name, ops in (preload or {}).items():
            self.appliers[name].apply(self.db, ops)
        self.plans = ViewPlans(self.prog)
        self.views = self.plans.build()  # as the runtime does
        self.contents: dict[str, Counter] = {}
        self.initialize()

    def initialize(self):
        for v in self.views.values():
            v.initialize(self.db)
        self.contents = {n: Counter(map(_key, self.snapshot(n))) for n in self.views}
        self.rows = {n: {_key(r): r for r in self.snapshot(n)} for n in self.views}

    def strategy(self, name: str) -> str:
        return self.views[name].strategy

    def snapshot(self, name: str) -> list[tuple]:
        self.views[name].flush(self.db)  # as the runtime does before a snapshot
        return self.db.execute(self.views[name].contents_sql()).fetchall()

    def recomputed(self, name: str) -> list[tuple]:
        return self.db.execute(f"SELECT * FROM __ref.{quote(self.prog.relation(name).internal)}").fetchall()

    def step(self, by_table: dict[str, list[tuple[int, tuple]]], check: bool = True,
             snapshots: bool = True) -> dict:
        changes: dict = {}
        con = self.db
        con.execute("BEGIN TRANSACTION")
        try:
            for name, ops in by_table.items():
                if self.arrow and all(w == 1 for w, _ in ops):
                    tbl = pa.table({c.name: pa.array([r[i] for _, r in ops], type=c.type.arrow())
                                    for i, c in enumerate(self.prog.table(name).columns)})
                    dels, ins = apply_batches(con, self.appliers[name], [Batch(0, name, None, len(ops), 0, arrow=tbl)],
                                              True)
                else:
                    dels, ins = self.appliers[name].apply(con, ops)
                if dels or ins:
                    changes[name] = (dels, ins)
            for v in self.prog.views:
                if any(x in changes for x in _closure(self.prog, v)):
                    dels, ins = self.views[v.name].step(con, changes)
                    if dels or ins:
                        changes[v.name] = (dels, ins)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        for name in self.views:
            if name in changes:
                dels, ins = changes[name]
                c, rows = self.contents[name], self.rows[name]
                for r in dels:
                    k = _key(r)
                    assert c[k] > 0, f"view {name} deleted a row it did not hold: {r!r}"
                    c[k] -= 1
                    if not c[k]:
                        del c[k]
                for r in ins:
                    k = _key(r)
                    c[k] += 1
                    rows[k] = r
                assert not (set(map(_key, dels)) & set(map(_key, ins))), f"view {name}: a row both deleted and inserted"
        if check:
            self.check(snapshots)
        return changes

    def maintained(self, name: str) -> list[tuple]:
        return [self.rows[name][k] for k, n in self.contents[name].items() for _ in range(n)]

    def check(self, snapshots: bool = True):
        for name in self.views:
            got = self.maintained(name)
            assert_same_bag(got, self.recomputed(name), f"view {name} ({self.strategy(name)})")
            if snapshots:
                # Exactly the rows emitted, to the last bit: later deletes must cancel them. (Only
                # the sign of a zero may differ: DuckDB groups -0.0 with 0.0 and keeps either.)
                snap = Counter(map(_exact_key, self.snapshot(name)))
                want = Counter(map(_exact_key, got))
                assert snap == want, f"snapshot of view {name}: {list((snap - want).items())[:5]} " \
                                     f"vs {list((want - snap).items())[:5]}"


def _closure(prog, v) -> set[str]:
    out, todo = set(), list(v.depends_on)
    while todo:
        x = todo.pop()
        if x not in out:
            out.add(x)
            r = prog.relation(x)
            if r is not None and r.kind != "table":
                todo.extend(r.depends_on)
    return out


# ---------------------------------------------------------------------------------------------
# Targeted cases

BASE = """
CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, k INT, x INT, v DOUBLE, d DECIMAL(10,2), s VARCHAR);
CREATE TABLE u (k INT NOT NULL PRIMARY KEY, name VARCHAR);
CREATE TABLE m (a INT, b INT);
"""


def _t(id, k=None, x=None, v=None, d=None, s=None):
    return (id, k, x, v, None if d is None else Decimal(d), s)


def test_every_required_construct_is_incremental():
    h = Harness(BASE + """
    CREATE VIEW f AS SELECT id, x * 2 + 1 AS x2, v / 2 AS half FROM t WHERE k > 1;
    CREATE VIEW j AS SELECT t.id, t.x, u.name FROM t JOIN u ON t.k = u.k;
    CREATE VIEW lj AS SELECT t.id, u.name FROM t LEFT JOIN u ON t.k = u.k;
    CREATE VIEW g AS SELECT k, COUNT(*) AS c, COUNT(x) AS cx, SUM(x) AS sx, AVG(x) AS ax, MIN(s) AS mn,
                            MAX(v) AS mx, COUNT(DISTINCT s) AS cd, SUM(d) AS sd FROM t GROUP BY k;
    CREATE VIEW dd AS SELECT DISTINCT k FROM t;
    CREATE VIEW un AS SELECT k FROM t UNION ALL SELECT k FROM u;
    CREATE LOCAL VIEW lo AS SELECT k, x FROM t WHERE x IS NOT NULL;
    CREATE VIEW onlocal AS SELECT k, SUM(x) AS s FROM lo GROUP BY k;
    CREATE VIEW vv AS SELECT k, c FROM g WHERE c > 1;
    """)
    assert {n: h.strategy(n) for n in h.views} == {n: "incremental" for n in h.views}
    h.step({"t": [(1, _t(1, 1, 10, 1.5, "1.10", "a")), (1, _t(2, 1, 5, 2.5, "2.20", "b")),
                  (1, _t(3, 2, 7, 0.25, "0.30", "a"))], "u": [(1, (1, "one")), (1, (2, "two"))]})
    h.step({"t": [(1, _t(1, 1, 11, 1.5, "1.10", "b"))]})  # update by key
    h.step({"t": [(-1, _t(2))], "u": [(-1, (1, None))]})


def test_min_max_after_deleting_the_extreme_and_groups_becoming_empty():
    h = Harness(BASE + "CREATE VIEW g AS SELECT k, MIN(x) AS lo, MAX(x) AS hi, COUNT(*) AS c FROM t GROUP BY k;")
    h.step({"t": [(1, _t(i, i % 2, i)) for i in range(1, 9)]})
    h.step({"t": [(-1, _t(1)), (-1, _t(8))]})  # both extremes of both groups
    h.step({"t": [(-1, _t(i)) for i in (2, 4, 6)]})  # group k=0 becomes empty
    assert sorted(h.maintained("g")) == [(1, 3, 7, 3)]
    h.step({"t": [(1, _t(20, 0, 4))]})  # and comes back


def test_null_keys_and_values():
    h = Harness(BASE + """
    CREATE VIEW g AS SELECT k, SUM(x) AS s, COUNT(x) AS c, MIN(s) AS m FROM t GROUP BY k;
    CREATE VIEW j AS SELECT t.id, u.name FROM t JOIN u ON t.k = u.k;
    CREATE VIEW lj AS SELECT t.id, u.k AS uk FROM t LEFT JOIN u ON t.k = u.k;
    CREATE VIEW mm AS SELECT a, COUNT(*) AS c, SUM(b) AS s FROM m GROUP BY a;
    """)
    h.step({"t": [(1, _t(1)), (1, _t(2, None, 3)), (1, _t(3, 1, None, s="z"))], "u": [(1, (1, None))],
            "m": [(1, (None, None)), (1, (None, 2)), (1, (None, 2))]})
    h.step({"t": [(-1, _t(2))], "m": [(-1, (None, 2))]})
    assert sorted(h.maintained("g"), key=repr) == sorted([(None, None, 0, None), (1, None, 0, "z")], key=repr)


def test_left_join_padding_appears_and_disappears():
    h = Harness(BASE + "CREATE VIEW lj AS SELECT t.id, t.k, u.name FROM t LEFT JOIN u ON t.k = u.k;"
                       "CREATE VIEW rj AS SELECT t.id, u.k, u.name FROM t RIGHT JOIN u ON t.k = u.k;"
                       "CREATE VIEW fj AS SELECT t.id, u.k, u.name FROM t FULL JOIN u ON t.k = u.k;")
    h.step({"t": [(1, _t(1, 5)), (1, _t(2, 5)), (1, _t(3, 6))]})
    assert sorted(h.maintained("lj")) == [(1, 5, None), (2, 5, None), (3, 6, None)]
    h.step({"u": [(1, (5, "five"))]})  # padding of key 5 disappears
    assert sorted(h.maintained("lj")) == [(1, 5, "five"), (2, 5, "five"), (3, 6, None)]
    h.step({"u": [(-1, (5, None))], "t": [(1, _t(4, 5))]})  # and reappears, with a new left row
    assert sorted(h.maintained("lj")) == [(1, 5, None), (2, 5, None), (3, 6, None), (4, 5, None)]


def test_conditions_on_one_side_of_a_join_filter_that_side():
    """``ON ... AND y.id > 0`` filters the padded side before the join, also in a self-join (found
    by the long property run: a filter was once skipped as a plain projection)."""
    h = Harness(BASE + "CREATE VIEW sj AS SELECT x.a AS l, y.a AS r FROM m x LEFT JOIN m y "
                       "ON x.a = y.a AND y.a > 0;"
                       "CREATE VIEW ij AS SELECT t.id, u.name FROM t JOIN u ON t.k = u.k AND u.k > 1;")
    h.step({"m": [(1, (0, None)), (1, (2, 7))], "t": [(1, _t(1, 1)), (1, _t(2, 2))],
            "u": [(1, (1, "one")), (1, (2, "two"))]})
    assert sorted(h.maintained("ij")) == [(2, "two")]
    h.step({"m": [(-1, (2, 7))]})


def test_double_sums_keep_no_residue_after_deletes():
    h = Harness(BASE + "CREATE VIEW g AS SELECT k, SUM(v) AS s, AVG(v) AS a FROM t GROUP BY k;")
    h.step({"t": [(1, _t(1, 1, v=1e20)), (1, _t(2, 1, v=1.0)), (1, _t(3, 1, v=0.1))]})
    h.step({"t": [(-1, _t(1))]})
    (row,) = h.maintained("g")
    assert row[1] == 1.1 and row[2] == 0.55


def test_types_are_duckdbs():
    h = Harness("""
    CREATE TABLE t (k INT, i INT, b BIGINT, d DECIMAL(12,3), r REAL, s VARCHAR, dt DATE, ts TIMESTAMP);
    CREATE VIEW g AS SELECT k, SUM(i) AS si, SUM(b) AS sb, SUM(d) AS sd, AVG(d) AS ad, SUM(r) AS sr,
        MIN(r) AS mr, MAX(dt) AS md, MIN(ts) AS mt, COUNT(DISTINCT d) AS cd FROM t GROUP BY k;
    CREATE VIEW p AS SELECT k, d * 2 AS d2, r + 1 AS r1, i / 2 AS half, i // 2 AS idiv FROM t;
    """)
    import datetime as dt
    rows = [(1, 2, 3, Decimal("1.250"), 0.1, "a", dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5, 6)),
            (1, 5, 2**40, Decimal("2.000"), 1.5, "b", dt.date(2023, 1, 2), dt.datetime(2020, 1, 1))]
    h.step({"t": [(1, r) for r in rows]})
    (g,) = h.maintained("g")
    assert isinstance(g[1], int) and g[3] == Decimal("3.250") and str(g[3]) == "3.250"
    h.step({"t": [(-1, rows[0])]})


def test_views_on_views_read_the_floating_point_snapshot_table():
    h = Harness(BASE + """
    CREATE VIEW g AS SELECT k, AVG(v) AS a, COUNT(*) AS c FROM t GROUP BY k;
    CREATE VIEW big AS SELECT k, a FROM g WHERE c >= 2;
    CREATE VIEW j AS SELECT g.k, g.a, u.name FROM g JOIN u ON g.k = u.k;
    """)
    assert "__sluice_out_g" in h.views["g"].contents_sql()
    assert "__sluice_out_g" in h.views["big"].contents_sql()
    h.step({"t": [(1, _t(i, i % 3, v=i / 7)) for i in range(12)], "u": [(1, (1, "x")), (1, (2, "y"))]})
    h.step({"t": [(-1, _t(4)), (1, _t(5, 1, v=3.0))]})


def test_unsupported_constructs_fall_back_to_recompute():
    h = Harness(BASE + """
    CREATE VIEW w AS SELECT id, ROW_NUMBER() OVER (PARTITION BY k ORDER BY id) AS rn FROM t;
    CREATE VIEW lim AS SELECT id FROM t ORDER BY id LIMIT 2;
    CREATE VIEW sub AS SELECT id FROM t WHERE k IN (SELECT k FROM u);
    CREATE VIEW rnd AS SELECT id, NOW() > TIMESTAMP '2000-01-01 00:00:00' AS r FROM t;
    CREATE VIEW ok AS SELECT id FROM t ORDER BY id;
    """)
    assert {n: h.strategy(n) for n in h.views} == {"w": "recompute", "lim": "recompute", "sub": "recompute",
                                                   "rnd": "recompute", "ok": "incremental"}
    h.step({"t": [(1, _t(i, i % 2)) for i in range(5)], "u": [(1, (1, "a"))]})


def test_unique_keys():
    h = Harness(BASE + """
    CREATE VIEW f AS SELECT id, x FROM t WHERE x > 0;
    CREATE VIEW j AS SELECT t.id, u.k, u.name FROM t JOIN u ON t.k = u.k;
    CREATE VIEW g AS SELECT k, s, COUNT(*) AS c FROM t GROUP BY k, s;
    CREATE VIEW one AS SELECT COUNT(*) AS c FROM t;
    CREATE VIEW d AS SELECT DISTINCT k, s FROM t;
    CREATE VIEW nokey AS SELECT x FROM t;
    """)
    keys = {n: v.unique_keys for n, v in h.views.items()}
    assert keys["f"] == [["id"]]
    assert ["id"] in keys["j"]
    assert keys["g"] == [["k", "s"]]
    assert keys["one"] == [[]]
    assert keys["d"] == [["k", "s"]]
    assert keys["nokey"] == []


@contextlib.contextmanager
def knobs(**values):
    """Temporarily set module constants (``module__NAME=value``) to take big-data paths on small data."""
    mods = {"ivm_agg": ivm_agg, "ivm_acc": ivm_acc, "ivm_join": ivm_join, "table": table_mod, "incremental": incremental}
    saved = []
    for k, v in values.items():
        mod, name = k.split("__")
        saved.append((mods[mod], name, getattr(mods[mod], name)))
        setattr(mods[mod], name, v)
    try:
        yield
    finally:
        for mod, name, v in saved:
            setattr(mod, name, v)


def test_loaded_groups_keep_only_their_extremes():
    """Groups loaded from a big input hold MIN/MAX as extreme + count and reload when it goes."""
    rows = [_t(i, i % 2, x, s=chr(97 + x % 5)) for i, x in enumerate([5, 3, 3, 9, 1, 7, 1, 2])]
    with knobs(ivm_agg__COMPLETE_MAX_ROWS=0, ivm_agg__RAW_LOAD_MAX_ROWS=0):
        h = Harness(BASE + "CREATE VIEW g AS SELECT k, MIN(x) AS lo, MAX(x) AS hi, MAX(s) AS ms, COUNT(*) AS c "
                           "FROM t GROUP BY k; CREATE VIEW d AS SELECT k, COUNT(DISTINCT x) AS cd FROM t GROUP BY k;",
                    {"t": [(1, r) for r in rows]})
        h.step({"t": [(1, _t(20, 0, 4))]})  # loads group 0 (lo 3 twice, hi 5), inside the extremes
        h.step({"t": [(1, _t(21, 0, 0)), (1, _t(22, 1, 10))]})  # new extremes
        h.step({"t": [(-1, _t(21)), (-1, _t(2))]})  # the extreme goes; 3 is still there once
        h.step({"t": [(-1, _t(1))]})  # the last 3 goes: reload finds 4
        h.step({"t": [(-1, _t(i)) for i in (0, 20)]})
        h.step({"t": [(-1, _t(6)), (-1, _t(4))]})  # group 0 empties
        assert [r[0] for r in h.maintained("g")] == [1]


def test_merged_and_loaded_min_max_outlive_deletes_of_their_extreme(monkeypatch):
    """After a bulk load merged by DuckDB, and after a group is loaded from a summary, MIN/MAX keep
    their most extreme values (``acc._TopK``): deleting the maximum again and again, alone or in a
    bulk change with other deletes, reads no group from the input until the values it knows of
    are gone; NaN, NULL, ties and strings give what recomputation gives all along."""
    loads = []
    for name in ("_load", "_load_rows"):
        real = getattr(ivm_agg.Aggregate, name)
        monkeypatch.setattr(ivm_agg.Aggregate, name, lambda self, con, keys, *a, real=real, **k:
                            loads.append(keys) or real(self, con, keys, *a, **k))
    nan = float("nan")
    amount = {i: nan if i == 7 else None if i == 9 else float(i // 4) for i in range(60)}  # ties in twos
    rows = {i: _t(i, i % 2, x=-i, v=amount[i], s=f"s{i:02}") for i in range(60)}
    rows.update({i: _t(i, 2, x=i, v=v) for i, v in zip(range(100, 105), [nan, 3.0, 2.0, nan, 1.0])})  # few: counted
    code = BASE + ("CREATE VIEW g AS SELECT k, MAX(v) AS hi, MIN(x) AS lo, MAX(s) AS ms, COUNT(*) AS c "
                   "FROM t GROUP BY k;")
    with knobs(ivm_agg__BULK_MIN_ROWS=10, incremental__MAPPED_MIN_ROWS=10):
        h = Harness(code, arrow=True)
        loads.clear()  # the start-up load of the empty table
        h.step({"t": [(1, r) for r in rows.values()]})  # merged: 30 rows a group, 8 values kept
        for i in (7, 59, 57, 55):  # group 1's maximum each time: NaN, 14.0 twice, 13.0
            h.step({"t": [(-1, _t(i))]})
        # a bulk change deleting the maximum and more, and upserting below it
        h.step({"t": [(-1, _t(i)) for i in (53, 51, 49, 3, 5, 100)] + [(1, _t(i, 1, -i, 1.5, s="a")) for i in (60, 61)]
                + [(1, _t(i, 1, -i, 0.5, s="b")) for i in range(62, 70)] + [(1, _t(105, 2, 5, nan))]})
        h.step({"t": [(-1, _t(103))]})
        h.step({"t": [(-1, _t(105))]})  # group 2's last NaN: 3.0
        assert loads == []
        for i in (47, 45, 43, 41, 39):  # the values group 1 still knows of go: it is read again
            h.step({"t": [(-1, _t(i))]})
        assert loads and all(keys == [(1,)] for keys in loads)
        loads.clear()
    with knobs(ivm_agg__COMPLETE_MAX_ROWS=0, ivm_agg__RAW_LOAD_MAX_ROWS=0):
        h.views = h.plans.build()  # a new run: groups loaded from a summary on first touch
        h.initialize()
        h.step({"t": [(1, _t(70, 0, 0, 0.25))]})
        assert loads == [[(0,)]]
        for i in (58, 56, 54, 52):  # group 0's maximum each time
            h.step({"t": [(-1, _t(i))]})
        assert loads == [[(0,)]]


@pytest.mark.parametrize("complete_max", [0, 10**6])
def test_double_sums_loaded_from_duckdb_are_exact(complete_max):
    """A group loaded from a DuckDB summary holds its DOUBLE sum exactly: deleting values leaves no
    rounding residue, with subnormal and huge values (DuckDB's own sum of these is -2.5e-310)."""
    vals = [1e20, 1.0, 0.1, 5e-324, 1.5e308, -1.5e308, -2.5e-310]
    rows = [_t(i, 1, x=i, v=v) for i, v in enumerate(vals)] + [_t(20, 2, x=0, v=0.5)]
    h = Harness(BASE + "CREATE VIEW g AS SELECT k, SUM(v) AS s, AVG(v) AS a, MAX(x) AS hi FROM t GROUP BY k;"
                       "CREATE VIEW d AS SELECT k, COUNT(DISTINCT x) AS cd, MIN(v) AS lo FROM t GROUP BY k;")
    with knobs(ivm_agg__BULK_MIN_ROWS=1, ivm_agg__ROW_AGG_COST=10**6):  # DuckDB computes: groups unloaded
        h.step({"t": [(1, r) for r in rows]}, check=False)  # DuckDB's sums are off here
    with knobs(ivm_agg__COMPLETE_MAX_ROWS=complete_max, ivm_agg__RAW_LOAD_MAX_ROWS=0):
        h.step({"t": [(1, _t(10, 1, x=1, v=2.0))]}, check=False)  # loads group 1 from the summary
        h.step({"t": [(-1, _t(i)) for i in (0, 4, 5)]})  # 1e20 and both huge values; MAX(x) stays
        (row,) = [r for r in h.maintained("g") if r[0] == 1]
        exact = sum(map(Fraction, [1.0, 0.1, 5e-324, -2.5e-310, 2.0]))
        assert row[1:] == (float(exact), float(exact / 5), 6)


def test_a_start_takes_exact_double_sums():
    """Views started over existing rows hold each group's exact DOUBLE sum from the start, as every
    later step gives it (DuckDB's own sum of these values is off), so a restart does not move a value;
    the snapshot holds those rows, and a later delete cancels them."""
    vals = [1e20, 1.0, 0.1, 5e-324, -1e20, -2.5e-310]
    pre = {"t": [(1, _t(i, 1, x=i, v=v)) for i, v in enumerate(vals)] + [(1, _t(20, 2, x=0, v=0.5))]}
    # ``hv``: operators above the GROUP BY keep DuckDB's rows at a start (its snapshot table is DuckDB's);
    # a later step must delete exactly the row it holds (the Harness checks every delete).
    h = Harness(BASE + "CREATE VIEW g AS SELECT k, SUM(v) AS s, AVG(v) AS a, COUNT(*) AS n FROM t GROUP BY k;"
                       "CREATE VIEW hv AS SELECT k, SUM(v) AS s FROM t GROUP BY k HAVING COUNT(*) > 1;",
                preload=pre)
    exact = sum(map(Fraction, vals))
    assert sorted(h.snapshot("g")) == [(1, float(exact), float(exact / 6), 6), (2, 0.5, 0.5, 1)]
    h.step({"t": [(-1, _t(1))]}, check=False)  # the 1.0
    rest = exact - 1
    assert sorted(h.snapshot("g")) == [(1, float(rest), float(rest / 5), 5), (2, 0.5, 0.5, 1)]
    assert sorted(h.maintained("g")) == sorted(h.snapshot("g"))


def test_large_changes_are_recomputed_by_duckdb():
    with knobs(ivm_agg__BULK_MIN_ROWS=1, ivm_agg__ROW_AGG_COST=10**6, incremental__MAPPED_MIN_ROWS=1):
        h = Harness(BASE + "CREATE VIEW g AS SELECT k, SUM(x) AS s, AVG(v) AS a, MIN(s) AS m FROM t GROUP BY k;"
                           "CREATE VIEW one AS SELECT COUNT(*) AS c, MAX(x) AS hi FROM t;"
                           "CREATE VIEW f AS SELECT id, x + 1 AS x1, s FROM t WHERE x % 2 = 0;"
                           "CREATE VIEW p AS SELECT k FROM t;")
        h.step({"t": [(1, _t(i, i % 3, i, i / 3, s=str(i))) for i in range(30)]})
        h.step({"t": [(-1, _t(i)) for i in range(0, 30, 3)]})  # group 0 empties
    h.step({"t": [(1, _t(40, 1, 1, 0.5, s="a")), (-1, _t(29))]})  # then small steps load groups again
    h.step({"t": [(-1, _t(i)) for i in range(30)]})


def test_restart_rebuilds_state_from_the_tables():
    h = Harness(BASE + "CREATE VIEW g AS SELECT k, MAX(x) AS hi, SUM(v) AS s FROM t GROUP BY k;"
                       "CREATE VIEW j AS SELECT t.id, u.name FROM t JOIN (SELECT * FROM u) u ON t.k = u.k;")
    h.step({"t": [(1, _t(i, i % 3, i, i / 4)) for i in range(20)], "u": [(1, (1, "a"))]})
    h.views = h.plans.build()  # a new run over the same database
    h.initialize()
    h.step({"t": [(-1, _t(19)), (-1, _t(16))], "u": [(1, (2, "b"))]})


# ---------------------------------------------------------------------------------------------
# Property tests: random programs and random batches

_INT = st.one_of(st.none(), st.integers(0, 3), st.integers(-3, 6))
_NICE = [0.0, 0.25, -1.5, 2.0, 3.75, 100.5, -0.5]
# No -1e16 beside 1e16: with both in a group the exact sum (0.1, say) and DuckDB's left-to-right sum
# (0.0 in one order) differ by all of the small values, so comparing a maintained SUM(DOUBLE) with
# DuckDB's recomputation would fail on the recomputation's rounding (a long run found it; the same on
# 63cf6ac). 1e16 still tests that an exact sum cancels when its row is deleted.
_UGLY = [0.1, 1e16, 1 / 3, 2.5e-8, 123456.789]
_STR = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "bb"]))
_DEC = st.one_of(st.none(), st.sampled_from(["0.00", "1.25", "-2.50", "10.01", "3.30"]).map(Decimal))


class Rel:
    """A relation of a generated program: name and columns (name, kind); ``fuzzy`` columns carry
    floating-point aggregates and are only passed through, never compared or grouped on."""

    def __init__(self, name, cols, fuzzy=()):
        self.name, self.cols, self.fuzzy = name, cols, set(fuzzy)

    def of(self, *kinds, exact=True):
        return [c for c, k in self.cols if k in kinds and not (exact and c in self.fuzzy)]


def _pred(draw, r: Rel, alias: str = "") -> str | None:
    p = alias + "." if alias else ""
    opts = []
    for c in r.of("int"):
        opts += [f"{p}{c} > {draw(st.integers(-2, 4))}", f"{p}{c} % 2 = 0", f"{p}{c} IS NULL"]
    for c in r.of("float"):
        opts += [f"{p}{c} < {draw(st.sampled_from([0.5, 2.0, 50.0]))}"]
    for c in r.of("dec"):
        opts += [f"{p}{c} >= 1.25"]
    for c in r.of("str"):
        opts += [f"{p}{c} = 'a'", f"{p}{c} <> 'b'", f"{p}{c} IS NOT NULL"]
    return draw(st.sampled_from(opts)) if opts else None


KINDS = ["join", "group", "filter", "project", "distinct", "union", "global", "joingroup"]
_AGGS = {"int": ["SUM", "AVG", "MIN", "MAX", "COUNT", "COUNT DISTINCT"], "float": ["SUM", "AVG", "MIN", "MAX", "COUNT"],
         "dec": ["SUM", "MIN", "MAX", "COUNT DISTINCT", "AVG"], "str": ["MIN", "MAX", "COUNT", "COUNT DISTINCT"]}


def _agg(fn: str, col: str, kind: str, alias: str) -> tuple[str, tuple[str, str], bool]:
    """(SQL, output column, fuzzy) for aggregate ``fn`` of ``col``."""
    if fn == "COUNT DISTINCT":
        return f"COUNT(DISTINCT {col}) AS {alias}", (alias, "int"), False
    rk = {"COUNT": "int", "AVG": "float"}.get(fn, "int" if (fn == "SUM" and kind == "int") else kind)
    return f"{fn}({col}) AS {alias}", (alias, rk), fn == "AVG" or (fn == "SUM" and kind == "float")


def _gen_view(draw, rels: list[Rel], i: int, kind: str) -> tuple[str, Rel] | None:
    name = f"v{i}"
    r = draw(st.sampled_from(rels))
    cols = r.cols
    if kind == "filter":
        p = _pred(draw, r)
        if p is None:
            return None
        return f"SELECT * FROM {r.name} WHERE {p}", Rel(name, cols, r.fuzzy)
    if kind == "project":
        exprs, out = [], []
        for j, (c, k) in enumerate(cols):
            if not draw(st.booleans()):
                continue
            if k == "int" and c not in r.fuzzy and draw(st.booleans()):
                exprs.append(f"{c} * 2 + {draw(st.integers(0, 3))} AS {c}_p")
                out.append((f"{c}_p", "int"))
            elif k == "float" and c not in r.fuzzy and draw(st.booleans()):
                exprs.append(f"{c} / 2 AS {c}_h")
                out.append((f"{c}_h", "float"))
            elif k == "str" and draw(st.booleans()):
                exprs.append(f"upper({c}) AS {c}_u")
                out.append((f"{c}_u", "str"))
            else:
                exprs.append(c)
                out.append((c, k))
        if not exprs:
            return None
        return f"SELECT {', '.join(exprs)} FROM {r.name}", Rel(name, out, {c for c, _ in out if c in r.fuzzy})
    if kind == "union":
        r2 = draw(st.sampled_from(rels))
        a, b = r.of("int"), r2.of("int")
        sa, sb = r.of("str"), r2.of("str")
        if not (a and b and sa and sb):
            return None
        op = draw(st.sampled_from(["UNION ALL", "UNION ALL", "UNION"]))
        return (f"SELECT {draw(st.sampled_from(a))} AS n, {draw(st.sampled_from(sa))} AS t FROM {r.name} {op} "
                f"SELECT {draw(st.sampled_from(b))}, {draw(st.sampled_from(sb))} FROM {r2.name}",
                Rel(name, [("n", "int"), ("t", "str")]))
    if kind == "join":
        r2 = draw(st.sampled_from(rels))
        a, b = r.of("int"), r2.of("int")
        if not (a and b):
            return None
        jt = draw(st.sampled_from(["JOIN", "LEFT JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"]))
        ka, kb = draw(st.sampled_from(a)), draw(st.sampled_from(b))
        extra = ""
        if jt == "LEFT JOIN" and draw(st.booleans()):
            p = _pred(draw, r2, "y")
            extra = f" AND {p}" if p else ""
        sel = [f"x.{c} AS l_{c}" for c, _ in r.cols] + [f"y.{c} AS r_{c}" for c, _ in r2.cols]
        out = [(f"l_{c}", k) for c, k in r.cols] + [(f"r_{c}", k) for c, k in r2.cols]
        fuzzy = {f"l_{c}" for c in r.fuzzy} | {f"r_{c}" for c in r2.fuzzy}
        where = ""
        if draw(st.booleans()):
            p = _pred(draw, r, "x")
            where = f" WHERE {p}" if p else ""
        return (f"SELECT {', '.join(sel)} FROM {r.name} x {jt} {r2.name} y ON x.{ka} = y.{kb}{extra}{where}",
                Rel(name, out, fuzzy))
    if kind in ("group", "global"):
        keys = r.of("int", "str")
        if kind == "group" and not keys:
            return None
        gk = [draw(st.sampled_from(keys))] if kind == "group" else []
        if gk and draw(st.booleans()) and len(keys) > 1:
            gk.append(draw(st.sampled_from([k for k in keys if k != gk[0]])))
        aggs, out, fuzzy = ["COUNT(*) AS cnt"], [(g, dict(r.cols)[g]) for g in gk] + [("cnt", "int")], set()
        for j, (c, k) in enumerate(cols):
            if c in r.fuzzy:
                continue
            for fn in draw(st.lists(st.sampled_from({
                    "int": ["SUM", "AVG", "MIN", "MAX", "COUNT", "COUNT DISTINCT"],
                    "float": ["SUM", "AVG", "MIN", "MAX", "COUNT"],
                    "dec": ["SUM", "MIN", "MAX", "COUNT DISTINCT", "AVG"],
                    "str": ["MIN", "MAX", "COUNT", "COUNT DISTINCT"]}[k]), min_size=1, max_size=2, unique=True)):
                alias = f"a{len(out)}"
                if fn == "COUNT DISTINCT":
                    aggs.append(f"COUNT(DISTINCT {c}) AS {alias}")
                    out.append((alias, "int"))
                    continue
                aggs.append(f"{fn}({c}) AS {alias}")
                rk = {"COUNT": "int", "AVG": "float"}.get(fn, "int" if (fn == "SUM" and k == "int") else k)
                out.append((alias, rk))
                if fn == "AVG" or (fn == "SUM" and k == "float"):
                    fuzzy.add(alias)
        having = " HAVING COUNT(*) > 1" if gk and draw(st.integers(0, 4)) == 0 else ""
        where = ""
        if draw(st.integers(0, 2)) == 0:
            p = _pred(draw, r)
            where = f" WHERE {p}" if p else ""
        group = f" GROUP BY {', '.join(gk)}" if gk else ""
        return (f"SELECT {', '.join(gk + aggs)} FROM {r.name}{where}{group}{having}", Rel(name, out, fuzzy))
    if kind == "joingroup":  # GROUP BY over a join, in one view
        r2 = draw(st.sampled_from(rels))
        a, b = r.of("int"), r2.of("int")
        if not (a and b):
            return None
        jt = draw(st.sampled_from(["JOIN", "LEFT JOIN"]))
        cands = [("x", c, k) for c, k in r.cols if c not in r.fuzzy and k in ("int", "str")] + \
                [("y", c, k) for c, k in r2.cols if c not in r2.fuzzy and k in ("int", "str")]
        side, gcol, gkind = draw(st.sampled_from(cands))
        aggs, out, fuzzy = ["COUNT(*) AS cnt"], [("g", gkind), ("cnt", "int")], set()
        pool = [("x", c, k) for c, k in r.cols if c not in r.fuzzy] + [("y", c, k) for c, k in r2.cols
                                                                       if c not in r2.fuzzy]
        for al, c, k in draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3)):
            sql, col, fz = _agg(draw(st.sampled_from(_AGGS[k])), f"{al}.{c}", k, f"a{len(out)}")
            aggs.append(sql)
            out.append(col)
            if fz:
                fuzzy.add(col[0])
        return (f"SELECT {side}.{gcol} AS g, {', '.join(aggs)} FROM {r.name} x {jt} {r2.name} y "
                f"ON x.{draw(st.sampled_from(a))} = y.{draw(st.sampled_from(b))} GROUP BY {side}.{gcol}",
                Rel(name, out, fuzzy))
    # distinct
    pick = [c for c, _ in cols if c not in r.fuzzy and draw(st.booleans())] or [c for c, _ in cols
                                                                               if c not in r.fuzzy][:1]
    if not pick:
        return None
    return f"SELECT DISTINCT {', '.join(pick)} FROM {r.name}", Rel(name, [(c, dict(cols)[c]) for c in pick])


@st.composite
def programs(draw):
    tables, code = [], []
    for name, extra in (("t1", [("x", "int"), ("v", "float"), ("d", "dec"), ("s", "str")]),
                        ("t2", [("y", "int"), ("s", "str")])):
        if name == "t2" and draw(st.integers(0, 3)) == 0:
            continue
        pk = draw(st.booleans())
        cols = [("id", "int"), ("k", "int")] + extra
        sql = {"int": "INT", "float": "DOUBLE", "dec": "DECIMAL(10,2)", "str": "VARCHAR"}
        defs = ", ".join(f"{c} {'BIGINT NOT NULL PRIMARY KEY' if (c == 'id' and pk) else sql[k]}" for c, k in cols)
        code.append(f"CREATE TABLE {name} ({defs});")
        tables.append((Rel(name, cols), pk))
    rels = [r for r, _ in tables]
    # Every program mixes several constructs (in a random order, so later ones read earlier views).
    kinds = draw(st.permutations(KINDS))[:draw(st.integers(3, len(KINDS)))]
    for i, kind in enumerate(kinds):
        v = _gen_view(draw, rels, i, kind)
        if v is None:
            continue
        sql, rel = v
        local = "LOCAL " if draw(st.integers(0, 5)) == 0 else ""
        code.append(f"CREATE {local}VIEW {rel.name} AS {sql};")
        rels.append(rel)
    return "\n".join(code), tables


def _row(draw, rel: Rel, ident: int, ugly: bool = True):
    vals = []
    for c, k in rel.cols:
        if c == "id":
            vals.append(ident)
        elif k == "int":
            vals.append(draw(_INT))
        elif k == "float":
            vals.append(draw(st.one_of(st.none(), st.sampled_from(_NICE), st.sampled_from(_UGLY if ugly else _NICE))))
        elif k == "dec":
            vals.append(draw(_DEC))
        else:
            vals.append(draw(_STR))
    return tuple(vals)


def _batches(draw, tables, nsteps, ugly: bool = True):
    live = {r.name: [] for r, _ in tables}
    steps = []
    for _ in range(nsteps):
        batch = {}
        for rel, pk in tables:
            ops = []
            for _ in range(draw(st.integers(0, 8))):
                what = draw(st.sampled_from(["insert", "insert", "delete", "update"]))
                rows = live[rel.name]
                if what == "insert" or not rows:
                    r = _row(draw, rel, draw(st.integers(0, 12)), ugly)
                    ops.append((1, r))
                    rows.append(r)
                elif what == "delete":
                    r = rows.pop(draw(st.integers(0, len(rows) - 1)))
                    ops.append((-1, r))
                else:
                    i = draw(st.integers(0, len(rows) - 1))
                    old = rows[i]
                    new = _row(draw, rel, old[0], ugly)
                    if not pk:
                        ops.append((-1, old))
                    ops.append((1, new))
                    rows[i] = new
            if ops:
                batch[rel.name] = ops
        steps.append(batch)
    return steps


def _run_case(data):
    code, tables = data.draw(programs(), label="program")
    # Exercise the paths that big data takes, on small data: state built from existing rows,
    # GROUP BY recomputed by DuckDB for "large" changes, probes and deletes by semi-join, the
    # snapshot log compacted on every step.
    preload = data.draw(st.booleans(), label="preload")
    bulk = data.draw(st.sampled_from([None, 1, 4]), label="bulk rows")
    tiny_lists = data.draw(st.booleans(), label="semi-join probes")
    partial = data.draw(st.sampled_from([None, 0, 3]), label="groups loaded from rows up to")
    arrow = data.draw(st.booleans(), label="inserts as Arrow")
    nsteps = data.draw(st.integers(1, 10), label="steps")
    # Snapshots read only after the last step: changes of views nothing reads pile up in memory and
    # reach their log table in batches (of LOG_BATCH_ROWS rows, or all at once for the snapshot).
    snap_every = data.draw(st.booleans(), label="snapshot every step")
    log_batch = data.draw(st.sampled_from([None, 1, 5]), label="log batch rows")
    # Loaded and merged MIN/MAX keep this many values: few, so that lists of small groups are cut.
    topk = data.draw(st.sampled_from([None, 1, 2]), label="MIN/MAX values kept")
    # A group loaded from a DuckDB summary starts its DOUBLE sum from DuckDB's rounded sum: with
    # values whose sums are exact in any order the comparison stays exact.
    batches = _batches(data.draw, tables, nsteps + preload, ugly=partial is None)
    saved = (ivm_agg.BULK_MIN_ROWS, ivm_agg.ROW_AGG_COST, ivm_join.PROBE_IN_LIST_MAX, ivm_agg.PROBE_IN_LIST_MAX,
             table_mod.KEY_LIST_MAX, ivm_agg.COMPLETE_MAX_ROWS, ivm_agg.RAW_LOAD_MAX_ROWS, incremental.MAPPED_MIN_ROWS,
             incremental.LOG_SLACK_ROWS, incremental.LOG_BATCH_ROWS, ivm_acc.TOPK)
    try:
        if topk is not None:
            ivm_acc.TOPK = topk
        if log_batch is not None:
            incremental.LOG_BATCH_ROWS = log_batch
        if bulk is not None:
            incremental.MAPPED_MIN_ROWS = bulk
        if partial is not None:
            ivm_agg.COMPLETE_MAX_ROWS = ivm_agg.RAW_LOAD_MAX_ROWS = partial
        if bulk is not None:
            ivm_agg.BULK_MIN_ROWS, ivm_agg.ROW_AGG_COST = bulk, 10**6
        if tiny_lists:
            ivm_join.PROBE_IN_LIST_MAX = ivm_agg.PROBE_IN_LIST_MAX = table_mod.KEY_LIST_MAX = 1
            incremental.LOG_SLACK_ROWS = 0
        h = Harness(code, batches[0] if preload else None, arrow=arrow)
        # The grammar exercises the incremental path, not the fallback (the strategy depends on the
        # program only, not on the knobs above).
        fallback = [n for n in h.views if h.strategy(n) != "incremental"]
        assert not fallback, f"generated views fall back to recompute: {fallback}\n{code}"
        for batch in batches[preload:]:
            h.step(batch, snapshots=snap_every)
        h.check()
    finally:
        (ivm_agg.BULK_MIN_ROWS, ivm_agg.ROW_AGG_COST, ivm_join.PROBE_IN_LIST_MAX, ivm_agg.PROBE_IN_LIST_MAX,
         table_mod.KEY_LIST_MAX, ivm_agg.COMPLETE_MAX_ROWS, ivm_agg.RAW_LOAD_MAX_ROWS, incremental.MAPPED_MIN_ROWS,
         incremental.LOG_SLACK_ROWS, incremental.LOG_BATCH_ROWS, ivm_acc.TOPK) = saved
    return h


_PROP = settings(max_examples=1200 if LONG else 80, deadline=None, derandomize=not LONG,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.timeout(3600 if LONG else 120)
@_PROP
@given(st.data())
def test_random_programs_match_recomputation(data):
    _run_case(data)


def test_group_by_all_and_positions():
    h = Harness(BASE + """
    CREATE VIEW a AS SELECT k, s, COUNT(*) AS c FROM t GROUP BY ALL;
    CREATE VIEW c AS SELECT 1 AS one, COUNT(*) AS c FROM t GROUP BY ALL;
    CREATE VIEW p AS SELECT k + 1 AS k1, MAX(x) AS hi FROM t GROUP BY 1;
    CREATE VIEW e AS SELECT k * 2 AS kk, SUM(x) * k * 2 AS weird FROM t GROUP BY k * 2, k;
    """)
    assert {n: h.strategy(n) for n in h.views} == {n: "incremental" for n in h.views}
    h.step({"t": [(1, _t(i, i % 3, i, s="ab"[i % 2])) for i in range(7)]})
    h.step({"t": [(-1, _t(i)) for i in range(7)]})


def test_large_changes_join_in_duckdb(monkeypatch):
    """A change of one side with more distinct keys than a probe looks up one by one is joined with
    the other (stored) side in one DuckDB query, a filter or projection above it in the same query:
    NULL keys, NaN, deletes and either side changing give what recomputation gives."""
    calls = []
    joined = ivm_join.Join._joined
    monkeypatch.setattr(ivm_join.Join, "_joined", lambda self, *a: calls.append(a[-1]) or joined(self, *a))
    nan = float("nan")
    with knobs(ivm_join__PROBE_IN_LIST_MAX=2, ivm_join__MEM_ROWS_MAX=-1):  # (asks about DuckDB's index)
        h = Harness(BASE + """
        CREATE VIEW j AS SELECT t.id, t.v, t.d, u.name FROM t JOIN u ON t.k = u.k;
        CREATE VIEW jw AS SELECT t.id, t.x * 2 AS x2, u.name FROM t JOIN u ON t.k = u.k WHERE t.v > 1 OR u.name = 'b';
        CREATE VIEW jg AS SELECT u.name, COUNT(*) AS n, SUM(t.x) AS sx, MAX(t.v) AS mv FROM t JOIN u ON t.k = u.k
            GROUP BY u.name;""", arrow=True)
        h.step({"u": [(1, (k, "ab"[k % 2])) for k in range(6)]})
        loaded = h.step({"t": [(1, _t(i, None if i == 7 else i % 5, i, nan if i % 4 == 0 else i / 2, f"{i}.5"))
                               for i in range(12)]})
        h.step({"t": [(-1, _t(i)) for i in (1, 2, 8)] + [(1, _t(i, 4, -i, 3.0)) for i in (3, 5)]})
        h.step({"u": [(-1, (k, None)) for k in (0, 1, 2)] + [(1, (4, "b")), (1, (9, "a"))]})
        indexes = "SELECT index_name FROM duckdb_indexes() WHERE index_name = '__sluice_ix_t_k'"
        assert not h.db.execute(indexes).fetchall()  # t has not been probed by k one key at a time
        h.step({"u": [(1, (3, "c"))]})  # probes t through an index on k, built now
        assert h.db.execute(indexes).fetchall()
    assert len(calls) >= 4 and any(c is not None for c in calls)
    assert isinstance(loaded["j"][1], ArrowRows) and isinstance(loaded["jw"][1], ArrowRows)  # no Python rows


def test_a_side_kept_in_memory_follows_a_bulk_load_joined_in_duckdb(monkeypatch):
    """A stored table side kept in memory (``TableSide.mem``) that takes a bulk load joined in DuckDB,
    which never reaches the side's ``apply``, is counted and read from the table again afterwards."""
    calls = []
    found = ivm_join.Join._arrow_delta
    monkeypatch.setattr(ivm_join.Join, "_arrow_delta", lambda self, *a: calls.append(found(self, *a)) or calls[-1])
    with knobs(ivm_join__PROBE_IN_LIST_MAX=2):
        h = Harness(BASE + "CREATE TABLE w (id BIGINT NOT NULL PRIMARY KEY, k INT, x INT);\n"
                    "CREATE VIEW j AS SELECT w.id, w.x, u.name FROM w JOIN u ON w.k = u.k;\n"
                    # under an aggregate: joined in DuckDB by ``step_under``, not ``arrow_change``
                    "CREATE VIEW jg AS SELECT u.name, COUNT(*) AS n, SUM(w.x) AS sx FROM w JOIN u ON w.k = u.k "
                    "GROUP BY u.name;",
                    arrow=True)
        h.step({"w": [(1, (1, 1, 1))]})
        h.step({"u": [(1, (1, "a"))]})  # probes w: a copy in memory, when the fixture allows it
        h.step({"w": [(1, (i, i, i)) for i in range(10, 20)]})  # ten join keys, kept as Arrow: joined in DuckDB
        assert len([c for c in calls[-2:] if c is not None]) == 2, "the load was not joined in DuckDB (the case under test)"
        h.step({"u": [(1, (12, "b")), (1, (1, "c"))]})  # probes w again: the load is there


def test_bulk_inserts_kept_as_arrow(monkeypatch):
    """A step of new keys only hands its views the Arrow batch it inserted (no ``RETURNING``):
    GROUP BY pre-aggregates it and a filter maps it in DuckDB; NaN, NULL and DECIMAL values, later
    upserts and deletes give what recomputation gives."""
    merged = []
    merge = ivm_agg.Aggregate._merge_batch
    monkeypatch.setattr(ivm_agg.Aggregate, "_merge_batch", lambda self, *a: merged.append(a[-1]) or merge(self, *a))
    nan = float("nan")
    with knobs(ivm_agg__BULK_MIN_ROWS=2, incremental__MAPPED_MIN_ROWS=2):
        h = Harness(BASE + """
        CREATE VIEW g AS SELECT k, COUNT(*) AS n, SUM(v) AS sv, AVG(v) AS av, MAX(v) AS mv, SUM(d) AS sd, MIN(s) AS ms
            FROM t GROUP BY k;
        CREATE VIEW f AS SELECT id, v * 2 AS v2, d, s FROM t WHERE v > 1 OR v IS NULL;
        CREATE VIEW p AS SELECT id, s FROM t;""", arrow=True)
        h.step({"t": [(1, _t(i, i % 3, i, 0.5 * i, f"{i}.25", "xyz"[i % 3])) for i in range(8)]})
        kept = h.step({"t": [(1, _t(i, i % 3 if i != 9 else None, i, nan if i == 10 else 0.5 * i, f"{i}.25",
                                    None if i == 11 else "xyz"[i % 3])) for i in range(8, 12)]})
        upserted = h.step({"t": [(1, _t(i, 1, -i, 3.0, "1.00", "w")) for i in (2, 10, 12)]})
        h.step({"t": [(-1, _t(i)) for i in (0, 9, 10)]})
    assert isinstance(kept["t"][1], ArrowRows) and not isinstance(upserted["t"][1], ArrowRows)
    assert False in merged and True in merged  # the Arrow batch, then an upsert's rows


def test_bulk_merges_of_float_sums_with_filters_several_arguments_and_no_group_by(monkeypatch):
    """A bulk merge reads a change's exact float sums per group and exponent bucket in grouping sets
    of the same query as the other aggregates: one set per argument, a FILTER per sum, NULL-only
    buckets skipped, and a global aggregate too; recomputation gives the same, NaN and infinities
    included."""
    merged = []
    merge = ivm_agg.Aggregate._merge_batch
    monkeypatch.setattr(ivm_agg.Aggregate, "_merge_batch", lambda self, *a: merged.append(a[-1]) or merge(self, *a))
    nan, inf = float("nan"), float("inf")
    with knobs(ivm_agg__BULK_MIN_ROWS=2, incremental__MAPPED_MIN_ROWS=2):
        h = Harness("""
        CREATE TABLE w (id BIGINT NOT NULL PRIMARY KEY, k INT, v DOUBLE, x REAL);
        CREATE VIEW g AS SELECT k, SUM(v) AS sv, AVG(v) AS av, SUM(v) FILTER (WHERE k > 0) AS fv,
            SUM(x) AS sx, COUNT(x) AS cx, MAX(x) AS mx FROM w GROUP BY k;
        CREATE VIEW a AS SELECT SUM(v) AS sv, AVG(x) AS ax, COUNT(*) AS n FROM w;""", arrow=True)
        vals = [0.1, -2.5, 1e300, 5e-324, None, nan, inf, -inf, 3.0, 1e-300, -1e300, 7.25]
        h.step({"w": [(1, (i, i % 3, vals[i % len(vals)], None if i % 5 == 0 else i / 8)) for i in range(40)]})
        h.step({"w": [(1, (i, i % 4, None, 0.5)) for i in range(40, 48)]})  # buckets of NULLs only
        h.step({"w": [(-1, (i, i % 3, vals[i % len(vals)], None if i % 5 == 0 else i / 8)) for i in range(0, 40, 3)]})
        h.step({"w": [(1, (i, 1, 2.0 ** -1070, 1.5)) for i in range(60, 70)]})  # subnormal sums
    assert merged.count(False) >= 3  # the insert batches went through the bulk merge


def test_max_of_decimals_past_28_digits_in_a_bulk_merge():
    """MAX orders DECIMALs by their exact negation: ``-d`` rounds to Python's 28-digit context, which
    made two DECIMAL(38, 2) values one digit apart tie (the smaller one then won)."""
    with knobs(ivm_agg__BULK_MIN_ROWS=2, incremental__MAPPED_MIN_ROWS=2):
        h = Harness("""
        CREATE TABLE w (id BIGINT NOT NULL PRIMARY KEY, k INT, d DECIMAL(38, 2));
        CREATE VIEW g AS SELECT k, MAX(d) AS mx, MIN(d) AS mn FROM w GROUP BY k;""", arrow=True)
        big = Decimal("123456789012345678901234567890123456.91")
        h.step({"w": [(1, (1, 1, big)), (1, (2, 1, big + Decimal("0.01"))), (1, (3, 1, Decimal("1.00")))]})
        h.step({"w": [(1, (4, 1, big + Decimal("0.02"))), (1, (5, 1, big - Decimal("0.01")))]})
        h.step({"w": [(-1, (4, 1, big + Decimal("0.02")))]})
        assert h.recomputed("g") == [(1, big + Decimal("0.01"), Decimal("1.00"))]


def test_integer_stddev_of_large_values_in_a_step_of_many_rows():
    """STDDEV of a BIGINT sums squares as HUGEINT: a step of more rows than go in as parameters reads
    them through Arrow, where HUGEINT is a DECIMAL; the sum must stay an exact integer (squares of
    18-digit values pass 28 digits), or the variance comes out wrong, even negative."""
    h = Harness("""
    CREATE TABLE t (k INT, x BIGINT);
    CREATE VIEW sd AS SELECT k, STDDEV(x) AS s, STDDEV_POP(x) AS sp FROM t GROUP BY k;""")
    assert h.strategy("sd") == "incremental"
    h.step({"t": [(1, (1, 500_000_000_000_000_000 + i * 1_000)) for i in range(20)]})  # checked against recompute
    h.step({"t": [(-1, (1, 500_000_000_000_000_000 + i * 1_000)) for i in range(0, 20, 3)]})


def test_aggregate_over_a_join_whose_sides_change_together():
    """The join's change may delete a joined row before inserting it again: MAX must not see a
    count below zero on the way."""
    h = Harness("""
    CREATE TABLE a (id INT, k INT, x INT);
    CREATE TABLE b (k INT NOT NULL PRIMARY KEY, name VARCHAR);
    CREATE VIEW gj AS SELECT b.name, COUNT(*) AS n, MAX(a.x) AS mx FROM a JOIN b ON a.k = b.k GROUP BY b.name;
    """)
    h.step({"b": [(1, (0, "x")), (1, (1, None))]})
    h.step({"a": [(1, (1, 1, None)), (1, (0, 0, 3)), (1, (2, 1, 6))], "b": [(1, (0, None)), (-1, (1, "y"))]})
    h.step({"a": [(-1, (2, 1, 6))], "b": [(1, (1, "z"))]})


def test_a_view_named_in_another_case_is_read_and_stepped():
    """An unquoted name is folded to lower case (Feldera's rule): a view reading AGG reads agg,
    is stepped when agg changes, and agg (being read) writes its log table at every step."""
    h = Harness("""
    CREATE TABLE t (id INT NOT NULL PRIMARY KEY, k INT, v DOUBLE);
    CREATE VIEW agg AS SELECT k, SUM(v) AS s FROM t GROUP BY k;
    CREATE VIEW down AS SELECT x.k, MAX(x.s) AS m, COUNT(*) AS c FROM AGG x GROUP BY x.k;
    """, {"t": [(1, (i, i % 2, float(i))) for i in range(10)]})
    assert h.prog.relation("down").depends_on == {"agg"}
    assert not h.views["agg"].defer_log
    h.step({"t": [(1, (1, 1, 100.0))]}, snapshots=False)
    with knobs(ivm_agg__BULK_MIN_ROWS=1, ivm_agg__ROW_AGG_COST=1):  # down recomputed by DuckDB from agg's log
        h.step({"t": [(1, (3, 1, 50.0))]}, snapshots=False)
    h.check()
