"""Keys of rows typed into a keyed table: Insert adds rows and never replaces one, but the engine (like
Feldera) upserts by key, so ``entry.py`` asks the table first which keys it holds.

``existence_queries(table, keys, rows)`` builds ``SELECT <key cols> FROM <table> WHERE (<key cols>) IN
((...), ...)`` with every value a SQL literal (numbers as numbers, booleans TRUE/FALSE, the rest a quoted
string with ``''`` escaping CAST to the column's type; identifiers double-quoted with ``""`` escaping),
split so that no query is longer than ``KEY_QUERY_CHARS`` once URL-encoded: it travels in the query
string of a GET, and servers limit the request line (Sluice's engine, under gunicorn, to 4094 bytes).
``key_of`` makes a key as sent and as the engine answers it comparable.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote_plus

from .validate import FieldError, check_value

KEY_QUERY_CHARS = 3000
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?\Z")


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(rule: dict, v) -> str:
    """``v`` (a checked value) as a SQL literal: numbers as they are, the rest a string CAST to the type."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if rule["kind"] in ("integer", "decimal") and _NUMBER.match(str(v)):
        return str(v)
    text = v if isinstance(v, str) else json.dumps(v)
    return "CAST('" + text.replace("'", "''") + "' AS " + rule["label"].removesuffix(" NOT NULL") + ")"


def _norm(rule: dict, v):
    """A key value as sent or as the engine answers it, made comparable (``2024-01-31T10:00`` = ``… 10:00:00``)."""
    try:
        v = check_value(rule, v)
    except FieldError:
        return repr(v)
    if rule["kind"] in ("time", "timestamp"):
        head, _, frac = v.replace("T", " ").partition(".")
        head += ":00" if head.count(":") == 1 else ""
        v = head + ("." + frac.rstrip("0") if frac.rstrip("0") else "")
    return float(v) if rule["kind"] == "float" else json.dumps(v, sort_keys=True, default=str)


def _get(row: dict, name: str):
    return row[name] if name in row else next((v for k, v in row.items() if k.lower() == name.lower()), None)


def key_of(keys: list[dict], row: dict) -> tuple:
    return tuple(_norm(r, _get(row, r["name"])) for r in keys)


def show_key(keys: list[dict], row: dict) -> str:
    return ", ".join(f"{r['name']}={json.dumps(_get(row, r['name']), default=str)}" for r in keys)


def batch_duplicates(rules: list[dict], items: list[dict], events: list[dict]) -> list[dict]:
    """Inserts that repeat a key inserted earlier in the same batch (no delete between): the later would win."""
    keys = [r for r in rules if r["key"]]
    seen: dict[tuple, int] = {}
    out = []
    for i, ev in enumerate(events) if keys else ():
        op = "delete" if "delete" in ev else "insert"
        k = key_of(keys, ev[op])
        if op == "delete":
            seen.pop(k, None)
        elif k in seen:
            out.append({"row": i, "where": items[i].get("where") or f"row {i + 1}", "field": key_field(keys),
                        "message": f"the same key as {items[seen[k]].get('where')} ({show_key(keys, ev[op])}): "
                                   "Insert would keep only the last"})
        else:
            seen[k] = i
    return out


def key_field(keys: list[dict]) -> str | None:
    return keys[0]["name"] if len(keys) == 1 else None


def existence_queries(table: str, keys: list[dict], rows: list[dict]) -> list[str]:
    """The queries that find which of ``rows``' keys (checked values) table ``table`` holds."""
    cols = ", ".join(ident(r["name"]) for r in keys)
    tuples = list(dict.fromkeys("(" + ", ".join(literal(r, row[r["name"]]) for r in keys) + ")" for row in rows))
    head = f"SELECT {cols} FROM {ident(table)} WHERE ({cols}) IN ("
    budget = KEY_QUERY_CHARS - len(quote_plus(head + ")"))
    chunks, size = [], budget
    for t in tuples:
        n = len(quote_plus(t + ", "))
        if size + n > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(t)
        size += n
    return [head + ", ".join(c) + ")" for c in chunks]


__all__ = [
    "KEY_QUERY_CHARS",
    "batch_duplicates",
    "existence_queries",
    "ident",
    "key_field",
    "key_of",
    "literal",
    "show_key",
]
