"""GROUP BY state in columns (``ivm.colstate``) against recomputation.

Bulk inserts merge into groups held in columns; small steps, deletes and upserts turn the groups
they touch back into accumulator objects. Random sequences of both, over every aggregate the
columns hold (COUNT, SUM/AVG of integers and doubles, MIN/MAX of integers, doubles and REAL, with
and without FILTER, grouped by one or two columns or not at all), with NaN, infinities, signed
zeros, NULLs, huge and tiny doubles and the integer type's extremes, must give what DuckDB computes
from scratch after every step (``Harness`` checks the emitted changes and the snapshot). Few
MIN/MAX values are kept (``acc.TOPK`` 1 to 3) so that lists are cut and reloaded often.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from webapp.engine.ivm import acc as ivm_acc
from webapp.engine.ivm import agg as ivm_agg
from webapp.engine.ivm import colstate

from test_incremental import Harness, knobs

LONG = os.environ.get("SLUICE_LONG_TESTS") == "1"

# x and v are summed: their sums are exact in any order (DuckDB adds doubles left to right, the
# engine exactly), and x is BIGINT so that they do not overflow. y and z, only compared, hold
# BIGINT's extremes and doubles from the largest to subnormal ones.
TABLE = ("CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, k INT, g VARCHAR, x BIGINT, v DOUBLE, r REAL, y BIGINT, "
         "z DOUBLE);\n")
AGGS = ("COUNT(*) AS n, COUNT(v) AS cv, SUM(x) AS sx, AVG(x) AS ax, SUM(v) AS sv, AVG(v) AS av, "
        "MAX(v) AS xv, MIN(v) AS nv, MAX(x) AS xx, MIN(x) AS nx, MAX(r) AS xr, MIN(r) AS nr, MAX(y) AS xy, MIN(y) AS ny, "
        "MAX(z) AS xz, MIN(z) AS nz")
# FILTER flags are computed by the pre-aggregation's projection: its change is then Python rows (a
# bulk insert merged in columns once the input is larger than it), not the Arrow batch.
FILTERED = ("COUNT(*) AS n, SUM(v) FILTER (WHERE x > 0) AS fv, MIN(v) FILTER (WHERE x > 0) AS fnv, "
            "MAX(x) FILTER (WHERE v > 0) AS fxx, COUNT(x) FILTER (WHERE v > 0) AS fc, AVG(x) FILTER (WHERE r > 0) AS fax")
VIEWS = {
    "one": f"CREATE VIEW one AS SELECT k, {AGGS} FROM t GROUP BY k;",
    "two": f"CREATE VIEW two AS SELECT k, g, {AGGS} FROM t GROUP BY k, g;",
    "fil": f"CREATE VIEW fil AS SELECT g, {FILTERED} FROM t GROUP BY g;",
    "all": f"CREATE VIEW all_ AS SELECT {AGGS} FROM t;",
    "keys": "CREATE VIEW keys AS SELECT k, g FROM t GROUP BY k, g;",  # groups without an aggregate
}
NAN, INF = float("nan"), float("inf")
DOUBLES = [0.0, -0.0, 1.5, -2.25, 0.125, 3.0, 1024.0, NAN, INF, -INF, None]
EXTREMES = [0.0, -0.0, 0.1, 1e300, -1e300, 5e-324, -5e-324, 2.0 ** -1070, NAN, INF, -INF, None]
INTS = [0, 1, -1, 7, 2**31 - 1, -2**31, None]
BIGS = [0, -1, 2**63 - 1, -2**63, 2**62, None]


@st.composite
def rows(draw, ids):
    out = []
    for i in ids:
        out.append((i, draw(st.sampled_from([0, 1, 2, 3, None])), draw(st.sampled_from(["a", "b", None])),
                    draw(st.sampled_from(INTS)), draw(st.sampled_from(DOUBLES)),
                    draw(st.sampled_from([0.5, -1.0, 2.5, NAN, None])), draw(st.sampled_from(BIGS)),
                    draw(st.sampled_from(EXTREMES))))
    return out


@st.composite
def cases(draw):
    views = draw(st.lists(st.sampled_from(sorted(VIEWS)), min_size=1, max_size=3, unique=True))
    steps, live, next_id = [], {}, 0
    for _ in range(draw(st.integers(2, 7))):
        kind = draw(st.sampled_from(["bulk", "bulk", "small", "delete", "upsert"]))
        if kind in ("bulk", "small") or not live:
            n = draw(st.integers(4, 30)) if kind == "bulk" or not live else draw(st.integers(1, 3))
            new = draw(rows(range(next_id, next_id + n)))
            next_id += n
            live.update((r[0], r) for r in new)
            steps.append([(1, r) for r in new])
        elif kind == "delete":
            gone = draw(st.lists(st.sampled_from(sorted(live)), min_size=1, max_size=min(len(live), 12), unique=True))
            steps.append([(-1, live.pop(i)) for i in gone])
        else:
            ids = draw(st.lists(st.sampled_from(sorted(live)), min_size=1, max_size=min(len(live), 12), unique=True))
            new = draw(rows(ids))
            live.update((r[0], r) for r in new)
            steps.append([(1, r) for r in new])
    return views, steps, draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from([2, 4]))


@pytest.mark.timeout(3600 if LONG else 300)
@settings(max_examples=600 if LONG else 60, deadline=None, derandomize=not LONG, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def test_columns_match_recomputation(case):
    views, steps, topk, bulk = case
    merged = []
    real = ivm_agg.Aggregate._merge_columns
    with pytest.MonkeyPatch.context() as mp, knobs(ivm_agg__BULK_MIN_ROWS=bulk, incremental__MAPPED_MIN_ROWS=bulk):
        mp.setattr(ivm_agg.Aggregate, "_merge_columns", lambda self, *a: merged.append(real(self, *a)) or merged[-1])
        mp.setattr(ivm_acc, "TOPK", topk)
        h = Harness(TABLE + "\n".join(VIEWS[v] for v in views), arrow=True)
        for ops in steps:
            h.step({"t": ops})
    big_inserts = [ops for ops in steps if len(ops) >= bulk and all(w == 1 for w, _ in ops)]
    if big_inserts and steps[0] is big_inserts[0] and {"one", "two"} & set(views):
        # the first step's groups are all new: held in columns, whatever came after (a global
        # aggregate's one group is made at the start, as objects)
        assert any(m is not None for m in merged), "no bulk insert was merged in columns"


def test_a_load_keeps_its_groups_in_columns_and_a_small_step_takes_them_out():
    """The shape of a load: each batch merged in columns; an upsert then works on objects made of
    them, and the next batch, touching them, is merged group by group (correct either way)."""
    with knobs(ivm_agg__BULK_MIN_ROWS=4, incremental__MAPPED_MIN_ROWS=4):
        h = Harness(TABLE + VIEWS["one"], arrow=True)
        agg = next(n for n in _nodes(h.views["one"]) if isinstance(n, ivm_agg.Aggregate))
        for lo in range(0, 40, 10):
            h.step({"t": [(1, (i, i % 3, "a", i, i / 4, 0.5, -i, 1e300 / (i + 1))) for i in range(lo, lo + 10)]})
            assert all(g.accs is colstate.IN_COLUMNS for g in agg.state.values())
        h.step({"t": [(1, (5, 2, "b", -5, NAN, None, None, NAN))]})  # upsert: group 2 as objects, the others not
        assert [k for k, g in agg.state.items() if g.accs is not colstate.IN_COLUMNS] == [(2,)]
        h.step({"t": [(1, (i, i % 3, "a", i, 1024.0, 2.5, 2**63 - 1, -INF)) for i in range(40, 50)]})
        h.step({"t": [(-1, (i, None, None, None, None, None, None, None)) for i in range(0, 50, 2)]})


def _nodes(view):
    out, todo = [], [view.root]
    while todo:
        n = todo.pop()
        if n is None:
            continue
        out.append(n)
        todo.extend(getattr(n, "children", ()))
    return out


def test_a_full_list_counts_its_last_value_as_a_lower_bound():
    """With one value kept, a batch of ten equal extremes is known as that value once: a delete of two
    of them in one step (one row of the view's input, weight -2) must not be taken for a delete of
    more copies than were inserted: the group is read again instead."""
    with knobs(ivm_agg__BULK_MIN_ROWS=4, incremental__MAPPED_MIN_ROWS=4), pytest.MonkeyPatch.context() as mp:
        mp.setattr(ivm_acc, "TOPK", 1)
        h = Harness(TABLE + "CREATE VIEW m AS SELECT k, MAX(z) AS top, COUNT(*) AS n FROM t GROUP BY k;", arrow=True)
        agg = next(n for n in _nodes(h.views["m"]) if isinstance(n, ivm_agg.Aggregate))
        h.step({"t": [(1, (i, 0, "a", 1, 1.0, 1.0, 1, 5.0)) for i in range(10)]})
        assert agg.state[(0,)].accs is colstate.IN_COLUMNS
        h.step({"t": [(-1, (i, 0, "a", 1, 1.0, 1.0, 1, 5.0)) for i in (0, 1)]})
        h.step({"t": [(-1, (i, 0, "a", 1, 1.0, 1.0, 1, 5.0)) for i in range(2, 9)]})


def test_a_group_by_without_aggregates_keeps_its_groups():
    """``GROUP BY k`` alone: groups made in columns hold no accumulator, and still their rows and
    counts (a later delete of one of their rows is no delete of more than was inserted)."""
    with knobs(ivm_agg__BULK_MIN_ROWS=4, incremental__MAPPED_MIN_ROWS=4):
        h = Harness(TABLE + "CREATE VIEW v AS SELECT k, 1 AS one FROM t GROUP BY k; "
                            "CREATE VIEW w AS SELECT k FROM t GROUP BY k;", arrow=True)
        h.step({"t": [(1, (i, i % 3, "a", i, 1.0, 1.0, 1, 1.0)) for i in range(12)]})
        h.step({"t": [(-1, (0, 0, "a", 0, 1.0, 1.0, 1, 1.0))]})
        h.step({"t": [(-1, (i, i % 3, "a", i, 1.0, 1.0, 1, 1.0)) for i in range(3, 12, 3)]})  # group 0 goes
