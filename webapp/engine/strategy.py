"""Choosing how each view is maintained: incremental where the engine can, else recompute.

The one module that knows both strategies (``ivm.maintain.IncrementalView`` and
``view.RecomputeView``), so neither has to import the other's chooser. A program is planned once,
when it compiles (``ViewPlans``); each run of the pipeline builds its views' maintenance objects from
those plans, with state of their own.
"""

from __future__ import annotations

import os

from .ivm.maintain import Analysis, IncrementalView, analyze_program, defer_unread_logs
from .view import RecomputeView


class ViewPlans:
    """Every view's plan for one compiled program.

    ``SLUICE_INCREMENTAL=0`` in the environment makes every view recompute (for comparisons)."""

    def __init__(self, program):
        self.program = program
        if os.environ.get("SLUICE_INCREMENTAL", "1") == "0":
            self._analyses: dict[str, Analysis | None] = {v.name: None for v in program.views}
        else:
            self._analyses = analyze_program(program)

    def strategy(self, view: str) -> str:
        return "incremental" if self._analyses.get(view) is not None else "recompute"

    def unique_keys(self, view: str) -> list[list[str]]:
        """The column sets the plan proves unique in the view's rows (none for a recomputed view)."""
        a = self._analyses.get(view)
        return a.unique_keys() if a is not None else []

    def maintainer(self, view: str) -> IncrementalView | RecomputeView:
        """A new maintenance object for one view, with empty state (``initialize`` fills it)."""
        a = self._analyses.get(view)
        return IncrementalView(a.view, a) if a is not None else RecomputeView(self.program.relation(view))

    def build(self) -> dict[str, IncrementalView | RecomputeView]:
        """Fresh maintenance objects for every view (LOCAL ones too: later views may read their
        changes), for one run of the pipeline."""
        views = {v.name: self.maintainer(v.name) for v in self.program.views}
        defer_unread_logs(views, self.program)
        return views


__all__ = ["ViewPlans"]
