"""Few rows into a DuckDB statement as query parameters instead of a registered Arrow table.

Registering an Arrow table, scanning it and unregistering it costs about 1 ms whatever its size;
a parameter about 10 us. A step of one or a few rows (an insert, a filter over its change) is
cheaper as ``VALUES (?, ...), ...`` up to ``PARAM_ROWS_MAX`` rows (measured with DuckDB 2.0: one
row of four columns 0.43 ms against 1.45 ms, 16 rows 0.97 ms against 1.33 ms).

Only types whose Python values DuckDB binds to exactly the value Arrow would carry go this way.
REAL is left out: a DOUBLE too large for it is an error in DuckDB's cast where Arrow makes it
infinite.
"""

from __future__ import annotations

PARAM_ROWS_MAX = 16
PARAM_TYPES = frozenset({"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "DOUBLE", "VARCHAR"})


def values_list(nrows: int, ncols: int) -> str:
    """``(?, ?), (?, ?)`` for ``nrows`` rows of ``ncols`` parameters."""
    row = "(" + ", ".join(["?"] * ncols) + ")"
    return ", ".join([row] * nrows)


def flat(rows) -> list:
    """The parameters of ``rows`` (tuples), row after row."""
    return [v for r in rows for v in r]


__all__ = ["PARAM_ROWS_MAX", "PARAM_TYPES", "values_list", "flat"]
