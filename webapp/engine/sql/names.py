"""Users' names and the names DuckDB holds them under.

Feldera folds an unquoted identifier to lower case and keeps a quoted one exactly, so ``v0`` and ``"V0"`` are two
views and a table may have columns ``"A"`` and ``a``. DuckDB's catalog and column binder ignore case, so each
table, view and column lives in DuckDB under ``internal(name)``: a spelling without upper-case letters that no
other name shares. A name that is already lower case (nearly all of them) is its own internal name, so the
DuckDB SQL of such a program is unchanged. Everything a user sees (the API, egress, errors) uses their name;
``user`` reads an internal name back. Both run when a program is compiled or a query is planned, never per step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
from sqlglot import exp

_ESC = "^"
_CODED = re.compile(r"\^(\^|#[0-9a-f]+;|.)", re.DOTALL)


def internal(name: str) -> str:
    """``name`` with each upper-case letter written ``^`` + its lower case and ``^`` written ``^^``: one-to-one,
    and no two results differ only in case."""
    if _ESC not in name and name == name.lower():
        return name
    out = []
    for c in name:
        low = c.lower()
        if c == _ESC:
            out.append(_ESC + _ESC)
        elif low == c:
            out.append(c)
        elif len(low) == 1 and low.upper() == c:
            out.append(_ESC + low)
        else:  # a letter whose lower case does not lead back to it (e.g. 'İ'): by code point
            out.append(f"{_ESC}#{ord(c):x};")
    return "".join(out)


def user(name: str) -> str:
    """The user's name for an internal one (``user(internal(n)) == n``)."""
    if _ESC not in name:
        return name

    def back(m: re.Match) -> str:
        g = m.group(1)
        if g == _ESC:
            return _ESC
        if g.startswith("#") and len(g) > 2:
            return chr(int(g[1:-1], 16))
        return g.upper()
    return _CODED.sub(back, name)


# A quoted string of the message (a value, kept as it is) or a word with an internal name in it.
_WORD = re.compile(r"('(?:[^']|'')*')|[^\s\"'`.,:()\[\]]*\^[^\s\"'`.,:()\[\]]*")


def user_text(message: str) -> str:
    """A DuckDB message with every internal name in it written as the user's name (values in '...' stay)."""
    if _ESC not in message:
        return message
    return _WORD.sub(lambda m: m.group(0) if m.group(1) else user(m.group(0)), message)


def internal_identifiers(q: exp.Expr) -> None:
    """Every (already case-folded) identifier of ``q`` in its internal spelling: relation, column, alias and CTE
    names alike, so each keeps its meaning. Field names inside a type are a type's, not DuckDB catalog names,
    and stay."""
    for ident in list(q.find_all(exp.Identifier)):
        name = ident.this
        if isinstance(name, str) and (name != name.lower() or _ESC in name) \
                and ident.find_ancestor(exp.DataType) is None:
            ident.set("this", internal(name))
            ident.set("quoted", True)


@dataclass(frozen=True)
class DuckText:
    """An ad-hoc statement with its quoted names in their internal spelling, and how to read positions back."""

    sql: str
    _moves: tuple[tuple[int, int], ...] = ()  # (position in ``sql`` after a rewritten name, change in length)

    def user_offset(self, at: int) -> int:
        """The position in the user's text of position ``at`` of ``sql``."""
        return at - sum(d for end, d in self._moves if end <= at)


def duck_text(sql: str) -> DuckText:
    """An ad-hoc DuckDB statement reading the program's relations under their internal names.

    Only quoted identifiers change: an unquoted one already means its lower-case form to DuckDB, which is
    that name's internal spelling. The tokens are DuckDB's own (``duckdb.tokenize``), so strings and comments
    are never touched."""
    if '"' not in sql:
        return DuckText(sql)
    toks = duckdb.tokenize(sql)
    out, moves, last = [], [], 0
    for i, (pos, kind) in enumerate(toks):
        if not str(kind).endswith("identifier") or sql[pos] != '"':
            continue
        end = sql.index('"', pos + 1)
        while end + 1 < len(sql) and sql[end + 1] == '"':  # a doubled quote inside the name
            end = sql.index('"', end + 2)
        name = sql[pos + 1:end].replace('""', '"')
        coded = internal(name)
        if coded == name:
            continue
        new = '"' + coded.replace('"', '""') + '"'
        out.append(sql[last:pos] + new)
        last = end + 1
        moves.append((sum(len(x) for x in out), len(new) - (end + 1 - pos)))
    if not moves:
        return DuckText(sql)
    out.append(sql[last:])
    return DuckText("".join(out), tuple(moves))


__all__ = ["DuckText", "duck_text", "internal", "internal_identifiers", "user", "user_text"]
