"""The configuration of the engine's DuckDB databases (a pipeline's tables and views, and ad-hoc SQL).

``DUCKDB_CONFIG``: no files, network or extensions, one thread, no compression, no replacement scans,
and the optimizers that give wrong results turned off (``_wrong_result_optimizers``).
"""

from __future__ import annotations

import duckdb

# DuckDB for table state and ad-hoc SQL: no files, no network, no extensions, one thread (so that
# floating-point aggregates are recomputed in the same order every time), and no compression: DuckDB
# compresses the row groups of large appends even in memory, and fetching one row of a compressed
# string segment (what a keyed delete does per key) costs twice as much, so a table's per-key cost
# would depend on how its rows arrived (bench_incremental.py: 100 keyed deletes at 10^6 rows
# 4.8 -> 2.6 ms, for 17% more memory on that table).
DUCKDB_CONFIG = {
    "threads": 1,
    "force_compression": "uncompressed",
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    # A name that is no table must not reach a Python variable of the calling frame (replacement scans).
    "python_enable_replacements": False,
}


def _wrong_result_optimizers() -> str:
    """The DuckDB optimizers, of those the installed DuckDB has (it refuses a name it does not know),
    that give wrong results for queries a program may hold: ``common_subplan`` (DuckDB 2.0) answers
    ``SELECT l_id FROM v0 UNION ALL SELECT r_id FROM v0`` with l_id twice, when v0 joins a table to
    itself and the branches also share a column (tests/server/test_duckdb_optimizers.py). Views would
    start, and ad-hoc queries answer, from the wrong rows."""
    con = duckdb.connect(":memory:")
    try:
        have = {r[0] for r in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()}
    finally:
        con.close()
    return ",".join(o for o in ("common_subplan",) if o in have)


_OFF = _wrong_result_optimizers()
if _OFF:
    DUCKDB_CONFIG["disabled_optimizers"] = _OFF


__all__ = ["DUCKDB_CONFIG"]
