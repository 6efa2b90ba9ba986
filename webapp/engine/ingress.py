"""Parsing ingress bodies into typed table changes, record by record.

A body is read whole, split into records, and each record checked against the table's schema. Good
records become ``(weight, row)`` pairs (+1 insert, -1 delete) in body order; each bad one becomes
an error entry in Feldera's ``ParseErrors`` shape, with ``event_number`` (1-based record position)
and, as a Sluice extension, ``line`` (1-based line of the body where the record starts).
"""

from __future__ import annotations

from typing import Any

import io

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from .catalog import ColumnType, Relation
from .errors import InvalidParam, ParseErrors, UnknownInputFormat
from .ops import KEEP, UPDATE
from .jsonframe import Frame
from .csvfmt import parse_csv_body, starts_with_header
from .records import ParsedBatch, RecordError, RowConverter, _show

# Debezium operations and the rows each carries: create, read (snapshot), update, delete.
DEBEZIUM_OPS = {"c": ("after",), "r": ("after",), "u": ("before", "after"), "d": ("before",)}


def _needs_exact_numbers(table: Relation) -> bool:
    """A DECIMAL column (or an array of them) needs its JSON numbers as written: orjson reads them as
    64-bit floats, which keep about 17 of a DECIMAL(38, s)'s digits."""
    def dec(t: ColumnType) -> bool:
        return t.type in ("DECIMAL", "VARIANT", "MAP", "STRUCT") or (t.type == "ARRAY" and dec(t.component))
    return any(dec(c.type) for c in table.columns)


# Suggestions that change a parameter of the whole request rather than one record: said once in the
# message as well as in each error's details, since one wrong parameter fails every record alike.
SEND_ARRAYS = "send arrays with array=true"
SEND_RAW = "send bare rows with update_format=raw"
SEND_EVENTS = "send insert/delete events with update_format=insert_delete"
SEND_LINES = "send one record per line with array=false"
REQUEST_HINTS = frozenset({SEND_ARRAYS, SEND_RAW, SEND_EVENTS, SEND_LINES})


