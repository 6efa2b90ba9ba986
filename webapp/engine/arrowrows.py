"""A step's inserted rows kept as the Arrow batch they were parsed into.

A bulk load's change is its input: a keyed table whose step only brought new keys hands its
views the very Arrow batch it inserted (``ArrowRows``). Operators that work on batches in DuckDB
(``ivm``: a GROUP BY's pre-aggregation, a join with a stored table, a filter) register it as it is;
anything else (egress, a Python operator) iterates it, and only then are Python tuples made, once.
Only columns whose Arrow values are the Python values DuckDB gives (``plain``) travel this way, so
the tuples equal what the insert's ``RETURNING`` would have returned.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from .records import arrow_rows


def plain(t: pa.DataType) -> bool:
    """Whether Arrow's Python value of this type is the one DuckDB's ``fetchall`` gives."""
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t)
            or pa.types.is_boolean(t) or pa.types.is_date32(t) or pa.types.is_decimal(t))


class ArrowRows(Sequence):
    """The rows of an Arrow table, as a sequence of tuples made on first use."""

    __slots__ = ("_rows", "arrow")

    def __init__(self, arrow: pa.Table):
        self.arrow = arrow
        self._rows: list[tuple] | None = None

    def rows(self) -> list[tuple]:
        if self._rows is None:
            self._rows = arrow_rows(self.arrow)
        return self._rows

    def __len__(self) -> int:
        return self.arrow.num_rows

    def __bool__(self) -> bool:
        return self.arrow.num_rows > 0

    def __iter__(self):
        return iter(self.rows())

    def __getitem__(self, i):
        return self.rows()[i]

    def __add__(self, other) -> list:
        return self.rows() + list(other)

    def __radd__(self, other) -> list:
        return list(other) + self.rows()


def inserted_arrow(change) -> pa.Table | None:
    """The Arrow batch of a change that only inserts rows kept as Arrow, else None."""
    if change and not change[0] and isinstance(change[1], ArrowRows):
        return change[1].arrow
    return None


__all__ = ["ArrowRows", "inserted_arrow", "plain"]
