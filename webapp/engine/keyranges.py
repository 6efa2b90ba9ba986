"""Ranges of integer keys that cover every key a keyed table stores.

A bulk step whose keys lie outside them inserts without deleting first (``table.apply_inserts``):
no row can have those keys. Loads of new ids sent by several clients at once arrive out of order
(a step holds one sender's ids 60,000-70,000 after another's 70,000-80,000 went in), so one upper
bound is not enough: with 4 senders, 15 of 22 steps of a 10^6-row load found some id below it.
The ranges may cover more than the table holds (a delete does not shrink them): they only ever
tell that a key is surely absent.
"""

from __future__ import annotations

import bisect

# Past this many separate ranges they are merged into one (still a cover, just a coarser one).
MAX_RANGES = 256


class KeyRanges:
    def __init__(self, lo: int | None = None, hi: int | None = None):
        """One range ``[lo, hi]``, or none (an empty table)."""
        self.los: list[int] = [] if lo is None else [lo]
        self.his: list[int] = [] if hi is None else [hi]

    def meets(self, a: int, b: int) -> bool:
        """Whether ``[a, b]`` shares a key with a range."""
        i = bisect.bisect_right(self.los, b)  # ranges starting at or below b
        return i > 0 and self.his[i - 1] >= a

    def add(self, a: int, b: int) -> None:
        """Cover ``[a, b]`` too, merging ranges that overlap or touch it."""
        i = bisect.bisect_left(self.his, a - 1)  # the first range that ends at or after a - 1
        j = bisect.bisect_right(self.los, b + 1)  # ranges starting at or before b + 1
        if i < j:
            a, b = min(a, self.los[i]), max(b, self.his[j - 1])
        self.los[i:j] = [a]
        self.his[i:j] = [b]
        if len(self.los) > MAX_RANGES:
            self.los, self.his = [self.los[0]], [self.his[-1]]


__all__ = ["KeyRanges", "MAX_RANGES"]