def parse_json_body(body: bytes, table: Relation, *, update_format: str = "insert_delete",
                    array: bool = False, flavor: str = "default") -> ParsedBatch:
    if update_format not in ("raw", "insert_delete", "debezium"):
        raise InvalidParam(
            f"update_format '{update_format}' is not supported for input: use raw, insert_delete or debezium",
            {"parameter": "update_format", "value": update_format},
            error_code="InputFormatNotSupported" if update_format in ("snowflake", "redis") else None,
        )
    if flavor not in ("default", "pandas"):
        raise InvalidParam(f"json_flavor '{flavor}' is not supported: use default or pandas",
                           {"parameter": "json_flavor", "value": flavor})
    conv = RowConverter(table, pandas=flavor == "pandas")
    out = ParsedBatch(num_bytes=len(body))
    event = 0

    def decode_event(ev: Any) -> list[tuple[int, tuple]]:
        if update_format == "raw":
            if isinstance(ev, list) and ev and all(isinstance(x, dict) for x in ev):
                raise RecordError("found an array of rows", suggestion=SEND_ARRAYS)
            return [(1, conv.convert(ev))]
        if update_format == "debezium":
            return decode_debezium(ev)
        if not isinstance(ev, dict) or not ({"insert", "delete", "update"} & ev.keys()):
            raise RecordError('expected {"insert": row} or {"delete": row}',
                              suggestion=SEND_RAW)
        extra = set(ev.keys()) - {"insert", "delete", "update"}
        if extra:
            raise RecordError(f"unexpected key(s) {sorted(extra)} beside insert/delete")
        ops = []  # Feldera applies an event's parts in this order: delete, insert, update
        if "delete" in ev:
            ops.append((-1, conv.convert(ev["delete"], key_only=bool(table.primary_key))))
        if "insert" in ev:
            ops.append((1, conv.convert(ev["insert"])))
        if "update" in ev:
            if not table.primary_key:
                raise RecordError(f"\"update\" events need a PRIMARY KEY, and table '{table.name}' has none",
                                  suggestion='send {"delete": old_row} and {"insert": new_row}')
            ops.append((UPDATE, conv.convert(ev["update"], partial=True)))
        return ops

    def decode_debezium(ev: Any) -> list[tuple[int, tuple]]:
        payload = ev.get("payload") if isinstance(ev, dict) else None
        if not isinstance(payload, dict) or payload.get("op") not in DEBEZIUM_OPS:
            raise RecordError('expected a Debezium event {"payload": {"op": "c"|"r"|"u"|"d", "before": row, '
                              '"after": row}}', suggestion=SEND_EVENTS)
        op, ops = payload["op"], []
        for part in DEBEZIUM_OPS[op]:
            if not isinstance(payload.get(part), (dict, list)):
                raise RecordError(f'Debezium op "{op}" needs a "{part}" row', part)
        if "before" in DEBEZIUM_OPS[op]:
            ops.append((-1, conv.convert(payload["before"], key_only=bool(table.primary_key))))
        if "after" in DEBEZIUM_OPS[op]:
            ops.append((1, conv.convert(payload["after"])))
        return ops

    if table.properties.get("append_only") == "true":  # checked at compile time by sql.properties
        decode_any = decode_event

        def decode_event(ev: Any) -> list[tuple[int, tuple]]:
            ops = decode_any(ev)
            if any(w != 1 for w, _ in ops):
                raise RecordError(f"table '{table.name}' is append-only ('append_only' = 'true'): "
                                  "updates and deletes are not allowed", suggestion="send only insert events")
            return ops

    frame = Frame(body, exact=_needs_exact_numbers(table))
    for value, line, err in frame:
        if err is not None:
            event += 1
            out.add_error(RecordError(err.description), event, line, err.text)
            continue
        if array:
            if not isinstance(value, list):
                event += 1
                out.add_error(RecordError("expected a JSON array of records (array=true)",
                                          suggestion=SEND_LINES),
                              event, line, _show(value))
                continue
            kept, failed = [], False
            for ev in value:
                event += 1
                try:
                    kept.extend(decode_event(ev))
                except RecordError as e:
                    failed = True
                    out.add_error(e, event, line, _show(ev))
            if not failed:  # an array is all-or-nothing, as in Feldera
                out._ops.extend(kept)
                out.num_records += len(kept)
            continue
        event += 1
        try:
            ops = decode_event(value)
        except RecordError as e:
            out.add_error(e, event, line, _show(value))
            continue
        out._ops.extend(ops)
        out.num_records += len(ops)
    out.scanned_chars = frame.scanned
    return out


# ---------------------------------------------------------------------------------------------
# Fast path: a whole clean body parsed in C by Arrow's readers. Anything they refuse (a bad record, a
# key in another case, a value needing rounding) falls back to the record-by-record parser above, which
# reports each error precisely; so the fast path never decides what is an error.

_FAST_SCALARS = {"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "REAL", "DOUBLE", "DECIMAL", "VARCHAR",
                 "CHAR", "TIMESTAMP", "DATE"}


def _fast_ok(table: Relation) -> bool:
    for c in table.columns:
        t = c.type
        if t.type == "ARRAY":
            if t.component.type not in _FAST_SCALARS - {"DATE", "TIMESTAMP", "DECIMAL"}:
                return False
        elif t.type not in _FAST_SCALARS:
            return False
    return True


def _read_schema(table: Relation) -> pa.Schema:
    # DATE is read as text and cast: Arrow's JSON reader does not parse dates itself.
    return pa.schema([pa.field(c.name, pa.string() if c.type.type == "DATE" else c.type.arrow())
                      for c in table.columns])


