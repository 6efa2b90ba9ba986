"""User-defined functions with a SQL body (the reference's "User-Defined Functions" page).

``CREATE FUNCTION name(p1 T1, ...) RETURNS T [NOT NULL] AS expression`` declares a function a later view may
call. Sluice inlines each call at compile time: the body, with every parameter replaced by the call's argument
cast to the parameter's type, cast to the declared result type. DuckDB never sees the function, the incremental
planner reads plain expressions, and the body's own calls are checked against Feldera's function list like any
view's. A function without ``AS`` has its body in Rust (``udf_rust``), which Sluice cannot run: it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from .errors import NOT_IMPLEMENTED, at_node, at_token
from .functions import called_name, check_calls


@dataclass
class SqlFunction:
    name: str  # folded as identifiers are: unquoted names to lower case
    params: list[tuple[str, exp.DataType]]
    returns: exp.DataType
    body: exp.Expr  # calls of earlier functions already inlined


def strip_returns_not_null(toks: list[Token]) -> list[Token]:
    """``RETURNS T NOT NULL AS``: the parser reads no constraint on a result type; the cast to ``T`` is what
    matters, so the ``NOT NULL`` is dropped (Feldera checks it; an SQL body that is NULL is refused there)."""
    at = next((i for i, t in enumerate(toks) if t.text.upper() == "RETURNS"), None)
    end = next((i for i, t in enumerate(toks) if at is not None and i > at and t.token_type == TokenType.ALIAS),
               len(toks))
    if at is None or end - at < 3:
        return toks
    if toks[end - 2].token_type == TokenType.NOT and toks[end - 1].token_type == TokenType.NULL:
        return toks[:end - 2] + toks[end:]
    return toks


def declare(node: exp.Create, functions: dict[str, SqlFunction], code: str, start: int, first: Token) -> SqlFunction:
    """The function a parsed ``CREATE FUNCTION`` declares; raises ``SqlError`` for one Sluice cannot hold."""
    udf = node.this
    if not isinstance(udf, exp.UserDefinedFunction):
        raise at_token("expected CREATE FUNCTION name(parameters) RETURNS type AS expression", first, code)
    ident = udf.this.this if isinstance(udf.this, exp.Table) else udf.this
    name = ident.name if getattr(ident, "quoted", False) else ident.name.lower()
    returns = next((p.this for p in (node.args.get("properties") or exp.Properties(expressions=[])).expressions
                    if isinstance(p, exp.ReturnsProperty)), None)
    if node.expression is None:
        raise at_node(f"function '{name}' has no SQL body: functions written in Rust are not supported by Sluice",
                      ident, code, start, NOT_IMPLEMENTED)
    if not isinstance(returns, exp.DataType):
        raise at_node(f"function '{name}' needs RETURNS type", ident, code, start)
    if name.lower() in {f.lower() for f in functions}:
        raise at_node(f"function '{name}' is declared twice", ident, code, start)
    params = [(p.name.lower() if not p.this.quoted else p.name, p.args["kind"]) for p in udf.expressions
              if isinstance(p, exp.ColumnDef)]
    check_calls(node.expression, code, start, allowed=set(functions))
    body = inline(node.expression.copy(), functions)
    return SqlFunction(name, params, returns, body)


def inline(tree: exp.Expr, functions: dict[str, SqlFunction]) -> exp.Expr:
    """``tree`` with every call of a declared function replaced by its body (children first, so arguments that
    are calls are inlined too)."""
    if not functions:
        return tree
    by_name = {k.lower(): f for k, f in functions.items()}
    for node in reversed(list(tree.walk(bfs=False))):
        name = called_name(node)
        f = by_name.get(name.lower()) if name else None
        if f is None:
            continue
        new = _expand(f, _arguments(node), node)
        if node is tree:
            tree = new
        else:
            node.replace(new)
    return tree


def _arguments(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    out = []
    for key in node.arg_types:
        value = node.args.get(key)
        out.extend(value if isinstance(value, list) else [value] if isinstance(value, exp.Expr) else [])
    return out


def _expand(f: SqlFunction, args: list[exp.Expr], call: exp.Expr) -> exp.Expr:
    if len(args) != len(f.params):
        raise ArityError(f"function '{f.name}' takes {len(f.params)} argument(s), not {len(args)}", call)
    values = {p: exp.Cast(this=exp.Paren(this=a.copy()), to=t.copy()) for (p, t), a in zip(f.params, args)}

    def put(n: exp.Expr) -> exp.Expr:
        if isinstance(n, exp.Column) and not n.table and n.name.lower() in values and not n.this.quoted:
            return values[n.name.lower()].copy()
        if isinstance(n, exp.Column) and not n.table and n.this.quoted and n.name in values:
            return values[n.name].copy()
        return n
    body = f.body.copy().transform(put)
    return exp.Cast(this=exp.Paren(this=body), to=f.returns.copy())


class ArityError(ValueError):
    """Raised for a call with the wrong number of arguments; ``node`` locates it."""

    def __init__(self, message: str, node: exp.Expr):
        super().__init__(message)
        self.node = node

__all__ = ["SqlFunction", "ArityError", "declare", "inline", "strip_returns_not_null"]
