"""``LATENESS`` on a table column (the reference's "Streaming SQL extensions"), read at compile time.

``CREATE TABLE t (ts TIMESTAMP NOT NULL LATENESS INTERVAL '1' HOUR, ...)``: a row whose ``ts`` is more than the
lateness below the largest ``ts`` of the earlier steps is "too much out of order" and ignored; "the system
behaves as if such insertions never took place" (``engine.lateness`` applies it at each step). Here the
annotation is cut out of the statement's tokens before it is parsed, and its constant is evaluated with DuckDB
to the Python value the step compares with. ``LATENESS`` statements on views and ``WATERMARK`` stay refused.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from .dialect import parse_statement
from .errors import NOT_IMPLEMENTED, at_token

# Column types whose values Python can compare with `largest - lateness` (TIME arithmetic wraps at midnight).
_ORDERED = {"TIMESTAMP", "DATE", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "DECIMAL", "REAL", "DOUBLE"}


def split(toks: list[Token]) -> tuple[list[Token], list[tuple[Token, Token, list[Token]]]]:
    """(the statement's tokens without its LATENESS annotations, [(column token, LATENESS token, expression
    tokens)]) for a CREATE TABLE."""
    out: list[Token] = []
    found = []
    depth, item_start, i = 0, None, 0
    while i < len(toks):
        t = toks[i]
        if t.token_type == TokenType.L_PAREN:
            depth += 1
            if depth == 1:
                item_start = len(out) + 1
        elif t.token_type == TokenType.R_PAREN:
            depth -= 1
        elif t.token_type == TokenType.COMMA and depth == 1:
            item_start = len(out) + 1
        if depth == 1 and t.text.upper() == "LATENESS" and t.token_type == TokenType.VAR and item_start is not None:
            j, d = i + 1, 0
            while j < len(toks) and not (d == 0 and toks[j].token_type in (TokenType.COMMA, TokenType.R_PAREN)):
                d += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(toks[j].token_type, 0)
                j += 1
            found.append((out[item_start], t, toks[i + 1:j]))
            i = j
            continue
        out.append(t)
        i += 1
    return out, found


def evaluate(con, found, table, code: str, translate) -> dict[str, Any]:
    """{column name: lateness value}; raises ``SqlError`` for a column or value the step cannot compare.
    ``translate`` turns a parsed SELECT into DuckDB's text (``translate.view_query``)."""
    out: dict[str, Any] = {}
    by_name = {c.name: c for c in table.columns}
    for col_tok, lat_tok, expr_toks in found:
        name = col_tok.text if col_tok.token_type == TokenType.IDENTIFIER else col_tok.text.lower()
        col = by_name.get(name)
        if col is None or not expr_toks:
            raise at_token("LATENESS needs a column and a constant: column TYPE LATENESS expression", lat_tok, code)
        if col.type.type not in _ORDERED:
            raise at_token(f"LATENESS on a {col.type.type} column is not supported by Sluice yet", lat_tok, code,
                           NOT_IMPLEMENTED)
        sql, _ = translate(exp.select(parse_statement(expr_toks, code)))
        try:
            value = con.execute(sql).fetchone()[0]
            con.execute(f"SELECT CAST(NULL AS {col.type.duckdb()}) - ({sql})").fetchall()
        except Exception as e:  # noqa: BLE001 - DuckDB's binder says why; the user's token says where
            raise at_token(f"LATENESS of column '{name}' must be a constant that can be subtracted from a "
                           f"{col.type.type}: {str(e).splitlines()[0]}", lat_tok, code) from None
        if value is None:
            raise at_token(f"LATENESS of column '{name}' is NULL", lat_tok, code)
        out[name] = value
    return out


__all__ = ["split", "evaluate"]
