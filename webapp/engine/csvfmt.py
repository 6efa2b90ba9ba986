"""CSV in and out, as Feldera's HTTP connector does it.

In: no header, columns in declaration order, fields quoted with ``"`` (doubled inside), quoted fields
may hold commas and newlines. An empty unquoted field, ``NULL`` or ``null`` is NULL; ``""`` is the
empty string. Extra trailing fields are an error (nothing typed is dropped silently); missing
trailing fields are NULL. Every record is an insert.

Out: one line per row, the row's columns then a weight column (1 insert, -1 delete). NULL is an empty
field and the empty string is ``""``, so what goes out reads back in as it was.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import orjson

from .catalog import INTEGER_RANGES, Relation
from .records import ParsedBatch, RecordError, RowConverter

_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,"\r\n]*)')


def iter_csv_records(text: str):
    """Yield ``(fields, line, error)``; a field is ``(text, quoted)``."""
    pos, n, line = 0, len(text), 1
    while pos < n:
        start_line = line
        rec: list[tuple[str, bool]] = []
        err = None
        while True:
            m = _FIELD.match(text, pos)
            if m.group(1) is not None:
                val = m.group(1)
                line += val.count("\n")
                rec.append((val.replace('""', '"'), True))
            else:
                rec.append((m.group(2), False))
            pos = m.end()
            if pos >= n:
                break
            c = text[pos]
            if c == ",":
                pos += 1
                if pos >= n:
                    rec.append(("", False))
                    break
                continue
            if c in "\r\n":
                break
            err = RecordError(f"unexpected '{c}' in a field: quote fields that hold quotes as \"...\" with \"\" inside")
            break
        end = text.find("\n", pos) if err else pos
        if err:
            pos = n if end < 0 else end
        # step over the line break
        if pos < n and text[pos] == "\r":
            pos += 1
        if pos < n and text[pos] == "\n":
            pos += 1
            line += 1
        if err is None and len(rec) == 1 and rec[0] == ("", False):
            continue  # blank line
        yield rec, start_line, err


def _text_value(kind: str) -> Callable[[str], Any]:
    if kind in INTEGER_RANGES:
        def f(s):
            try:
                return int(s.strip())
            except ValueError:
                raise RecordError(f"'{s}' is not an integer") from None
        return f
    if kind in ("REAL", "DOUBLE"):
        def g(s):
            try:
                return float(s.strip())
            except ValueError:
                raise RecordError(f"'{s}' is not a number") from None
        return g
    if kind == "BOOLEAN":
        def h(s):
            v = s.strip().lower()
            if v in ("true", "false"):
                return v == "true"
            raise RecordError(f"'{s}' is not true or false")
        return h
    if kind == "VARIANT":
        # Feldera's CSV reads a VARIANT field as JSON text (as PARSE_JSON would).
        def j(s):
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:
                raise RecordError(f"'{s[:40]}' is not JSON text") from None
        return j
    return lambda s: s


HEADER_HINT = ("the first line holds the table's column names: CSV ingress reads no header line (nor does "
               "Feldera's); send the records without it")


def _is_header(fields: list[str], table: Relation) -> bool:
    """Whether a record is the table's column names in order: a header line, not data (stored as a row of a
    table of text columns, or refused field by field with no word of why). Only for two columns or more:
    one text column may well hold its own name as a value."""
    return len(table.columns) >= 2 and len(fields) == len(table.columns) and all(
        f.strip().lower() == c.name.lower() for f, c in zip(fields, table.columns))


def starts_with_header(body: bytes, table: Relation) -> bool:
    """Whether the body's first record is a header line (``_is_header``); blank lines before it are skipped,
    as the record parser skips them."""
    body = body.lstrip(b"\r\n")
    end = body.find(b"\n")
    first = body[: end if end >= 0 else len(body)].decode("utf-8", "replace").rstrip("\r")
    rec = next(iter_csv_records(first), None)
    return rec is not None and rec[2] is None and _is_header([s for s, _ in rec[0]], table)


def parse_csv_body(body: bytes, table: Relation) -> ParsedBatch:
    out = ParsedBatch(num_bytes=len(body))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        # Keep every line before the bad byte; report the line that holds it.
        text = body[: e.start].decode("utf-8")
        bad_line = text.count("\n") + 1
        cut = text.rfind("\n") + 1
        text = text[:cut]
        out.add_error(RecordError(f"invalid UTF-8 at byte {e.start} of the body; the rest of the body was not read"),
                      0, bad_line, "")
    conv = RowConverter(table)
    pre = [_text_value(c.type.type) for c in table.columns]
    width = len(table.columns)
    event = 0
    for rec, line, err in iter_csv_records(text):
        event += 1
        if err is not None:
            out.add_error(err, event, line, "")
            continue
        if event == 1 and _is_header([f for f, _ in rec], table):
            out.add_error(RecordError(HEADER_HINT), event, line, ",".join(f for f, _ in rec)[:200])
            continue
        try:
            if len(rec) > width:
                raise RecordError(f"{len(rec)} fields for a table of {width} columns")
            vals = []
            for i, (s, quoted) in enumerate(rec):
                if not quoted and (s == "" or s in ("NULL", "null")):
                    vals.append(None)
                    continue
                try:
                    vals.append(pre[i](s))
                except RecordError as e:
                    col = table.columns[i].name
                    e.field, e.description = col, f"column '{col}': {e.description}"
                    raise
            row = conv.convert(vals)
        except RecordError as e:
            out.add_error(e, event, line, ",".join(s for s, _ in rec)[:200])
            continue
        out._ops.append((1, row))
        out.num_records += 1
    if out.errors and out.errors[0]["event_number"] == 0:
        out.errors[0]["event_number"] = event + 1
    return out


def encode_csv_chunks(dels, ins, enc, relation: Relation, limit: int = 10_000) -> list[tuple[bytes, int]]:
    names = [c.name for c in relation.columns]
    rows = [(r, -1) for r in dels] + [(r, 1) for r in ins]
    out = []
    for i in range(0, len(rows), limit):
        # ``csv_field`` tells NULL (an empty field) from the empty string (``""``): the values go to it raw.
        text = "".join(csv_line([enc(r)[n] for n in names] + [weight]) for r, weight in rows[i: i + limit])
        out.append((orjson.dumps(text), len(rows[i: i + limit])))
    return out


_NEEDS_QUOTES = re.compile(r'[,"\r\n]|^\s|\s$|^(?:NULL|null)$')


def csv_field(v: Any) -> str:
    """One field: None is empty, the empty string ``""``; text is quoted when it must be to read back as
    itself (separators, quotes, line ends, edge spaces, or the words the reader takes for NULL)."""
    if v is None:
        return ""
    if not isinstance(v, str):
        v = _csv_cell(v)
        if not isinstance(v, str):
            return str(v)
    if v == "" or _NEEDS_QUOTES.search(v):
        return '"' + v.replace('"', '""') + '"'
    return v


def csv_line(values: list) -> str:
    return ",".join(csv_field(v) for v in values) + "\n"


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict, orjson.Fragment)):  # ARRAY, MAP, ROW and VARIANT values as JSON text
        return orjson.dumps(v).decode()
    return v


__all__ = ["parse_csv_body", "encode_csv_chunks", "iter_csv_records", "csv_field", "csv_line"]
