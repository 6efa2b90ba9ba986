"""``StepAssembler``: Feldera egress chunks in, whole steps (and the snapshot before them) out. No I/O.

Chunks are ``{"sequence_number", "snapshot"?, "json_data"?, "processed_steps"?}`` (keepalives have no
data). What it decides:

- **Gaps**: sequence numbers count every chunk, keepalives included, so any jump means chunks were dropped.
- **The snapshot** (``expect_snapshot``): chunks with ``"snapshot": true`` build it. Feldera does not mark
  its end, so it ends at the first non-snapshot chunk carrying data, or when the caller reports a quiet
  period (``quiet()``). A snapshot chunk after that is passed on as a step of inserts (``late``).
- **Steps**: ``processed_steps`` says how many pipeline steps are complete. A step cut into several
  chunks carries the previous step's number on all but its last chunk, so changes are gathered until the
  number grows. Without the field (Feldera), each chunk is a step.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Events:
    """What one chunk (or a quiet period) meant, in the order to act on it."""

    missed: int = 0  # chunks lost before this one (a gap), 0 if none
    snapshot: list[dict] | None = None  # the snapshot is complete: these are its rows
    steps: list[list[dict]] = field(default_factory=list)  # complete steps' changes, in order
    late_snapshot: bool = False  # a snapshot chunk after the snapshot was taken to be over


class StepAssembler:
    def __init__(self, expect_snapshot: bool):
        self.in_snapshot = expect_snapshot
        self._snap_rows: list[dict] = []
        self._pending: list[dict] = []
        self._last_seq: int | None = None
        self._done_steps: int | None = None

    def quiet(self) -> Events:
        """No line for a while: a snapshot still being gathered is complete."""
        ev = Events()
        if self.in_snapshot:
            ev.snapshot, self._snap_rows, self.in_snapshot = self._snap_rows, [], False
        return ev

    def take(self, obj: dict) -> Events:
        ev = Events()
        seq = obj.get("sequence_number")
        if isinstance(seq, int):
            if self._last_seq is not None and seq != self._last_seq + 1:
                ev.missed = max(1, seq - self._last_seq - 1)
            self._last_seq = seq
        data = obj.get("json_data")
        if isinstance(data, dict):
            data = [data]
        steps = obj.get("processed_steps")
        if self.in_snapshot:
            if self._done_steps is None and isinstance(steps, int):
                self._done_steps = steps
            if obj.get("snapshot"):
                self._snap_rows.extend(ch["insert"] for ch in data or () if "insert" in ch)
                return ev
            if not data:
                return ev  # the empty opening chunk, or a keepalive: the snapshot may still come
            ev.snapshot, self._snap_rows, self.in_snapshot = self._snap_rows, [], False
        elif obj.get("snapshot") and data:
            ev.late_snapshot = True
        if data:
            self._pending.extend(data)
        if not isinstance(steps, int) or self._done_steps is None or steps > self._done_steps:
            if self._pending:
                ev.steps.append(self._pending)
                self._pending = []
            if isinstance(steps, int):
                self._done_steps = steps
        return ev


__all__ = ["StepAssembler", "Events"]
