"""``npsummary.summarize`` gives the very rows DuckDB's summary queries give (``premerge.summarize``),
which the bulk merge of a GROUP BY reads: random batches of string, integer and boolean groups
(NULL among them, one to three group columns or none), weights of +1 and -1, FILTER flags with
NULLs, and COUNT, SUM/AVG of integers and doubles and MIN/MAX of numbers over values with NULLs,
NaN, infinities, -0.0, subnormal and huge doubles, duplicates around the extremes kept."""

from __future__ import annotations

import math
import random

import duckdb
import numpy
import pyarrow as pa
import pytest

from webapp.engine.ivm import acc as acc_mod, npsummary, premerge
from webapp.engine.ivm.acc import AggSpec
from webapp.engine.ivm.expr import Ctx

_SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 1e-300,
            float("inf"), float("-inf"), float("nan"), 2.0 ** 53 + 2]


@pytest.fixture(scope="module")
def ctx():
    c = Ctx.__new__(Ctx)  # only its type lookup: a connection and a cache
    c.con, c._types = duckdb.connect(":memory:", config={"threads": 1}), {}
    return c


def _double(rng: random.Random):
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.25:
        return rng.choice(_SPECIAL)
    if r < 0.5:  # few distinct values: ties at the TOPK boundary
        return float(rng.randint(-3, 3))
    return rng.choice([-1, 1]) * math.ldexp(rng.random(), rng.randint(-1074, 1023))


def _int(rng: random.Random, bits: int):
    if rng.random() < 0.1:
        return None
    if rng.random() < 0.3:
        return rng.randint(-3, 3)
    lim = 2 ** (bits - 1)
    return rng.choice([-lim, lim - 1, rng.randint(-lim, lim - 1)])


def _case(ctx, rng: random.Random, rows: int):
    ngroup = rng.choice([0, 1, 1, 2, 3])
    gtypes = [rng.choice(["VARCHAR", "INTEGER", "BIGINT", "BOOLEAN"]) for _ in range(ngroup)]
    cols, types = {}, []
    for i, t in enumerate(gtypes):
        size = rng.choice([1, 3, 40, 500])
        pool = {"VARCHAR": [f"g{j}" for j in range(size)] + [""],
                "INTEGER": list(range(-size, size)), "BIGINT": [2 ** 62 + j for j in range(size)],
                "BOOLEAN": [True, False]}[t]
        cols[f"__c{i}"] = [None if rng.random() < 0.05 else rng.choice(pool) for _ in range(rows)]
        types.append(ctx.type_info(t))
    specs = []
    args = []  # (position, type) of the value columns
    for t in ["DOUBLE", "BIGINT", "INTEGER", "FLOAT"][:rng.randint(1, 4)]:
        p = len(types)
        types.append(ctx.type_info(t))
        if t in ("DOUBLE", "FLOAT"):
            vals = [_double(rng) for _ in range(rows)]
            if t == "FLOAT":
                vals = [None if v is None or abs(v) > 3e38 else v for v in vals]
        else:
            vals = [_int(rng, 64 if t == "BIGINT" else 32) for _ in range(rows)]
        cols[f"__c{p}"] = vals
        args.append((p, t))
    filt = len(types)
    types.append(ctx.type_info("BOOLEAN"))
    cols[f"__c{filt}"] = [rng.choice([True, False, None]) for _ in range(rows)]
    dbl = ctx.type_info("DOUBLE")
    for p, t in args:
        for kind in ("count", "sum", "avg", "min", "max"):
            f = filt if rng.random() < 0.4 else None
            out = types[p] if kind in ("min", "max") else ctx.type_info("BIGINT") if kind == "count" \
                else dbl if kind == "avg" or t in ("DOUBLE", "FLOAT") else ctx.type_info("HUGEINT")
            specs.append(AggSpec(kind, p, f, False, types[p], out))
    specs.append(AggSpec("count_star", None, filt if rng.random() < 0.5 else None, False, None,
                         ctx.type_info("BIGINT")))
    rng.shuffle(specs)
    deletes = rng.random() < 0.6
    w = [rng.choice([1, -1]) if deletes else 1 for _ in range(rows)]
    cols = {k: pa.array(v, type=types[int(k[3:])].arrow) for k, v in cols.items()}
    cols["__w"] = pa.array(w, type=pa.int64())
    return pa.table(cols), ngroup, types, specs, deletes


def _keys(specs):
    fsum_of = {i: (s.arg, s.filt) for i, s in enumerate(specs) if s.float_sum()}
    key_spec = {key: specs[next(i for i in fsum_of if fsum_of[i] == key)] for key in dict.fromkeys(fsum_of.values())}
    keys_of = [[key for key in key_spec if key[0] == a] for a in dict.fromkeys(a for a, _ in key_spec)]
    return keys_of, key_spec


def _norm(v):
    """A value compared as the merge compares it: NaN equal to NaN, lists element by element."""
    if isinstance(v, list):
        return tuple(_norm(x) for x in v)
    if isinstance(v, float) and v != v:
        return "NaN"
    return v


