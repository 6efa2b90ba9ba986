"""DuckDB's runtime errors of integer arithmetic in the words of Feldera's compiled programs.

Both engines stop a step whose integer arithmetic overflows or takes a remainder by zero, and Feldera's own tests
(``python/tests/runtime_aggtest/negative_tests``) recognise the failure by its words, so a pipeline's error says
them as Feldera does: ``'120 + 100' causes overflow for type TINYINT`` and ``attempt to calculate the remainder
with a divisor of zero``. DuckDB names the type of ``+``, ``-`` and ``*`` in its own spelling (``INT8`` ...
``UINT64``); of ``/`` only ``MIN / -1`` overflows, and ``MIN`` tells the type. Any other error keeps DuckDB's
words: among them a division by zero, whose words in Feldera depend on a type DuckDB's message does not give.
A value cast to a narrower integer type that it does not fit (a SUM of INTEGER, computed wider) is told in SQL's
type names rather than DuckDB's ``INT32``.
"""

from __future__ import annotations

import re

_TYPES = {"INT8": "TINYINT", "INT16": "SMALLINT", "INT32": "INTEGER", "INT64": "BIGINT",
          "UINT8": "TINYINT UNSIGNED", "UINT16": "SMALLINT UNSIGNED", "UINT32": "INTEGER UNSIGNED",
          "UINT64": "BIGINT UNSIGNED", "INT128": "HUGEINT", "UINT128": "UHUGEINT"}
_MINIMUMS = {str(-2 ** (bits - 1)): name for bits, name in ((8, "TINYINT"), (16, "SMALLINT"), (32, "INTEGER"),
                                                            (64, "BIGINT"))}
_OPERATION = re.compile(r"Out of Range Error: Overflow in (?:addition|subtraction|multiplication) of (\w+) "
                        r"\((-?\d+ [-+*] -?\d+)\)!")
_DIVISION = re.compile(r"Out of Range Error: Overflow in division of (-\d+) / -1\b")
# A value cast to a narrower integer type (a SUM of INTEGER is computed wider, then cast back).
_CAST = re.compile(r"Type \w+ with value (-?\d+) can't be cast because the value is out of range for the destination "
                   r"type (\w+)")
_BY_ZERO = re.compile(r"Invalid Input Error: Division by zero in expression (\(.*\))")


def _outer_operator(expr: str) -> str | None:
    """The operator of ``(x op y)`` at the top of DuckDB's expression text, not one inside x or y
    (``(a % 3) // z`` divides)."""
    depth = 0
    for i, ch in enumerate(expr):
        depth += (ch == "(") - (ch == ")")
        if depth == 1 and ch == " ":
            op = expr[i + 1:].split(" ", 1)[0]
            if op in ("%", "/", "//"):
                return op
    return None


def feldera_runtime_text(duck_message: str) -> str:
    """``duck_message`` (the first line of DuckDB's error) as Feldera words the same failure, or unchanged."""
    m = _OPERATION.search(duck_message)
    if m and m.group(1) in _TYPES:
        return f"'{m.group(2)}' causes overflow for type {_TYPES[m.group(1)]}"
    m = _DIVISION.search(duck_message)
    if m and m.group(1) in _MINIMUMS:
        return f"'{m.group(1)} / -1' causes overflow for type {_MINIMUMS[m.group(1)]}"
    m = _CAST.search(duck_message)
    if m:
        return (f"Conversion Error: the value {m.group(1)} is out of range for the type "
                f"{_TYPES.get(m.group(2), m.group(2))} (an integer overflow)")
    m = _BY_ZERO.search(duck_message)
    if m and _outer_operator(m.group(1)) == "%":
        return "attempt to calculate the remainder with a divisor of zero"
    return duck_message


__all__ = ["feldera_runtime_text"]
