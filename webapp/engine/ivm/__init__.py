"""The incremental engine's parts: a view body planned into a tree of operators that step on changes.

| module | concept |
|---|---|
| ``plan`` | a view's body (DuckDB's parse tree) to a tree of operators, or ``Unsupported`` |
| ``ops`` | the operator model (changes as ``(row, weight)``) and sources, projections/filters, UNION, DISTINCT |
| ``join`` | equi-joins, inner and outer: a side in memory or a stored table probed through its index |
| ``agg`` | GROUP BY and global aggregates: per-group state, loads from DuckDB, large changes in DuckDB |
| ``premerge`` | a large change pre-aggregated per group by DuckDB, merged into the accumulators |
| ``acc`` | one aggregate's accumulator (exact sums, MIN/MAX with retraction) and its DuckDB summaries |
| ``expr`` | expressions: checked, rewritten to column positions, evaluated by DuckDB on changed rows |
| ``pyfilter`` | a WHERE in the subset Python evaluates exactly as DuckDB, compiled to a function of a row |
| ``npsummary`` | a large change's per-group summary computed by numpy over its Arrow columns |
| ``maintain`` | a view's analysis (planned once per program) and ``IncrementalView``, the object a run steps |

``webapp.engine.strategy`` chooses between ``maintain.IncrementalView`` and recomputation.
"""

from .plan import plan_query

__all__ = ["plan_query"]
