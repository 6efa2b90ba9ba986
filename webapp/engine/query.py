"""Ad-hoc SQL: read-only queries against the last completed step, and INSERT through ingress.

What a statement is comes from DuckDB's own parser (``extract_statements``), never from string
matching: SELECT (including ``WITH ... SELECT`` and ``VALUES``) and EXPLAIN run on a cursor of the
pipeline's locked-down database (no files, network or extensions); ``INSERT INTO t [(cols)] <query>``
evaluates its query, then sends the rows through the same path as HTTP ingress. Anything else is
refused with ``AdHocQueryError``.
"""

from __future__ import annotations

from typing import Iterator

import duckdb
import orjson

from .catalog import Column, duckdb_to_column_type, json_default, row_encoder
from .errors import AdHocQueryError, UnknownInputStream
from .ingress import ParsedBatch, RecordError, RowConverter
from .sql import _clean_duck_message, _duck_error_offset, ident_name, tokenize

FETCH_ROWS = 2048
INTERNAL_PREFIX = "__sluice"


def _statement(sql: str):
    try:
        stmts = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise AdHocQueryError(_clean_duck_message(str(e)), _error_details(str(e), sql)) from None
    if len(stmts) != 1:
        raise AdHocQueryError(f"send exactly one statement (found {len(stmts)})", {"sql": sql})
    return stmts[0]


def _error_details(msg: str, sql: str) -> dict:
    """``{"sql"}``, plus ``line`` and ``column`` (1-based) where DuckDB's message points at a place."""
    details: dict = {"sql": sql}
    at = _duck_error_offset(msg, sql)
    if at is not None:
        before = sql[:at]
        details["line"] = before.count("\n") + 1
        details["column"] = at - (before.rfind("\n") + 1) + 1
    return details


def classify(sql: str) -> str:
    """'select' | 'insert'; raises AdHocQueryError for anything else."""
    st = _statement(sql)
    t = st.type
    if t in (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN):
        return "select"
    if t == duckdb.StatementType.INSERT:
        return "insert"
    name = str(t).split(".")[-1]
    raise AdHocQueryError(
        f"{name} statements are not allowed here: ad-hoc queries may only SELECT (or EXPLAIN), or INSERT INTO a table",
        {"statement_type": name})


def _check_internal(sql: str, hidden: set[str] = frozenset()) -> None:
    for t in tokenize(sql):
        if t.kind not in ("word", "qident"):
            continue
        name = ident_name(t)[0]
        if name.lower().startswith(INTERNAL_PREFIX):
            raise AdHocQueryError(f"'{name}' is internal to the engine and cannot be queried", None)
        if name in hidden:
            raise AdHocQueryError(f"'{name}' is a LOCAL view: it is not visible outside the program", None)


def run_select(db, sql: str, program=None):
    """Execute; returns (cursor, columns). Errors before any row is sent raise AdHocQueryError."""
    _check_internal(sql, {v.name for v in program.views if v.kind == "local_view"} if program else frozenset())
    cur = db.cursor()
    try:
        cur.execute(sql)
    except duckdb.Error as e:
        cur.close()
        raise AdHocQueryError(_clean_duck_message(str(e)), _error_details(str(e), sql)) from None
    cols = [Column(d[0], duckdb_to_column_type(str(d[1]))) for d in cur.description]
    return cur, cols


def iter_rows(cur) -> Iterator[list[tuple]]:
    try:
        while True:
            rows = cur.fetchmany(FETCH_ROWS)
            if not rows:
                return
            yield rows
    finally:
        cur.close()


def json_lines(cur, cols) -> Iterator[bytes]:
    enc = row_encoder(cols)
    try:
        for rows in iter_rows(cur):
            yield b"".join(orjson.dumps(enc(r), default=json_default) + b"\n" for r in rows)
    except duckdb.Error as e:
        yield orjson.dumps({"error": _clean_duck_message(str(e))}) + b"\n"


def text_table(cur, cols) -> Iterator[bytes]:
    """An ASCII table like Arrow's ``pretty_format_batches``; widths need every row, so it is built whole."""
    enc = row_encoder(cols)
    names = [c.name for c in cols]
    body: list[list[str]] = []
    try:
        for rows in iter_rows(cur):
            for r in rows:
                d = enc(r)
                body.append([_cell(d[n]) for n in names])
    except duckdb.Error as e:
        yield f"ERROR: {_clean_duck_message(str(e))}\n".encode()
        return
    widths = [max([len(n)] + [len(row[i]) for row in body]) for i, n in enumerate(names)]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"
    out = [sep, "|" + "|".join(f" {n:<{w}} " for n, w in zip(names, widths)) + "|\n", sep]
    for row in body:
        out.append("|" + "|".join(f" {v:<{w}} " for v, w in zip(row, widths)) + "|\n")
    out.append(sep)
    yield "".join(out).encode()


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict)):
        return orjson.dumps(v, default=json_default).decode()
    return str(v)


