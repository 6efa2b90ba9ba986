"""A large change to a GROUP BY, pre-aggregated by DuckDB and merged into the groups' accumulators.

Instead of feeding each changed row to each accumulator in Python, or recomputing every group from
the whole input, ``Aggregate._merge`` registers the change as an Arrow batch (weights ``__w`` in
{-1, 1}) and DuckDB sums it per group, in one GROUP BY over the change only:

* COUNT / COUNT(*): the signed count; SUM/AVG of integers and DECIMAL: the signed sum and count;
* SUM/AVG of DOUBLE/REAL: the signed count of values; in a second GROUP BY per argument, by group
  and exponent bucket (``unit_columns``, split by numpy), the finite values as exact
  HUGEINT sums of their integer mantissas, so that Python adds integers and a sum still cancels
  exactly on retraction, and the signed counts of +inf, -inf and NaN (each a bucket of its own);
* MIN/MAX: the ``acc.TOPK`` most extreme inserted values and the ``acc.TOPK`` most extreme deleted
  ones (DuckDB's ``max(x, n)``, duplicates included), merged into a ``acc._TopK`` exactly
  (``_TopK.insert_list``, ``_TopK.delete_list``): a group is loaded again from DuckDB after the
  step (as ``agg`` loads any group) only when deletes have taken every value it knows of.

The Python work is one loop over the touched groups, not over the changed rows. DISTINCT
aggregates need a count per value and are not merged this way.
"""

from __future__ import annotations

import numpy
import pyarrow as pa

from . import acc as acc_mod
from .acc import _CTX, AggSpec, Reload, _MinMax, _TopK
from .ops import NAN


def mergeable(specs: list[AggSpec]) -> bool:
    return not any(s.distinct for s in specs)


def _filter(s: AggSpec, *extra: str) -> str:
    conds = ([f"__c{s.filt}"] if s.filt is not None else []) + [c for c in extra if c]
    return f" FILTER (WHERE {' AND '.join(conds)})" if conds else ""


def columns(s: AggSpec, deletes: bool) -> list[str]:
    """The summary columns of an aggregate over a change (``merge`` reads them in this order);
    ``deletes``: whether the change deletes rows (else simpler columns do)."""
    x, k = f"__c{s.arg}", s.kind
    if k == "count_star":
        return [f"coalesce(sum(__w){_filter(s)}, 0)"]
    if k == "count":
        return [f"coalesce(sum(__w){_filter(s, f'{x} IS NOT NULL')}, 0)"]
    if k in ("min", "max"):  # the inserted and the deleted most extreme values
        n = acc_mod.TOPK
        if not deletes:
            return [f"{k}({x}, {n}){_filter(s)}", "NULL"]
        return [f"{k}({x}, {n}){_filter(s, '__w > 0')}", f"{k}({x}, {n}){_filter(s, '__w < 0')}"]
    cnt = f"coalesce(sum(__w){_filter(s, f'{x} IS NOT NULL')}, 0)"
    if s.in_type.kind == "float":
        return [cnt]  # the rest: ``bucket_sums``, in a query of its own
    if s.in_type.kind == "int" and s.in_type.duck != "HUGEINT":
        x = f"CAST({x} AS HUGEINT)"  # -x of a type's least value (or of any UBIGINT) overflows the type
    return [f"sum(CASE WHEN __w > 0 THEN {x} ELSE -{x} END){_filter(s)}", cnt]


def width(s: AggSpec) -> int:
    if s.kind in ("count_star", "count") or s.kind in ("sum", "avg") and s.in_type.kind == "float":
        return 1
    return 2


# Buckets standing for the non-finite values (their rows count them); finite buckets are multiples
# of 8 between -1080 and 1024.
_NAN, _PINF, _NINF = 4000, 4001, 4002
_WIDTH = 8  # exponents per bucket: a 53-bit mantissa shifted by at most 7 fits an int64


