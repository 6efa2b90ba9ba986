"""Feldera's ``ASOF JOIN`` (the reference's "SQL Grammar" page) as DuckDB's.

Feldera writes ``l LEFT ASOF JOIN r MATCH_CONDITION (l.ts >= r.ts) ON l.c = r.c``: for each left row, at most one
right row among those the ``ON`` condition matches, the one with the closest timestamp that the match condition
accepts; with no match the right columns are NULL. A NULL timestamp compares false, so it matches nothing.
"Currently, only >= is supported" and "only the LEFT form": anything else is refused in the words of Feldera's compiler
(its ``asof_tests/test_asof_illarg.py``): a plain ``ASOF JOIN`` "Currently only left asof joins are supported.", a
``RIGHT``/``FULL`` one a parse error (Calcite's grammar has no such join), a comparison other than ``>=`` "Currently
the only MATCH_CONDITION comparison supported by ASOF joins is '>='", and anything but a comparison (``=``, say)
"ASOF JOIN MATCH_CONDITION must be a comparison between columns from the two inputs".

DuckDB's ``l ASOF LEFT JOIN r ON l.c = r.c AND l.ts >= r.ts`` has exactly these semantics.
"""

from __future__ import annotations

from sqlglot import exp


class JoinError(ValueError):
    """Raised for an ASOF join Feldera does not accept; ``node`` locates it, ``parse`` marks a parse error."""

    def __init__(self, message: str, node: exp.Expr, parse: bool = False):
        super().__init__(message)
        self.node = node
        self.parse = parse


_COMPARISONS = (exp.GT, exp.GTE, exp.LT, exp.LTE)


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """DuckDB's form of a Feldera ASOF join, or None when ``node`` is not one."""
    if not isinstance(node, exp.Join) or str(node.args.get("method") or "").upper() != "ASOF":
        return None
    match = node.args.get("match_condition")
    side = str(node.args.get("side") or "").upper()
    if side in ("RIGHT", "FULL"):
        raise JoinError('Encountered "ASOF"', node, parse=True)
    if side != "LEFT" or node.args.get("kind"):
        raise JoinError("Currently only left asof joins are supported.", node)
    if match is None:
        raise JoinError("ASOF JOIN needs MATCH_CONDITION (left.ts >= right.ts)", node)
    if not isinstance(match, _COMPARISONS):
        raise JoinError("ASOF JOIN MATCH_CONDITION must be a comparison between columns from the two inputs", match)
    if not isinstance(match, exp.GTE):
        raise JoinError("Currently the only MATCH_CONDITION comparison supported by ASOF joins is '>='", match)
    out = node.copy()
    out.set("match_condition", None)
    on = out.args.get("on")
    out.set("on", exp.and_(on, match.copy()) if on is not None else match.copy())
    return out


__all__ = ["JoinError", "rewrite"]