def _finish_fast(tbl: pa.Table, table: Relation) -> pa.Table | None:
    cols = []
    for c, col in zip(table.columns, tbl.columns):
        if c.type.type == "DATE":
            try:
                col = pc.cast(col, pa.date32())
            except pa.ArrowInvalid:
                return None
        if not c.type.nullable and col.null_count:
            return None
        if c.type.type == "DECIMAL":
            try:  # Arrow's reader does not check DECIMAL(38, s)'s integer digits
                col.validate(full=True)
            except pa.ArrowInvalid:
                return None
        cols.append(col)
    return pa.table(cols, schema=pa.schema([pa.field(c.name, c.type.arrow()) for c in table.columns]))


def _finite(tbl: pa.Table | None) -> pa.Table | None:
    """``tbl``, or None when a float in it is NaN or infinite: Arrow reads ``NaN``/``Infinity``, which JSON does
    not have; the record parser then refuses that record by name."""
    if tbl is None:
        return None
    for col in tbl.columns:
        t = col.type
        if pa.types.is_list(t):
            col, t = pc.list_flatten(col), t.value_type
        if pa.types.is_floating(t) and pc.all(pc.is_finite(col)).as_py() is False:
            return None
    return tbl


# Below this size the record parser is faster than starting Arrow's reader (about 1 ms a call).
FAST_MIN_BYTES = 16 << 10


def fast_json(body: bytes, table: Relation) -> pa.Table | None:
    if len(body) < FAST_MIN_BYTES or not _fast_ok(table) or body.lstrip()[:1] != b"{":
        return None
    try:
        body.decode("utf-8")  # Arrow's JSON reader does not check UTF-8 inside strings
        # On the request's own thread: Arrow's pool spends more CPU splitting the body into blocks
        # than it saves (10,000 orders: 7.7 ms of CPU with it, 6.2 without; 120,000: 103 against 64),
        # and the requests of a load already run side by side, next to the step thread.
        tbl = pajson.read_json(io.BytesIO(body), read_options=pajson.ReadOptions(use_threads=False),
                               parse_options=pajson.ParseOptions(explicit_schema=_read_schema(table),
                                                                 unexpected_field_behavior="error"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    return _finite(_finish_fast(tbl, table))


def fast_json_array(body: bytes, table: Relation) -> pa.Table | None:
    """One top-level JSON array of row objects (``array=true``): read as the list field of a wrapper object."""
    stripped = body.strip()
    if len(body) < FAST_MIN_BYTES or not _fast_ok(table) or not stripped.startswith(b"[") \
            or not stripped.endswith(b"]"):
        return None
    wrapped = b'{"rows":' + stripped + b"}"
    row_type = pa.struct(list(_read_schema(table)))
    try:
        body.decode("utf-8")
        tbl = pajson.read_json(
            io.BytesIO(wrapped),
            read_options=pajson.ReadOptions(use_threads=False, block_size=max(1 << 20, len(wrapped) + 64)),
            parse_options=pajson.ParseOptions(explicit_schema=pa.schema([pa.field("rows", pa.list_(row_type))]),
                                              unexpected_field_behavior="error"))
        if tbl.num_rows != 1:
            return None  # several arrays in one body: the record parser handles each on its own
        rows = pa.Table.from_struct_array(tbl.column("rows").combine_chunks().flatten())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    return _finite(_finish_fast(rows, table))


def fast_csv(body: bytes, table: Relation) -> pa.Table | None:
    if len(body) < FAST_MIN_BYTES or not _fast_ok(table) or any(c.type.type == "ARRAY" for c in table.columns):
        return None
    try:
        body.decode("utf-8")
        tbl = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=[c.name for c in table.columns]),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=_read_schema(table), null_values=["", "NULL", "null"], strings_can_be_null=True,
                quoted_strings_can_be_null=False, true_values=["true", "TRUE", "True"],
                false_values=["false", "FALSE", "False"]),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    return _finish_fast(tbl, table)