def unit_columns(batch: pa.Table, arg: int) -> dict[str, pa.Array]:
    """Columns ``__bk<arg>`` and ``__m<arg>`` for the DOUBLE/REAL column ``__c<arg>`` of ``batch``: each
    finite value as ``m * 2**(bk - 53)`` exactly, with ``bk`` a multiple of ``_WIDTH``; non-finite
    values get their own bucket and ``m`` 0 (NULLs too, which ``bucket_sums`` leaves out).

    numpy's frexp splits a whole batch in about 0.6 ms per 50,000 values, where DuckDB's log2 and pow
    per row made the bucket query cost 9.7 ms against 6.3 ms with these columns (measured in process)."""
    x = batch.column(f"__c{arg}").to_numpy(zero_copy_only=False).astype(numpy.float64, copy=False)
    with numpy.errstate(invalid="ignore"):
        mant, e = numpy.frexp(x)
        finite = numpy.isfinite(x)
        mi = numpy.where(finite, mant * 9007199254740992.0, 0.0).astype(numpy.int64)  # exact: 53 bits
        e = numpy.where(finite, e, 0)
        bk = numpy.floor_divide(e, _WIDTH) * _WIDTH
        m = mi << (e - bk)
        bk = numpy.where(finite, bk, numpy.where(numpy.isnan(x), _NAN, numpy.where(x > 0, _PINF, _NINF)))
    return {f"__bk{arg}": pa.array(bk.astype(numpy.int32)), f"__m{arg}": pa.array(m)}


def bucket_sums(s: AggSpec) -> list[str]:
    """The two columns a float sum reads in the rows of its argument's bucket query (one row per
    group and bucket of ``unit_columns``): the signed exact sum of the change's finite values (a
    HUGEINT sum of int64s) and the signed count of its values (both NULL when no value counts)."""
    cond = " AND ".join([f"__c{s.arg} IS NOT NULL"] + ([f"__c{s.filt}"] if s.filt is not None else []))
    return [f"sum(__m{s.arg} * __w) FILTER (WHERE {cond})", f"sum(__w) FILTER (WHERE {cond})"]


def summarize(con, batch: pa.Table, m: int, types: list, specs: list[AggSpec], deletes: bool,
              keys_of: list[list[tuple]], key_spec: dict) -> tuple[list[tuple], list[list[tuple]]]:
    """DuckDB's summary of a change batch (``npsummary.summarize`` gives the same rows for the
    shapes it handles): the rows (group values..., signed rows, each aggregate's ``columns``...)
    and, for each list of (argument, filter) keys of one float argument in ``keys_of``, the rows
    (group values..., bucket, each key's ``bucket_sums``...).

    Not grouping sets of one query: DuckDB then computes every aggregate for the (group, bucket)
    sets too, and a MIN/MAX's list of extremes made that slower than two queries (22.5 ms against
    7.2 + 9.3 at 50,000 rows in 1,000 groups; 9.6 against 6.5 + 6.3 without MIN/MAX)."""
    casts = [f"CAST(__c{i} AS {t.duck}) AS __c{i}" if t.cast else f"__c{i}" for i, t in enumerate(types)]
    units = {}
    for keys in keys_of:
        units.update(unit_columns(batch, keys[0][0]))
    if units:
        batch = pa.Table.from_arrays(batch.columns + list(units.values()), names=batch.column_names + list(units))
    src = f"(SELECT {', '.join(casts + ['__w'] + list(units))} FROM __sluice_d) AS __sluice_d"
    gs = [f"__c{i}" for i in range(m)]
    sel = ["sum(__w)"] + [c for s in specs for c in columns(s, deletes)]
    bucket_queries = []
    for keys in keys_of:
        bk = f"__bk{keys[0][0]}"
        cols = [c for key in keys for c in bucket_sums(key_spec[key])]
        bucket_queries.append(f"SELECT {', '.join(gs + [bk] + cols)} FROM {src} GROUP BY {', '.join(gs + [bk])}")
    con.register("__sluice_d", batch)
    try:
        rows = con.execute(f"SELECT {', '.join(gs + sel)} FROM {src}"
                           + (f" GROUP BY {', '.join(gs)}" if m else "")).fetchall()
        return rows, [con.execute(sql).fetchall() for sql in bucket_queries]
    finally:
        con.unregister("__sluice_d")


