"""Which rows each connector has delivered, so that no row is made twice or lost across restarts.

A connector's progress is, per plan, the sorted, disjoint ``[start, end)`` ranges of row numbers
whose batches the tables hold. Every generated batch carries a tag ``{"k": key, "p": plan, "r":
[start, end]}``: in its write-ahead-log record, and in the queued batch, whose step adds it to the
pipeline's progress (under the step lock, so a checkpoint holds exactly the progress of the rows
it holds). Recovery adds the tags of the records it replays. A connector started later makes only
the rows outside its ranges: with one worker, the rows after the last one delivered.

``key`` names the connector and its definition (the table's DDL and the connector's JSON), so a
changed table or connector starts again from row 0, as a new connector does in Feldera.
"""

from __future__ import annotations

import hashlib
import json


def connector_key(table_ddl: str, table_name: str, connector) -> str:
    digest = hashlib.sha256((table_ddl + "\n" + json.dumps(connector.raw, sort_keys=True)).encode()).hexdigest()
    return f"{table_name}.{connector.name}#{digest[:16]}"


def add_range(ranges: list, start: int, end: int) -> list:
    """``ranges`` with ``[start, end)`` merged in (touching ranges join)."""
    out, placed = [], False
    for a, b in ranges:
        if b < start or placed:
            out.append([a, b])
        elif a > end:
            out.append([start, end])
            out.append([a, b])
            placed = True
        else:
            start, end = min(a, start), max(b, end)
    if not placed:
        out.append([start, end])
    return out


def record(progress: dict, tag: dict) -> None:
    """Add one batch's tag to a pipeline's progress (``{key: {plan: ranges}}``)."""
    plans = progress.setdefault(tag["k"], {})
    plan = str(tag["p"])
    plans[plan] = add_range(plans.get(plan, []), *tag["r"])


class Claims:
    """Hands out the next rows of one plan to workers, skipping rows already delivered."""

    def __init__(self, limit: int | None, done: list):
        self.limit = limit
        self.done = [tuple(r) for r in done]
        self.cursor = 0

    def take(self, size: int) -> tuple[int, int] | None:
        """The next ``[start, end)`` of at most ``size`` rows, or None when the plan is done."""
        pos = self.cursor
        end_bound = self.limit if self.limit is not None else float("inf")
        for a, b in self.done:
            if a <= pos < b:
                pos = b
            elif a > pos:
                end_bound = min(end_bound, a)
                break
        if self.limit is not None and pos >= self.limit:
            self.cursor = pos
            return None
        end = int(min(pos + size, end_bound))
        self.cursor = end
        return pos, end


__all__ = ["Claims", "add_range", "connector_key", "record"]