def _rows(rows, m, ncols):
    return sorted((tuple(_norm(v) for v in r) for r in rows), key=repr)


def _bucket_rows(rows, m):
    # DuckDB also gives (group, bucket) pairs where no key counts a value (its sums all NULL): the
    # merge skips those, numpy leaves them out.
    return sorted((tuple(_norm(v) for v in r) for r in rows if any(v is not None for v in r[m + 1:])), key=repr)


@pytest.mark.parametrize("seed", range(40))
def test_same_rows_as_duckdb(ctx, seed):
    rng = random.Random(seed)
    rows = rng.choice([1, 50, 2000, 6000])
    batch, m, types, specs, deletes = _case(ctx, rng, rows)
    keys_of, key_spec = _keys(specs)
    got = npsummary.summarize(batch, m, types, specs, deletes, keys_of, key_spec)
    assert got is not None, "these shapes are numpy's"
    con = duckdb.connect(":memory:", config={"threads": 1})
    want = premerge.summarize(con, batch, m, types, specs, deletes, keys_of, key_spec)
    assert _rows(got[0], m, None) == _rows(want[0], m, None)
    assert len(got[1]) == len(want[1])
    for g, w in zip(got[1], want[1]):
        assert _bucket_rows(g, m) == _bucket_rows(w, m)


def test_extremes_past_the_candidates_cut(ctx):
    """Groups of thousands of rows (the lanes cut most rows before sorting) with many copies of
    the extremes, and rows of one group at a fixed stride."""
    n = 40_000
    rng = numpy.random.default_rng(3)
    vals = rng.integers(-50, 50, n).astype(numpy.float64)
    vals[::997] = numpy.nan
    batch = pa.table({"__c0": pa.array([f"c{i % 7}" for i in range(n)]), "__c1": pa.array(vals),
                      "__c2": pa.array(rng.integers(-2**40, 2**40, n)), "__w": pa.array(numpy.ones(n, dtype=numpy.int64))})
    types = [ctx.type_info("VARCHAR"), ctx.type_info("DOUBLE"), ctx.type_info("BIGINT")]
    specs = [AggSpec(k, a, None, False, types[a], types[a]) for k in ("min", "max") for a in (1, 2)]
    got = npsummary.summarize(batch, 1, types, specs, False, [], {})
    want = premerge.summarize(duckdb.connect(":memory:", config={"threads": 1}), batch, 1, types, specs, False, [], {})
    assert _rows(got[0], 1, None) == _rows(want[0], 1, None)
    assert all(len(r[2]) == acc_mod.TOPK for r in got[0])


def test_many_group_columns_with_large_dictionaries(ctx):
    """Five group columns of 10,000 distinct values each: the product of the dictionary sizes is past
    2**63, and combined codes that multiplied them wrapped around into groups no row has."""
    n, m = 10_000, 5
    rng = numpy.random.default_rng(0)
    i64 = ctx.type_info("BIGINT")
    cols = {f"__c{i}": pa.array(rng.permutation(n).astype(numpy.int64)) for i in range(m)}
    cols["__c5"] = pa.array(rng.integers(-9, 9, n).astype(numpy.float64))
    cols["__w"] = pa.array(rng.choice([-1, 1], n).astype(numpy.int64))
    batch = pa.table(cols)
    dbl = ctx.type_info("DOUBLE")
    types = [i64] * m + [dbl]
    specs = [AggSpec("count_star", None, None, False, None, i64), AggSpec("sum", 5, None, False, dbl, dbl),
             AggSpec("max", 5, None, False, dbl, dbl)]
    keys_of, key_spec = _keys(specs)
    got = npsummary.summarize(batch, m, types, specs, True, keys_of, key_spec)
    want = premerge.summarize(duckdb.connect(":memory:", config={"threads": 1}), batch, m, types, specs, True,
                              keys_of, key_spec)
    assert _rows(got[0], m, None) == _rows(want[0], m, None)
    assert _bucket_rows(got[1][0], m) == _bucket_rows(want[1][0], m)


def test_declines_what_it_does_not_handle(ctx):
    dec, ts, s = ctx.type_info("DECIMAL(10,2)"), ctx.type_info("TIMESTAMP"), ctx.type_info("VARCHAR")
    batch = pa.table({"__c0": pa.array(["a"]), "__c1": pa.array([1], type=pa.int64()), "__w": pa.array([1])})
    i64 = ctx.type_info("BIGINT")
    assert npsummary.summarize(batch, 1, [s, i64], [AggSpec("sum", 1, None, True, i64, i64)], False, [], {}) is None
    assert not npsummary.supported(1, [s, dec], [AggSpec("sum", 1, None, False, dec, dec)])
    assert not npsummary.supported(1, [ts, i64], [AggSpec("count_star", None, None, False, None, i64)])
    assert not npsummary.supported(1, [s, s], [AggSpec("max", 1, None, False, s, s)])
    assert npsummary.supported(1, [s, s], [AggSpec("count", 1, None, False, s, i64)])