def merge(s: AggSpec, acc, vals: list, keyf):
    """``acc`` with the change's summary ``vals`` merged in (MIN/MAX may give another object); raises
    ``Reload`` when the group must be loaded again."""
    k = s.kind
    if k in ("count_star", "count"):
        acc.c += vals[0]
        return acc
    if k in ("min", "max"):
        ins, dels = vals
        n = acc_mod.TOPK
        if isinstance(acc, _MinMax):
            if len(ins or ()) < n and len(dels or ()) < n:  # the whole change: the state stays complete
                for lst, w in ((ins, 1), (dels, -1)):
                    for v in lst or ():
                        acc.add(v if v == v else NAN, w)  # one NaN object, as the rows hold it
                return acc
            acc = _TopK.of_counts(keyf, acc.cnt)
        elif not isinstance(acc, _TopK):
            raise Reload
        # Inserts first: with them in, each delete takes a value the group holds.
        acc.insert_list(ins)
        acc.delete_list(dels)
        return acc
    if s.in_type.kind == "float":
        acc.c += vals[0]
        return acc  # the values themselves: ``add_bucket_to``
    ds, dk = vals
    if ds is not None:
        acc.s += int(ds.scaleb(acc.scale, _CTX)) if s.in_type.kind == "decimal" else ds
    acc.c += dk
    return acc


def add_count(acc, r, j):
    """The merge of a count (and of a float sum's count: its values come by ``add_bucket_to``);
    ``Aggregate._merge_rows`` adds these in place instead of calling it."""
    acc.c += r[j]
    return acc


def merger(s: AggSpec):
    """``merge`` for one aggregate, as a function of (accumulator, summary row, its first column):
    counts and float sums' counts (most of a bulk merge's calls) without building a list or
    dispatching on the kind for each group."""
    if s.kind in ("count_star", "count") or s.in_type.kind == "float" and s.kind in ("sum", "avg"):
        return add_count
    w, keyf = width(s), (s.keyf() if s.kind in ("min", "max") else None)
    if keyf is None:
        return lambda acc, r, j: merge(s, acc, list(r[j:j + w]), keyf)

    def topk(acc, r, j):
        ins = r[j]
        # What ``_TopK.insert_list`` does when even the change's most extreme value is short of
        # the last value a partial state holds (most groups of a bulk load after its first steps).
        if r[j + 1] is None and ins and type(acc) is _TopK and not acc.whole and acc.keys[-1] < keyf(ins[0]):
            return acc
        return merge(s, acc, [ins, r[j + 1]], keyf)
    return topk


def mergers(specs: list[AggSpec], first: int) -> tuple[list[tuple], list[tuple]]:
    """How a summary row (its aggregates' columns from position ``first``) merges into a group's
    accumulators: (accumulator index, column) of the counts, added in place, and (accumulator
    index, ``merger``, first column) of the others."""
    counts, merges, j = [], [], first
    for i, s in enumerate(specs):
        f = merger(s)
        if f is add_count:
            counts.append((i, j))
        else:
            merges.append((i, f, j))
        j += width(s)
    return counts, merges


def add_bucket_to(accs: list, idx, bucket: int, m, n: int) -> None:
    """A bucket's ``bucket_sums`` into the float sums' accumulators ``accs[i]`` for i in ``idx`` (kept
    in units of 2**-1074; the sums of one argument and filter share the bucket, its units made once)."""
    if bucket >= _NAN:
        for i in idx:
            a = accs[i]
            if bucket == _NAN:
                a.nan += n
            elif bucket == _PINF:
                a.pinf += n
            else:
                a.ninf += n
        return
    sh = bucket_shift(bucket)
    u = m << sh if sh >= 0 else m >> -sh
    for i in idx:
        accs[i].s += u


def bucket_shift(bucket: int) -> int:
    """The left shift making a finite bucket's mantissa sum units of 2**-1074: m * 2**(bucket - 53)
    is m * 2**(bucket + 1021) units. For subnormal buckets it is negative, a shift to the right,
    and exact: every value is a whole number of units, so their sum is too."""
    return bucket + 1021


__all__ = ["mergeable", "columns", "width", "unit_columns", "bucket_sums", "summarize", "merge", "merger", "mergers", "add_count", "add_bucket_to", "bucket_shift"]
