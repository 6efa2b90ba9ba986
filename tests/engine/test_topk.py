"""``acc._TopK`` (MIN/MAX of a group loaded from a summary or merged from a bulk change) against a
multiset model: after every insert, delete, and inserted or deleted list of DuckDB's own
``max(x, n)`` / ``min(x, n)``, it must hold every value of the group at or beyond its last entry
with the exact count (the last one's a lower bound when flagged), and give the group's MIN/MAX.
A ``Reload`` rebuilds it from the group, as ``Aggregate`` does."""

from __future__ import annotations

from collections import Counter

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.engine.ivm import acc
from webapp.engine.ivm.acc import AggSpec, Reload, _TopK
from webapp.engine.ivm.ops import NAN, TypeInfo

DOUBLE = TypeInfo("DOUBLE", None, False, "float")
# Few values, so that ties are common; -0.0 ties with 0.0, NaN sorts above every number.
VALUES = st.sampled_from([None, -1.0, 0.0, -0.0, 1.0, 2.5, float("inf"), float("-inf"), float("nan")])
_con = duckdb.connect()


def duck_list(kind: str, vals: list, n: int):
    """DuckDB's own ``max(x, n)`` / ``min(x, n)`` of ``vals`` (NULL when no value is non-NULL)."""
    return _con.execute(f"SELECT {kind}(x, {n}) FROM (SELECT unnest(?::DOUBLE[]) AS x)", [vals]).fetchone()[0]


def canon(v):
    return NAN if v != v else v


def check(tk: _TopK, model: Counter, keyf) -> None:
    keys, cnts = tk.keys, tk.cnts
    assert len(keys) == len(cnts) <= acc.TOPK and all(c > 0 for c in cnts)
    assert [keyf(v) for v in tk.vals] == keys
    assert all(keys[i] < keys[i + 1] for i in range(len(keys) - 1)), "entries not sorted from the extreme"
    truth: list = []  # [key, count] of the group's distinct values (keys are compared, not hashed)
    for v, c in model.items():
        e = next((e for e in truth if e[0] == keyf(v)), None)
        if e is None:
            truth.append([keyf(v), c])
        else:
            e[1] += c

    def count(k):
        return next((c for t, c in truth if t == k), 0)
    if tk.whole:
        assert tk.exact and len(keys) == len(truth) and all(count(k) == c for k, c in zip(keys, cnts)), \
            "a whole list is not the group"
    else:
        assert keys, "an empty list that is not whole"
        last = keys[-1]
        for k, c in truth:
            if k < last:
                assert k in keys and cnts[keys.index(k)] == c, "a value beyond the last entry is missing or miscounted"
        assert all(0 < c <= count(k) for k, c in zip(keys, cnts))
        assert cnts[-1] == count(last) or not tk.exact, "the last count is not exact"
    want = min((k for k, _ in truth), default=None)
    assert (tk.value() is None) if want is None else keyf(tk.value()) == want


def ops():
    grow = st.tuples(st.just("add"), VALUES, st.integers(1, 2))
    shrink = st.tuples(st.just("del"), st.integers(0, 100), st.integers(1, 2))
    lists = st.tuples(st.sampled_from(["ins_list", "del_list"]), st.lists(VALUES, max_size=8), st.integers(0, 100))
    return st.lists(st.one_of(grow, shrink, lists), max_size=30)


@pytest.mark.parametrize("topk", [1, 3, 8])
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # the same TOPK for every example
@given(kind=st.sampled_from(["min", "max"]), start=st.lists(VALUES, max_size=12), from_counts=st.booleans(),
       steps=ops())
def test_topk_keeps_its_invariant_against_a_multiset(monkeypatch, topk, kind, start, from_counts, steps):
    monkeypatch.setattr(acc, "TOPK", topk)
    keyf = AggSpec(kind, 0, None, False, DOUBLE, DOUBLE).keyf()
    model = Counter(canon(v) for v in start if v is not None)

    def load() -> _TopK:  # as a reload from a summary
        return _TopK.of_list(keyf, duck_list(kind, list(model.elements()), topk))

    tk = _TopK.of_counts(keyf, dict(model)) if from_counts else load()
    check(tk, model, keyf)
    for op, a, b in steps:
        try:
            if op == "add":
                if a is not None:
                    model[canon(a)] += b
                tk.add(a, b)
            elif op == "del":
                if not model:
                    continue
                v = sorted(model, key=keyf)[a % len(model)]
                w = min(b, model[v])
                model[v] -= w
                model += Counter()  # drop zero counts
                tk.add(v, -w)
            elif op == "ins_list":
                model.update(canon(v) for v in a if v is not None)
                tk.insert_list(duck_list(kind, a, topk))
            else:  # delete a sub-multiset of the group: every other of its values from an offset
                vals = sorted(model.elements(), key=keyf)
                gone = vals[b % (len(vals) or 1)::2][:len(a) + 1]
                model.subtract(gone)
                model += Counter()
                tk.delete_list(duck_list(kind, gone, topk))
        except Reload:
            tk = load()
        check(tk, model, keyf)
