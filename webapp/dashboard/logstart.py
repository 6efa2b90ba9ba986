"""Where a view's change log starts: the ``log_from`` of a subscribe message, and the steps it selects.

A subscription always begins with a snapshot (the view's state, which already includes every step so
far). A change log asked to start before "now" gets, right after that first snapshot, one ``history``
frame: the steps of the current epoch that the hub's ring still holds and that the choice selects. They
are for the log only; applying them to the snapshot would count them twice. Choices:

    "oldest"          every step held
    {"last": N}       the newest N changes (the oldest step of them cut so that exactly N remain)
    {"since": MS}     the steps the hub received at or after MS (milliseconds since the Unix epoch)

What the ring held and what its bounds dropped (``RING_STEPS``/``RING_CHANGES``, or a new epoch after a
resynchronisation, or the feed stopping after ``FEED_LINGER`` unwatched) goes with it, so the page can
say how far back the log reaches and that it is not the whole history.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .state import Step

CHOICES = '"oldest", {"last": N} with N >= 1, or {"since": milliseconds since the Unix epoch}'


class LogFromError(ValueError):
    """A ``log_from`` the hub does not understand; the message says what it accepts."""


def parse(value: Any) -> dict | None:
    """The normalised choice, or None for "now" (no history). Raises ``LogFromError``."""
    if value is None or value == "now":
        return None
    if value == "oldest":
        return {"oldest": True}
    if isinstance(value, dict) and len(value) == 1:
        (name, n), = value.items()
        # bool is an int in Python: {"last": true} is a mistake, not 1.
        if name in ("last", "since") and isinstance(n, int) and not isinstance(n, bool) and n >= (1 if name == "last" else 0):
            return {name: n}
    raise LogFromError(f"log_from must be {CHOICES}, not {value!r}")


def select(steps: Iterable[Step], choice: dict,
           keep: Callable[[list], list] | None = None) -> list[tuple[Step, list]]:
    """``(step, changes)`` for the steps ``choice`` selects, oldest first; ``keep`` filters each step's
    changes (a subscription's row filter) before "the newest N" are counted."""
    since = choice.get("since")
    out: list[tuple[Step, list]] = []
    for st in steps:
        if since is not None and st.t < since:
            continue
        changes = keep(st.changes) if keep is not None else st.changes
        if changes:
            out.append((st, changes))
    last = choice.get("last")
    if last is None:
        return out
    picked: list[tuple[Step, list]] = []
    n = 0
    for st, changes in reversed(out):
        if n + len(changes) >= last:
            picked.append((st, changes[len(changes) - (last - n):]))
            break
        picked.append((st, changes))
        n += len(changes)
    picked.reverse()
    return picked


def frame(head: dict, picked: list[tuple[Step, list]], held: dict) -> dict:
    """The ``history`` frame: ``head`` (op, id, pipeline, view, cursor) with the steps and what was held."""
    return {**head, "steps": [{"seq": st.seq, "n": len(ch), "t": st.t} for st, ch in picked],
            "changes": [c for _, ch in picked for c in ch], "held": held}


__all__ = ["CHOICES", "LogFromError", "frame", "parse", "select"]
