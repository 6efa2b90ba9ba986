"""The ``WITH ('key' = 'value', ...)`` properties of tables and views that Sluice honours, and the refusal of
the rest by name (a property that was kept and ignored would silently change what the program means).

From Feldera's reference ("SQL Grammar", "Materialized Tables and Views", "Streaming SQL extensions"):

- tables: ``materialized`` (the table can be queried), ``connectors`` (see ``engine.connectors``),
  ``append_only`` ("updates or deletes are not allowed in such tables": ingress refuses them record by record),
  ``expected_size`` (a size hint to the compiler; it changes no result, so it is checked and accepted);
- views: ``connectors`` and ``materialized``; ``emit_final`` emits rows only once they are behind the view's
  waterline, which Sluice does not compute for views yet, so it is refused as not yet supported.
"""

from __future__ import annotations

from sqlglot import exp

from .errors import NOT_IMPLEMENTED, at_node

_BOOLEAN = ("true", "false")


def _boolean(value: str) -> str | None:
    return None if value in _BOOLEAN else "'true' or 'false'"


def _integer(value: str) -> str | None:
    return None if value.strip().isdigit() else "a non-negative integer"


TABLE_PROPERTIES = {"materialized": _boolean, "connectors": None, "append_only": _boolean, "expected_size": _integer}
VIEW_PROPERTIES = {"materialized": _boolean, "connectors": None}
NOT_YET = {"emit_final": "'emit_final' is not supported by Sluice yet: it needs the view's waterline"}


def check_properties(node: exp.Expr, kind: str, code: str, fallback: int) -> None:
    """Raises ``SqlError`` at the first property of a ``kind`` ("table" or "view") that Sluice cannot honour."""
    known = TABLE_PROPERTIES if kind == "table" else VIEW_PROPERTIES
    for p in (node.args.get("properties") or exp.Properties(expressions=[])).expressions:
        if not isinstance(p, exp.Property) or not isinstance(p.this, exp.Literal):
            continue
        key, value = p.this.name, p.args.get("value")
        text = value.name if isinstance(value, exp.Literal) else (value.sql() if value is not None else "")
        if key in NOT_YET:
            raise at_node(NOT_YET[key], p.this, code, fallback, NOT_IMPLEMENTED)
        if key not in known:
            raise at_node(f"property '{key}' of a {kind} is not supported by Sluice (it supports "
                          f"{', '.join(repr(k) for k in known)})", p.this, code, fallback)
        check = known[key]
        wanted = check(text) if check is not None else None
        if wanted is not None:
            raise at_node(f"property '{key}' must be {wanted}, not '{text}'", value or p.this, code, fallback)


__all__ = ["TABLE_PROPERTIES", "VIEW_PROPERTIES", "check_properties"]
