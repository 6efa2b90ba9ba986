"""Keeping a view's contents and computing each step's change to it.

Strategy ``recompute``: after the step's table changes, the view is evaluated again and compared with
its stored contents (``EXCEPT ALL`` both ways, so duplicates count). DuckDB runs with one thread, so
a floating-point aggregate over unchanged input gives the same bits every time and unchanged rows
never show up as spurious updates. Incremental strategies plug in behind the same two methods;
``strategy.ViewPlans`` picks one per view.
"""

from __future__ import annotations

from .catalog import Relation
from .sql import quote


class RecomputeView:
    strategy = "recompute"

    def __init__(self, view: Relation):
        self.view = view
        self.source = quote(view.internal)
        self.state = quote(f"__sluice_state_{view.internal}")
        self.scratch = quote(f"__sluice_new_{view.internal}")

    def initialize(self, con) -> None:
        """Create the stored contents from the current tables."""
        con.execute(f"CREATE OR REPLACE TABLE {self.state} AS SELECT * FROM {self.source}")

    def step(self, con, deltas: dict[str, tuple[list[tuple], list[tuple]]]) -> tuple[list[tuple], list[tuple]]:
        """Recompute; store the new contents; return (deleted rows, inserted rows), each sorted.

        ``deltas`` maps each relation changed so far in this step (tables, then views in declaration
        order) to its (deleted, inserted) rows; recompute does not need them, incremental views do."""
        con.execute(f"CREATE OR REPLACE TEMP TABLE {self.scratch} AS SELECT * FROM {self.source}")
        dels = con.execute(
            f"(SELECT * FROM {self.state} EXCEPT ALL SELECT * FROM {self.scratch}) ORDER BY ALL").fetchall()
        ins = con.execute(
            f"(SELECT * FROM {self.scratch} EXCEPT ALL SELECT * FROM {self.state}) ORDER BY ALL").fetchall()
        if dels or ins:
            con.execute(f"DELETE FROM {self.state}")
            con.execute(f"INSERT INTO {self.state} SELECT * FROM {self.scratch}")
        con.execute(f"DROP TABLE {self.scratch}")
        return dels, ins

    def contents_sql(self) -> str:
        return f"SELECT * FROM {self.state}"

    def flush(self, con) -> None:
        """Nothing kept back: the stored contents are complete after every step."""


__all__ = ["RecomputeView"]
