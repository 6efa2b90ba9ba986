"""A large change to a GROUP BY, pre-aggregated by DuckDB and merged into the groups' accumulators.

Instead of feeding each changed row to each accumulator in Python, or recomputing every group from
the whole input, ``Aggregate._merge`` registers the change as an Arrow batch (weights ``__w`` in
{-1, 1}) and DuckDB sums it per group, in one GROUP BY over the change only:

* COUNT / COUNT(*): the signed count; SUM/AVG of integers and DECIMAL: the signed sum and count;
* SUM/AVG of DOUBLE/REAL: the signed count of values; in a second GROUP BY, by group and exponent
  bucket, the finite values as exact HUGEINT sums (``acc._exact_sum_sql``), so that Python adds
  integers and a sum still cancels exactly on retraction, and the signed counts of +inf, -inf and
  NaN (each a bucket of its own);
* MIN/MAX: the ``acc.TOPK`` most extreme inserted values and the ``acc.TOPK`` most extreme deleted
  ones (DuckDB's ``max(x, n)``, duplicates included), merged into a ``acc._TopK`` exactly
  (``_TopK.insert_list``, ``_TopK.delete_list``): a group is loaded again from DuckDB after the
  step (as ``agg`` loads any group) only when deletes have taken every value it knows of.

The Python work is one loop over the touched groups, not over the changed rows. DISTINCT
aggregates need a count per value and are not merged this way.
"""

from __future__ import annotations

from . import acc as acc_mod
from .acc import _CTX, AggSpec, Reload, _MinMax, _TopK, _exact_sum_sql, exact_sum_units
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
        return [cnt]  # the rest: ``buckets_sql``
    return [f"sum(CASE WHEN __w > 0 THEN {x} ELSE -{x} END){_filter(s)}", cnt]


def width(s: AggSpec) -> int:
    if s.kind in ("count_star", "count") or s.kind in ("sum", "avg") and s.in_type.kind == "float":
        return 1
    return 2


# Buckets standing for the non-finite values (their rows count them); finite buckets are multiples
# of 32 between -1088 and 1024.
_NAN, _PINF, _NINF = 4000, 4001, 4002


def buckets_sql(s: AggSpec, src: str, gsel: str) -> str:
    """Per group and exponent bucket, the signed exact sum of the change's finite values and the
    signed count of its values; +inf, -inf and NaN each in a bucket of their own."""
    x = f"__c{s.arg}"
    b, m = _exact_sum_sql(x)
    bucket = (f"CASE WHEN isnan({x}) THEN {_NAN} WHEN {x} = 'infinity'::DOUBLE THEN {_PINF} "
              f"WHEN {x} = '-infinity'::DOUBLE THEN {_NINF} ELSE {b} END")
    cond = " AND ".join([f"{x} IS NOT NULL"] + ([f"__c{s.filt}"] if s.filt is not None else []))
    return (f"SELECT {gsel}__b, sum(CASE WHEN __b < {_NAN} THEN {m} * __w END), sum(__w) "
            f"FROM (SELECT *, {bucket} AS __b FROM {src}) AS __sluice_v WHERE {cond} GROUP BY ALL")


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
        return acc  # the values themselves: ``add_bucket``
    ds, dk = vals
    if ds is not None:
        acc.s += int(ds.scaleb(acc.scale, _CTX)) if s.in_type.kind == "decimal" else ds
    acc.c += dk
    return acc


def add_bucket(acc, bucket: int, m, n: int) -> None:
    """A row of ``buckets_sql`` into a float sum's accumulator."""
    if bucket == _NAN:
        acc.nan += n
    elif bucket == _PINF:
        acc.pinf += n
    elif bucket == _NINF:
        acc.ninf += n
    else:
        acc.s += exact_sum_units(bucket, m)


__all__ = ["mergeable", "columns", "width", "buckets_sql", "merge", "add_bucket"]
