"""Ad-hoc SQL: reads of the last completed step, and INSERT through ingress.

What a statement is, and what it may read, is decided in ``query_guard`` from DuckDB's own parser.
A read runs on its own cursor inside a READ ONLY transaction that is always rolled back, so even a
statement misclassified as a read cannot change a table; the database itself has no file, network or
extension access and its configuration is locked (``duckconfig.DUCKDB_CONFIG``). Every query runs under
``query_watch``: past its time limit, or once its client has gone, it is interrupted.
``INSERT INTO t [(cols)] <query>`` evaluates its query as such a read, then hands the rows to the
same path as HTTP ingress (write-ahead log first).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Callable, Iterator

import duckdb
import orjson

from . import query_guard as G
from .catalog import Column, duckdb_to_column_type, json_default, row_encoder, row_values
from .errors import AdHocQueryError, QueryTimeout, UnknownInputStream
from .records import ParsedBatch, RecordError, RowConverter
from .query_watch import WATCHDOG
from .sql import _clean_duck_message
from .sql.names import DuckText, duck_text, user_text

FETCH_ROWS = 2048
log = logging.getLogger("sluice.engine")
classify = G.classify


class ReadCursor:
    """A read-only cursor under watch: ``close()`` rolls its transaction back and ends the watch.

    An interruption surfaces as ``duckdb.InterruptException`` whose message says why, so the formats'
    mid-stream error lines explain it."""

    def __init__(self, cur, watch):
        self._cur = cur
        self._watch = watch
        self._closed = False

    @property
    def description(self):
        return self._cur.description

    def _why(self, e: Exception) -> Exception:
        _log_stop(self._watch.reason)
        if self._watch.reason == "timeout":
            return duckdb.InterruptException(_timeout_message(self._watch.timeout))
        if self._watch.reason == "gone":
            return duckdb.InterruptException("query stopped: its client went away")
        return e

    def fetchmany(self, n: int):
        try:
            return self._cur.fetchmany(n)
        except duckdb.Error as e:
            raise self._why(e) from None

    def fetchall(self):
        try:
            return self._cur.fetchall()
        except duckdb.Error as e:
            raise self._why(e) from None

    def to_arrow_reader(self, n: int):
        try:
            for batch in self._cur.to_arrow_reader(n):
                yield batch
        except Exception as e:  # pyarrow's own error type when DuckDB stops mid-batch
            if self._watch.reason is None and not isinstance(e, duckdb.Error):
                raise
            raise self._why(e) from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        WATCHDOG.done(self._watch)
        try:
            self._cur.execute("ROLLBACK")
        except duckdb.Error:
            pass  # a failed or interrupted transaction is already over
        self._cur.close()


def _log_stop(reason: str | None) -> None:
    if reason is not None:
        log.info("ad-hoc query stopped: %s", "past its time limit" if reason == "timeout" else "its client went away")


def _timeout_message(secs: float) -> str:
    return (f"the query ran past its time limit of {secs:g} s and was stopped "
            "(the engine's --query-timeout setting)")


def run_select(db, sql: str, program=None, timeout: float = 0.0,
               gone: Callable[[], bool] | None = None,
               begin: Callable[..., None] | None = None) -> tuple[ReadCursor, list[Column]]:
    """Check and execute a read; returns (cursor, columns). Errors before any row is sent raise
    AdHocQueryError (QueryTimeout past ``timeout`` seconds, 0 meaning none). ``begin(cursor, gone)`` starts
    the read-only transaction (``Runtime.begin_read``: at a step boundary, the views' logs complete)."""
    raw = db.cursor()
    watch = WATCHDOG.watch(raw, timeout, gone, owner=db)
    cur = ReadCursor(raw, watch)
    duck = duck_text(sql)  # the user's quoted names as DuckDB holds them (sql/names.py)
    try:
        if begin is not None:
            begin(raw, gone)
        else:
            raw.execute("BEGIN TRANSACTION READ ONLY")
        if program is not None:
            surf = G.surface(raw, program)
            texts = [t for k, t in G.explained(duck.sql)] \
                if G.statement_kind(G.statements(duck.sql)[0]) == "EXPLAIN" else [duck.sql]
            for text in texts:
                try:
                    G.check_read(raw, text, surf)
                except AdHocQueryError as e:
                    raise _in_user_names(e, sql, duck) from None
        raw.execute(duck.sql)
    except duckdb.Error as e:
        cur.close()
        _log_stop(watch.reason)
        if watch.reason == "timeout":
            raise QueryTimeout(_timeout_message(timeout), {"sql": sql, "timeout_secs": timeout}) from None
        if watch.reason == "gone":
            raise AdHocQueryError("query stopped: its client went away", {"sql": sql}) from None
        raise _in_user_names(AdHocQueryError(_clean_duck_message(str(e)), G.error_details(str(e), duck.sql)),
                             sql, duck) from None
    except BaseException:
        cur.close()
        raise
    # A result column is named after a name (``"^tot"``) or after an expression's text (``upper("^id")``).
    cols = [Column(user_text(d[0]), duckdb_to_column_type(d[1])) for d in raw.description]
    return cur, cols


def _in_user_names(e: AdHocQueryError, sql: str, duck: DuckText) -> AdHocQueryError:
    """``e`` (about ``duck.sql``) told in the user's names, its place a place in the user's text."""
    e.message = user_text(e.message)
    e.args = (e.message,)
    d = e.details
    if isinstance(d, dict) and d.get("sql") == duck.sql and duck.sql != sql:
        d["sql"] = sql
        if "line" in d and "column" in d:
            lines = duck.sql.split("\n")
            at = duck.user_offset(sum(len(x) + 1 for x in lines[: d["line"] - 1]) + d["column"] - 1)
            before = sql[:at]
            d["line"], d["column"] = before.count("\n") + 1, at - (before.rfind("\n") + 1) + 1
    return e


def iter_rows(cur) -> Iterator[list[tuple]]:
    try:
        while True:
            rows = cur.fetchmany(FETCH_ROWS)
            if not rows:
                return
            yield rows
    finally:
        cur.close()


def check_json_names(cur, cols, sql: str) -> None:
    """A JSON row is an object, which holds a name once: refuse (closing ``cur``) a result that names
    two columns alike rather than drop one of them."""
    seen: dict[str, int] = {}
    for i, c in enumerate(cols):
        if c.name in seen:
            cur.close()
            raise AdHocQueryError(
                f"the result has two columns named '{c.name}' (columns {seen[c.name] + 1} and {i + 1}), and a JSON "
                "row holds each name once: name them apart with AS (SELECT a.id AS a_id, b.id AS b_id ...), or "
                "ask for format=csv, text or arrow_ipc, which keep both",
                {"sql": sql, "column": c.name, "positions": [seen[c.name] + 1, i + 1]})
        seen[c.name] = i


def json_lines(cur, cols) -> Iterator[bytes]:
    enc = row_encoder(cols, arrow_json=True)  # Feldera's ad-hoc JSON is Arrow's JSON writer's
    try:
        for rows in iter_rows(cur):
            yield b"".join(orjson.dumps(enc(r), default=json_default) + b"\n" for r in rows)
    except duckdb.Error as e:
        yield orjson.dumps({"error": _clean_duck_message(str(e))}) + b"\n"


def text_table(cur, cols) -> Iterator[bytes]:
    """An ASCII table like Arrow's ``pretty_format_batches``; widths need every row, so it is built whole."""
    enc = row_values(cols, hex_binary=True)
    names = [c.name for c in cols]
    body: list[list[str]] = []
    try:
        for rows in iter_rows(cur):
            for r in rows:
                body.append([_cell(v) for v in enc(r)])
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


def _insert_parts(sql: str) -> tuple[str, list[str] | None, str]:
    """``(table, columns or None, query)`` of ``INSERT INTO table [(columns)] <query>``, split at
    DuckDB's own tokens (so comments and quoting mean what they mean to DuckDB)."""
    toks = G.tokens(sql)

    def text(k: int) -> str:
        return sql[toks[k][0]:toks[k][1]]

    def name(k: int) -> str:
        t = text(k)
        if toks[k][2] not in ("identifier", "keyword"):
            raise AdHocQueryError(f"'{t}' is not a name", {"sql": sql})
        # Feldera's rule: a quoted name is exact, an unquoted one is folded to lower case.
        return t[1:-1].replace('""', '"') if t.startswith('"') else t.lower()

    usage = AdHocQueryError("only INSERT INTO <table> [(columns)] VALUES ... / SELECT ... is supported", {"sql": sql})
    if len(toks) < 4 or text(0).upper() != "INSERT" or text(1).upper() != "INTO":
        raise usage
    table = name(2)
    i = 3
    if text(i) == ".":
        raise AdHocQueryError("qualified table names are not supported here", {"sql": sql})
    cols = None
    if text(i) == "(":
        cols = []
        i += 1
        while i < len(toks) and text(i) != ")":
            if text(i) != ",":
                cols.append(name(i))
            i += 1
        i += 1
    if i >= len(toks):
        raise AdHocQueryError("INSERT needs VALUES or a query", {"sql": sql})
    query = sql[toks[i][0]:]
    stmts = G.statements(query)
    if len(stmts) != 1 or G.statement_kind(stmts[0]) != "SELECT":
        raise usage
    return table, cols, query


def _holds_floats(t) -> bool:
    """Whether a column of type ``t`` holds DOUBLE/REAL values, itself or in an ARRAY or a MAP's values."""
    if t.type in ("DOUBLE", "REAL"):
        return True
    if t.type == "ARRAY":
        return _holds_floats(t.component)
    return t.type == "MAP" and _holds_floats(t.value)


def _assigned(v, t):
    """``v`` as a column of type ``t`` takes it: a DECIMAL (DuckDB's type of a literal such as 1.5) that goes
    into a DOUBLE/REAL becomes that number, also inside an ARRAY or a MAP's values."""
    if v is None or t is None:
        return v
    if isinstance(v, Decimal) and t.type in ("DOUBLE", "REAL"):
        return float(v)
    if isinstance(v, list) and t.type == "ARRAY":
        return [_assigned(x, t.component) for x in v]
    if isinstance(v, dict) and t.type == "MAP":
        return {k: _assigned(x, t.value) for k, x in v.items()}
    return v


def parse_insert(db, sql: str, program, timeout: float = 0.0, gone=None, begin=None) -> tuple:
    """Evaluate ``INSERT INTO t [(cols)] <query>``; returns (table, ParsedBatch of inserts)."""
    name, cols, query = _insert_parts(sql)
    table = program.table(f'"{name}"')
    if table is None:  # a view's name is told apart, as ingress tells it
        raise UnknownInputStream.in_program(program, name, f'"{name}"')
    cur, _ = run_select(db, query, program, timeout, gone, begin)
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
    # A literal such as 33.3 is a DECIMAL to DuckDB: into a DOUBLE/REAL column it is that number (rounded
    # once), as SQL assigns it, not the text "33.3" that ingress would refuse for a floating-point column.
    types = [None if (i := conv.slot(nm)) is None else table.columns[i].type for nm in names]
    if any(t is not None and _holds_floats(t) for t in types):
        rows = [tuple(_assigned(v, t) for v, t in zip(r, types)) for r in rows]
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
    enc = row_values(cols)
    yield csv_line([c.name for c in cols]).encode()
    try:
        for rows in iter_rows(cur):
            yield "".join(csv_line([None if v is None else _cell(v) for v in enc(r)]) for r in rows).encode()
    except duckdb.Error as e:
        yield f"ERROR: {_clean_duck_message(str(e))}\n".encode()


def result_hash(cur, cols) -> str:
    """SHA-256 over the sorted per-row hashes: equal results give equal hashes whatever the row order."""
    import hashlib
    enc = row_values(cols)
    digests = []
    for rows in iter_rows(cur):
        for r in rows:
            digests.append(hashlib.sha256(orjson.dumps(enc(r), default=json_default)).digest())
    digests.sort()
    h = hashlib.sha256()
    h.update(orjson.dumps([c.name for c in cols]))
    for d in digests:
        h.update(d)
    return h.hexdigest()


FORMATS = ("text", "json", "csv", "arrow_ipc", "parquet", "hash")

__all__ += ["arrow_stream", "parquet_stream", "csv_lines", "result_hash", "check_json_names", "FORMATS"]
