"""``premerge.unit_columns`` splits each double of a batch exactly: the units ``add_bucket_to`` adds for
a value are the value in units of 2**-1074 (``acc._f2i``), for subnormal, huge, negative and zero
values; non-finite values land in their own buckets."""

from __future__ import annotations

import math
import random
import sys

import pyarrow as pa

from webapp.engine.ivm import premerge
from webapp.engine.ivm.acc import _f2i, _SumFloat


def _values() -> list[float]:
    rng = random.Random(7)
    vals = [0.0, -0.0, 1.0, -1.0, 0.1, 900.5, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
            sys.float_info.max, -sys.float_info.max, 2.0 ** 53 + 2, 1e300, 1e-300]
    for _ in range(2000):
        vals.append(rng.choice([-1, 1]) * math.ldexp(rng.random(), rng.randint(-1100, 1024)))
        vals.append(rng.uniform(-1e6, 1e6))
    return vals


def test_each_value_is_its_exact_units():
    vals = _values()
    cols = premerge.unit_columns(pa.table({"__c0": pa.array(vals, type=pa.float64())}), 0)
    for x, bk, m in zip(vals, cols["__bk0"].to_pylist(), cols["__m0"].to_pylist()):
        acc = _SumFloat()
        premerge.add_bucket_to([acc], (0,), bk, m, 1)
        assert acc.s == _f2i(x), (x, bk, m)
        assert bk % 8 == 0 and abs(m) < 2 ** 63


def test_non_finite_values_and_reals():
    tbl = pa.table({"__c1": pa.array([float("nan"), float("inf"), float("-inf"), None, 0.1], type=pa.float32())})
    cols = premerge.unit_columns(tbl, 1)
    acc = _SumFloat()
    for bk, m in zip(cols["__bk1"].to_pylist()[:3], cols["__m1"].to_pylist()[:3]):
        premerge.add_bucket_to([acc], (0,), bk, m, 1)
    assert (acc.nan, acc.pinf, acc.ninf, acc.s) == (1, 1, 1, 0)
    acc = _SumFloat()
    premerge.add_bucket_to([acc], (0,), cols["__bk1"][4].as_py(), cols["__m1"][4].as_py(), 1)
    assert acc.s == _f2i(float(pa.scalar(0.1, pa.float32()).as_py()))  # the REAL's own value, exactly
