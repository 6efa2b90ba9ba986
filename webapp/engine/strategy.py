"""Choosing how each view is maintained: incremental where the engine can, else recompute.

The one module that knows both strategies (``incremental.IncrementalView`` and
``view.RecomputeView``), so neither has to import the other's chooser.
"""

from __future__ import annotations

import os

from .catalog import Relation
from .incremental import IncrementalView, plan_incremental
from .view import RecomputeView


def plan_view(view: Relation, program) -> IncrementalView | RecomputeView:
    """The maintenance strategy for ``view``: incremental where the engine can, else recompute.

    ``SLUICE_INCREMENTAL=0`` in the environment makes every view recompute (for comparisons)."""
    if os.environ.get("SLUICE_INCREMENTAL", "1") == "0":
        return RecomputeView(view)
    return plan_incremental(view, program) or RecomputeView(view)


__all__ = ["plan_view"]