def parse_body(body: bytes, table: Relation, params: dict[str, str]) -> ParsedBatch:
    """Dispatch on ``format`` (Feldera's default is csv)."""
    fmt = params.get("format", "csv")
    if body.startswith(b"\xef\xbb\xbf"):
        # A UTF-8 byte order mark (Excel's "CSV UTF-8" starts with one) is not part of the first field.
        body = body[3:]
    fast = None
    if fmt == "json" and params.get("update_format", "insert_delete") == "raw" \
            and params.get("json_flavor", "default") == "default":
        fast = fast_json_array(body, table) if params.get("array") == "true" else fast_json(body, table)
    elif fmt == "csv" and not starts_with_header(body, table):  # the record parser says what a header is
        fast = fast_csv(body, table)
    if fast is not None:
        return ParsedBatch(_ops=None, num_records=fast.num_rows, num_bytes=len(body), arrow=fast)
    if fmt == "json":
        return parse_json_body(
            body, table,
            update_format=params.get("update_format", "insert_delete"),
            array=_flag(params, "array"),
            flavor=params.get("json_flavor", "default"),
        )
    if fmt == "csv":
        batch = parse_csv_body(body, table)
        if batch.num_errors and body.lstrip()[:1] in (b"{", b"["):
            # JSON sent without format=json (csv is the default, as Feldera's) fails on its quotes, which
            # says nothing of the cause
            batch.hint = ("the body looks like JSON but was read as CSV, the default format: add format=json "
                          "to the URL, and update_format=raw if the records are bare rows rather than "
                          '{"insert": row} / {"delete": row} events')
        return batch
    raise UnknownInputFormat(f"unknown input format '{fmt}': use json or csv", {"format": fmt})


def _flag(params: dict[str, str], name: str, default: bool = False) -> bool:
    v = params.get(name)
    if v is None or v == "":
        return default
    if v in ("true", "false"):
        return v == "true"
    raise InvalidParam(f"parameter '{name}' must be true or false, not '{v}'", {"parameter": name, "value": v})


__all__ = ["encode_ops", "ingest_answer", "parse_body", "parse_json_body"]


def ingest_answer(batch: ParsedBatch, token: str) -> tuple[int, dict]:
    """The HTTP reply to an ingress request: 200 with the token, or 400 ParseErrors keeping the good records."""
    if not batch.num_errors:
        return 200, {"token": token}
    shown = batch.errors
    # Feldera's words exactly, "(1 errors)" included (its PipelineError::ParseErrors): clients match on them.
    head = f"Errors parsing input data ({batch.num_errors} errors)" if len(shown) == batch.num_errors else \
        f"Errors parsing input data (reporting {len(shown)} out of {batch.num_errors} total errors)"
    lines = [f"    Parse error (event #{e['event_number']}, line {e['line']}): {e['description']}" for e in shown[:20]]
    # a wrong parameter of the request is named in the message too, once: a reader of the message alone
    # learns what to change (a record's own suggestion stays in its details)
    fixes = [f for f in dict.fromkeys([batch.hint] + [e["suggestion"] for e in shown])
             if f and (f == batch.hint or f in REQUEST_HINTS)]
    if fixes:
        lines.append("To fix: " + "; ".join(fixes) + ".")
    return 400, ParseErrors(
        head + ":\n" + "\n".join(lines) + f"\n{batch.num_records} good records were kept (token {token}).",
        {"num_errors": batch.num_errors, "errors": shown, "num_records_kept": batch.num_records, "token": token},
    ).to_dict()


def encode_ops(table: Relation, ops: list[tuple[int, tuple]]) -> bytes:
    """Operations as NDJSON insert/delete/update events, which ``parse_json_body`` reads back to the same ops."""
    from .catalog import json_default, row_encoder
    enc = row_encoder(table.columns)

    def event(w: int, row: tuple) -> dict:
        if w == UPDATE:
            named = enc(tuple(None if v is KEEP else v for v in row))
            return {"update": {c.name: named[c.name] for c, v in zip(table.columns, row) if v is not KEEP}}
        return {"insert" if w > 0 else "delete": enc(row)}
    return b"\n".join(orjson.dumps(event(w, r), default=json_default) for w, r in ops)
