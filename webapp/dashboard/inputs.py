"""What ``/stats`` says about one table's input: records received, records waiting for a step, and records
its ``LATENESS`` dropped.

``num_late_records`` is an extension of Sluice's engine (Feldera's metrics have none): the records of the
table, from any input, that arrived later than its ``LATENESS`` allows and were dropped, counted once their
step has run. The engine reports the table's whole count on its HTTP input endpoint, so it is read there, not
summed over endpoints. A dashboard takes it before and after its own push to say how many of its rows were
dropped, and says nothing where the server does not report it.
"""

from __future__ import annotations


def table_inputs(stats: dict, table: str) -> list[dict]:
    """The input endpoints of ``table`` in a ``/stats`` answer (matched as ``upload.py`` always has)."""
    return [i for i in (stats.get("inputs") or [])
            if str((i.get("config") or {}).get("stream", "")).lower() == table.lower()]


def _metric(i: dict, k: str) -> int:
    return int((i.get("metrics") or {}).get(k) or 0)


def received(stats: dict, table: str) -> tuple[int, int]:
    """The records the table's input endpoints have received, and how many of them still wait for a step."""
    inputs = table_inputs(stats, table)
    return sum(_metric(i, "total_records") for i in inputs), sum(_metric(i, "buffered_records") for i in inputs)


def late_records(stats: dict, table: str) -> int | None:
    """The table's records dropped as late so far; 0 before any input of it is listed (the engine lists a
    table's HTTP input from its first request on); None when its inputs are listed and none reports the
    count (a real Feldera, or only a connector's endpoint)."""
    inputs = table_inputs(stats, table)
    if not inputs:
        return 0
    counts = [m["num_late_records"] for m in (i.get("metrics") or {} for i in inputs)
              if isinstance(m.get("num_late_records"), int)]
    return max(counts) if counts else None


__all__ = ["late_records", "received", "table_inputs"]
