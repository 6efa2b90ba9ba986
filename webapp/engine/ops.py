"""The operations a batch holds for a table: ``(weight, row)``.

A positive weight inserts the row, a negative one deletes it. An ``{"update": ...}`` event is the
operation ``(UPDATE, row)``: ``row`` holds ``KEEP`` in the columns the event did not name. It is resolved
against the row the key holds when the step applies it (the stored row, or the one an earlier operation
of the same step left), since only then is that row known (``table.TableApplier``). This module imports
nothing, so the parsers and the appliers can both use it.
"""

from __future__ import annotations

UPDATE = 0


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()

__all__ = ["KEEP", "UPDATE"]