def parse_insert(db, sql: str, program) -> tuple:
    """Evaluate ``INSERT INTO t [(cols)] <query>``; returns (table, ParsedBatch of inserts)."""
    toks = [t for t in tokenize(sql) if t.kind not in ("space", "comment")]
    i = 0
    if len(toks) < 3 or toks[0].upper != "INSERT" or toks[1].upper != "INTO":
        raise AdHocQueryError("only INSERT INTO <table> [(columns)] VALUES ... / SELECT ... is supported", None)
    name, _ = ident_name(toks[2])
    i = 3
    if i < len(toks) and toks[i].text == ".":
        raise AdHocQueryError("qualified table names are not supported here", None)
    table = program.table(f'"{name}"') or program.table(name)
    if table is None:
        raise UnknownInputStream(name)
    cols = None
    if i < len(toks) and toks[i].text == "(":
        cols = []
        i += 1
        while i < len(toks) and toks[i].text != ")":
            if toks[i].text != ",":
                cols.append(ident_name(toks[i])[0])
            i += 1
        i += 1
    if i >= len(toks):
        raise AdHocQueryError("INSERT needs VALUES or a query", None)
    query = sql[toks[i].pos:].rstrip().rstrip(";")
    cur, _ = run_select(db, query, program)
    try:
        rows = cur.fetchall()
    except duckdb.Error as e:
        raise AdHocQueryError(_clean_duck_message(str(e)), None) from None
    finally:
        cur.close()
    conv = RowConverter(table)
    names = cols or table.column_names
    if rows and len(rows[0]) != len(names):
        raise AdHocQueryError(f"INSERT gives {len(rows[0])} values for {len(names)} columns", None)
    batch = ParsedBatch()
    for n, r in enumerate(orjson.loads(orjson.dumps(rows, default=str)), 1):
        try:
            batch._ops.append((1, conv.convert(dict(zip(names, r)))))
        except RecordError as e:
            raise AdHocQueryError(f"row {n}: {e.description}", {"row": n, "field": e.field}) from None
    batch.num_records = len(batch.ops)
    return table, batch


__all__ = ["classify", "run_select", "json_lines", "text_table", "parse_insert"]


# -- binary and other result formats ---------------------------------------------------------------

class _Sink:
    """A write-only file for pyarrow writers whose bytes are handed out as they come."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.closed = False
        self.pos = 0

    def write(self, b) -> int:
        b = bytes(b)
        self.parts.append(b)
        self.pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def _batches(cur):
    try:
        reader = cur.to_arrow_reader(FETCH_ROWS * 8)
        for batch in reader:
            yield batch
    finally:
        cur.close()


def arrow_stream(cur, cols) -> Iterator[bytes]:
    import pyarrow as pa
    sink = _Sink()
    writer = None
    try:
        for batch in _batches(cur):
            if writer is None:
                writer = pa.ipc.new_stream(sink, batch.schema)
            writer.write_batch(batch)
            yield sink.take()
        if writer is None:  # no rows: the schema alone
            writer = pa.ipc.new_stream(sink, _empty_schema(cols))
        writer.close()
        yield sink.take()
    except duckdb.Error:
        return  # mid-stream errors end the body, as in Feldera


def parquet_stream(cur, cols) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    sink = _Sink()
    writer = None
    try:
        for batch in _batches(cur):
            batch = _parquet_safe(batch)
            if writer is None:
                writer = pq.ParquetWriter(sink, batch.schema)
            writer.write_table(pa.Table.from_batches([batch]))
            yield sink.take()
        if writer is None:
            writer = pq.ParquetWriter(sink, _empty_schema(cols))
        writer.close()
        yield sink.take()
    except duckdb.Error:
        return


def _parquet_safe(batch):
    """Arrow's Parquet writer has no interval type: an INTERVAL column goes out as a struct of its
    ``months``, ``days`` and ``nanoseconds`` (lossless, and readable as a struct by DuckDB or pandas)."""
    import pyarrow as pa
    if not any(pa.types.is_interval(f.type) for f in batch.schema):
        return batch
    cols, fields = [], []
    for f, col in zip(batch.schema, batch.columns):
        if pa.types.is_interval(f.type):
            vals = col.to_pylist()
            parts = [pa.array([None if v is None else getattr(v, k) for v in vals], type=t)
                     for k, t in (("months", pa.int32()), ("days", pa.int32()), ("nanoseconds", pa.int64()))]
            col = pa.StructArray.from_arrays(parts, names=["months", "days", "nanoseconds"],
                                             mask=pa.array([v is None for v in vals]))
            f = pa.field(f.name, col.type)
        cols.append(col)
        fields.append(f)
    return pa.RecordBatch.from_arrays(cols, schema=pa.schema(fields))


def _empty_schema(cols):
    import pyarrow as pa
    return pa.schema([pa.field(c.name, c.type.arrow()) for c in cols])


def csv_lines(cur, cols) -> Iterator[bytes]:
    """A header line, then one line per row; NULL is an empty field and the empty string ``""``."""
    from .csvfmt import csv_line
    enc = row_encoder(cols)
    names = [c.name for c in cols]
    yield csv_line(names).encode()
    try:
        for rows in iter_rows(cur):
            yield "".join(csv_line([None if (v := enc(r)[n]) is None else _cell(v) for n in names])
                          for r in rows).encode()
    except duckdb.Error as e:
        yield f"ERROR: {_clean_duck_message(str(e))}\n".encode()


def result_hash(cur, cols) -> str:
    """SHA-256 over the sorted per-row hashes: equal results give equal hashes whatever the row order."""
    import hashlib
    enc = row_encoder(cols)
    digests = []
    for rows in iter_rows(cur):
        for r in rows:
            digests.append(hashlib.sha256(orjson.dumps(list(enc(r).values()), default=json_default)).digest())
    digests.sort()
    h = hashlib.sha256()
    h.update(orjson.dumps([c.name for c in cols]))
    for d in digests:
        h.update(d)
    return h.hexdigest()


FORMATS = ("text", "json", "csv", "arrow_ipc", "parquet", "hash")

__all__ += ["arrow_stream", "parquet_stream", "csv_lines", "result_hash", "FORMATS"]
