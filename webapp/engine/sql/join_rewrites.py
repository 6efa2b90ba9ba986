"""Feldera's ``ASOF JOIN`` (the reference's "SQL Grammar" page) as DuckDB's.

Feldera writes ``l LEFT ASOF JOIN r MATCH_CONDITION (l.ts >= r.ts) ON l.c = r.c``: for each left row, at most one
right row among those the ``ON`` condition matches, the one with the closest timestamp that the match condition
accepts; with no match the right columns are NULL. A NULL timestamp compares false, so it matches nothing.
"Currently, only >= is supported" and "only the LEFT form": anything else is refused by name, as Feldera refuses it.

DuckDB's ``l ASOF LEFT JOIN r ON l.c = r.c AND l.ts >= r.ts`` has exactly these semantics.
"""

from __future__ import annotations

from sqlglot import exp


class JoinError(ValueError):
    """Raised for an ASOF join Feldera does not accept; ``node`` locates it."""

    def __init__(self, message: str, node: exp.Expr):
        super().__init__(message)
        self.node = node


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """DuckDB's form of a Feldera ASOF join, or None when ``node`` is not one."""
    if not isinstance(node, exp.Join) or str(node.args.get("method") or "").upper() != "ASOF":
        return None
    match = node.args.get("match_condition")
    if str(node.args.get("side") or "").upper() != "LEFT" or node.args.get("kind"):
        raise JoinError("only LEFT ASOF JOIN is supported", node)
    if match is None:
        raise JoinError("ASOF JOIN needs MATCH_CONDITION (left.ts >= right.ts)", node)
    if not isinstance(match, exp.GTE):
        raise JoinError("ASOF JOIN MATCH_CONDITION supports only >=", match)
    out = node.copy()
    out.set("match_condition", None)
    on = out.args.get("on")
    out.set("on", exp.and_(on, match.copy()) if on is not None else match.copy())
    return out


__all__ = ["JoinError", "rewrite"]
