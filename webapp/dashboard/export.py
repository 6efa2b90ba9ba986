"""Query results as downloads: CSV written from the engine's typed Arrow stream, NDJSON and Parquet passed through.

- **CSV** is written here, batch by batch, from ``format=arrow_ipc``, because only the column types tell
  text from numbers: a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
  prefixed with ``'`` so a spreadsheet shows it instead of running it as a formula (a VARCHAR ``"-1"`` is
  text and is escaped; an INT ``-1``, such as a weight column, is a number and is not). Column names are
  text too. Values are spelled as the engine's own CSV spells them (``true``/``false``, DECIMAL digits as
  stored, ``YYYY-MM-DD HH:MM:SS[.ffffff]``, arrays as JSON), NULL as an empty field and the empty string
  as ``""``, as the engine's CSV reader tells them apart (it also reads a bare ``NULL``/``null`` as NULL, so
  that text is quoted too): a download uploaded again gives the same rows.
- **NDJSON** is the engine's ``format=json`` as it is (no escaping: JSON is data, not formulas), except that
  an error line the engine appends mid-stream ends the download instead of becoming a row.
- **Parquet** is the engine's ``format=parquet`` as it is.

Nothing holds a whole result: each function takes the upstream body as an iterator of byte chunks and
yields bytes as they can be written.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Iterable, Iterator

import orjson

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXTENSIONS = {"csv": "csv", "json": "ndjson", "parquet": "parquet"}
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/x-ndjson",
               "parquet": "application/vnd.apache.parquet"}


class ExportError(Exception):
    """Raised when the upstream answer ends in an error after the download began (the body is cut short)."""


def escape_text(text: str) -> str:
    """``text`` as a spreadsheet will show it and never run it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _number(v) -> str:
    return str(v)


def _text(v) -> str:
    return escape_text(v if isinstance(v, str) else str(v))


def _boolean(v) -> str:
    return "true" if v else "false"


def _timestamp(v) -> str:
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f") if v.microsecond else v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def _time(v) -> str:
    if isinstance(v, dt.time):
        return v.strftime("%H:%M:%S.%f") if v.microsecond else v.strftime("%H:%M:%S")
    return str(v)


def _json_default(v):
    if isinstance(v, (Decimal, dt.timedelta)):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    raise TypeError(f"cannot encode {type(v).__name__}")


def _nested(v) -> str:
    return escape_text(orjson.dumps(v, default=_json_default).decode())


def cell_writer(arrow_type):
    """How a non-null value of ``arrow_type`` is written; text types are escaped, numbers never."""
    import pyarrow.types as t

    if t.is_dictionary(arrow_type):
        return cell_writer(arrow_type.value_type)
    if t.is_boolean(arrow_type):
        return _boolean
    if t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return _number
    if t.is_timestamp(arrow_type):
        return _timestamp
    if t.is_time(arrow_type):
        return _time
    if t.is_date(arrow_type):
        return lambda v: v.isoformat()
    if t.is_list(arrow_type) or t.is_large_list(arrow_type) or t.is_struct(arrow_type) or t.is_map(arrow_type):
        return _nested
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type) or t.is_fixed_size_binary(arrow_type):
        return lambda v: v.hex()
    return _text  # strings, and anything else is shown as text: escaped


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what pyarrow's stream reader wants)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        while not self._rest:
            try:
                self._rest = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buf), len(self._rest))
        buf[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


def _csv_field(s: str | None) -> str:
    if s is None:
        return ""
    if s in ("", "NULL", "null") or any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def csv_line(cells: list[str | None]) -> str:
    """One CSV record: None (NULL) an empty field, the empty string ``""``, quoting only where needed."""
    return ",".join(_csv_field(c) for c in cells) + "\r\n"


def csv_from_arrow(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """CSV (header line, then rows) from an Arrow IPC stream given as byte chunks, one record batch at a time."""
    import pyarrow as pa

    reader = pa.ipc.open_stream(io.BufferedReader(_ChunkReader(chunks), 1 << 16))
    schema = reader.schema
    writers = [cell_writer(f.type) for f in schema]
    yield csv_line([escape_text(f.name) for f in schema]).encode()
    for batch in reader:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        yield "".join(csv_line([None if v is None else fmt(v) for fmt, v in zip(writers, row)])
                      for row in zip(*columns)).encode()


def ndjson_passthrough(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The engine's NDJSON rows as they come; raises ``ExportError`` at an error line appended mid-stream
    (``{"error": ...}`` where the rows have other columns), so the download fails instead of ending quietly."""
    first_keys = None
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        whole, rest = data[:cut], data[cut:]
        if not whole:
            continue
        for line in whole.splitlines():
            if not line.strip():
                continue
            if first_keys is None:
                first_keys = _keys(line)
            elif line.startswith(b'{"error"') and first_keys != {"error"}:
                _raise_if_error(line)
        yield whole
    if rest.strip():
        if first_keys is not None and rest.startswith(b'{"error"') and first_keys != {"error"}:
            _raise_if_error(rest)
        yield rest


def _keys(line: bytes) -> set | None:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return set(row) if isinstance(row, dict) else None


def _raise_if_error(line: bytes) -> None:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return
    if isinstance(row, dict) and set(row) == {"error"}:
        raise ExportError(f"the query failed part way: {row['error']}")


def filename(pipeline: str, what: str, fmt: str, now: dt.datetime | None = None) -> str:
    """``<pipeline>-<what>-YYYYMMDD-HHMMSS.<ext>``, with only safe characters."""
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{pipeline}-{what}")[:120]
    return f"{safe}-{stamp}.{EXTENSIONS[fmt]}"


__all__ = ["escape_text", "cell_writer", "csv_line", "csv_from_arrow", "ndjson_passthrough", "filename",
           "ExportError", "FORMULA_STARTS", "EXTENSIONS", "MEDIA_TYPES"]
