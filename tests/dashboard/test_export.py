"""export.py without a server: CSV formula escaping by column type, value spelling, streaming, NDJSON errors;
and query.py's read/write split (``may_write``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pyarrow as pa
import pytest

from webapp.dashboard import export
from webapp.dashboard.query import may_write


def arrow_stream(table: pa.Table, max_chunksize: int | None = None) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        for batch in table.to_batches(max_chunksize=max_chunksize):
            w.write_batch(batch)
    return sink.getvalue()


def pieces(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def read_csv(chunks) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(chunks).decode())))


@pytest.mark.parametrize("text, expected", [
    ("=1+1", "'=1+1"), ("+33", "'+33"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("plain", "plain"), ("", ""), ("a=b", "a=b"), (" =x", " =x"), ("'quoted", "'quoted"),
])
def test_escape_text(text, expected):
    assert export.escape_text(text) == expected


def test_text_cells_are_escaped_and_numbers_are_not():
    """A VARCHAR "-1" is text and gets the prefix; an INT -1 (say, a weight column) and a DECIMAL do not."""
    table = pa.table({
        "name": pa.array(["-1", "=HYPERLINK(\"http://x\")", "+1", "@a", "ok", None], pa.string()),
        "weight": pa.array([-1, 1, -1, 2, -3, None], pa.int64()),
        "price": pa.array([Decimal("-1.50"), Decimal("2.00"), None, Decimal("0.10"), Decimal("-0.01"), None],
                          pa.decimal128(10, 2)),
        "ratio": pa.array([-1.5, 2.0, None, 0.25, -0.0, None], pa.float64()),
    })
    rows = read_csv(export.csv_from_arrow(pieces(arrow_stream(table), 7)))
    assert rows[0] == ["name", "weight", "price", "ratio"]
    assert [r[0] for r in rows[1:]] == ["'-1", "'=HYPERLINK(\"http://x\")", "'+1", "'@a", "ok", ""]
    assert [r[1] for r in rows[1:]] == ["-1", "1", "-1", "2", "-3", ""]
    assert [r[2] for r in rows[1:]] == ["-1.50", "2.00", "", "0.10", "-0.01", ""]
    assert [r[3] for r in rows[1:]] == ["-1.5", "2.0", "", "0.25", "-0.0", ""]


def test_values_are_spelled_like_the_engine_csv():
    table = pa.table({
        "b": pa.array([True, False], pa.bool_()),
        "d": pa.array([dt.date(2024, 2, 29), dt.date(1, 1, 1)], pa.date32()),
        "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2, 3, 4, 5, 120)], pa.timestamp("us")),
        "t": pa.array([dt.time(1, 2, 3), dt.time(1, 2, 3, 5)], pa.time64("us")),
        "arr": pa.array([["=x", "y"], []], pa.list_(pa.string())),
        "ints": pa.array([[-1, 2], None], pa.list_(pa.int32())),
    })
    rows = read_csv(export.csv_from_arrow([arrow_stream(table)]))
    assert rows[1] == ["true", "2024-02-29", "2024-01-02 03:04:05", "01:02:03", '["=x","y"]', "[-1,2]"]
    assert rows[2] == ["false", "0001-01-01", "2024-01-02 03:04:05.000120", "01:02:03.000005", "[]", ""]


def test_column_names_are_text_too():
    table = pa.table({"=cmd": pa.array([1], pa.int32()), "-x": pa.array(["a"], pa.string())})
    assert read_csv(export.csv_from_arrow([arrow_stream(table)]))[0] == ["'=cmd", "'-x"]


def test_quotes_commas_and_newlines_round_trip():
    values = ['a,b', 'say "hi"', "two\nlines", "é€😀"]
    table = pa.table({"s": pa.array(values, pa.string())})
    assert [r[0] for r in read_csv(export.csv_from_arrow([arrow_stream(table)]))[1:]] == values


def test_empty_result_has_the_header():
    table = pa.table({"id": pa.array([], pa.int32()), "name": pa.array([], pa.string())})
    assert read_csv(export.csv_from_arrow([arrow_stream(table)])) == [["id", "name"]]


def test_csv_is_written_batch_by_batch_while_reading():
    """The first rows are out before the rest of the stream has been read (nothing holds the whole result)."""
    n = 50_000
    table = pa.table({"id": pa.array(range(n), pa.int64()), "s": pa.array([f"r{i}" for i in range(n)])})
    data = arrow_stream(table, max_chunksize=1000)
    read = {"bytes": 0}

    def source():
        for piece in pieces(data, 4096):
            read["bytes"] += len(piece)
            yield piece

    out = export.csv_from_arrow(source())
    header = next(out)
    first = next(out)
    assert header.startswith(b"id,s")
    assert first.startswith(b"0,r0\r\n") and first.count(b"\r\n") == 1000
    assert read["bytes"] < len(data) / 4
    rest = b"".join(out)
    assert (first + rest).count(b"\r\n") == n
    assert read["bytes"] == len(data)


def test_ndjson_passes_rows_through_untouched():
    lines = [b'{"name":"=1+1","w":-1}\n', b'{"name":"-1","w":1}\n']
    body = b"".join(lines)
    assert b"".join(export.ndjson_passthrough(pieces(body, 5))) == body


def test_ndjson_error_line_mid_stream_cuts_the_download():
    body = b'{"id":1}\n{"id":2}\n{"error":"Conversion Error: overflow"}\n'
    out = export.ndjson_passthrough(pieces(body, 4))
    got = b""
    with pytest.raises(export.ExportError, match="overflow"):
        for part in out:
            got += part
    assert got == b'{"id":1}\n{"id":2}\n'


def test_ndjson_a_column_named_error_is_data():
    body = b'{"error":"a"}\n{"error":"b"}'
    assert b"".join(export.ndjson_passthrough([body])) == body


def test_filename_is_safe():
    name = export.filename("shop", "../v w", "csv", dt.datetime(2026, 1, 2, 3, 4, 5))
    assert name == "shop-___v_w-20260102-030405.csv"
    assert export.filename("p", "query", "json", dt.datetime(2026, 1, 2)).endswith(".ndjson")


@pytest.mark.parametrize("sql", [
    "SELECT * FROM t", "  select 1", "WITH a AS (SELECT 1) SELECT * FROM a", "VALUES (1)", "-- hi\nSELECT 1",
    "/* c */ (SELECT 1)", "EXPLAIN SELECT 1", "FROM t", "SELECT replace(name, 'a', 'b') FROM t",
    "SELECT updated_at, inserted FROM t",
])
def test_reads(sql):
    assert may_write(sql) is None


@pytest.mark.parametrize("sql, word", [
    ("INSERT INTO t VALUES (1)", "INSERT"), ("insert into t values (1)", "INSERT"),
    ("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", "INSERT"), ("SELECT 1 INTO t2", "INTO"),
    ("SELECT '; INSERT INTO t VALUES (1)'", "INSERT"), ("/* insert */ SELECT 1", "INSERT"),
    ("DELETE FROM t", "DELETE"), ("UPDATE t SET n = 1", "UPDATE"), ("COPY t TO 'x.csv'", "COPY"),
    ("PRAGMA version", "begins with PRAGMA"), ("SET threads = 1", "begins with SET"), ("", "does not begin"),
    ("CALL f()", "begins with CALL"),
    ("SELECT $$'$$ ; WITH x AS (SELECT 1) InSeRt INTO t SELECT 1", "INSERT"),
])
def test_writes(sql, word):
    assert word in may_write(sql)


def test_empty_text_and_null_are_told_apart_as_the_engine_reads_them():
    """The engine's CSV reader takes a bare empty field (or a bare NULL/null) as NULL and ``""`` as the empty
    string: an export uploaded again must give the same rows."""
    table = pa.table({"id": pa.array([1001, 1002, 1003, 1004], pa.int64()),
                      "s": pa.array(["", None, "NULL", 'a,"b"'], pa.string()),
                      "t": pa.array([None, "", "null", "x"], pa.string())})
    text = b"".join(export.csv_from_arrow(pieces(arrow_stream(table), 5))).decode()
    assert text.split("\r\n") == ["id,s,t", '1001,"",', '1002,,""', '1003,"NULL","null"', '1004,"a,""b""",x', ""]
