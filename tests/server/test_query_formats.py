"""Every query format read back with its own reader; the lock-down refuses every way out to files or the net;
time series and Prometheus metrics."""

import csv
import datetime as dt
import io
from decimal import Decimal

import orjson
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest

from webapp.engine.testing import wait_processed, wait_status, wait_until

SQL = """CREATE TABLE q (id INT NOT NULL, name VARCHAR, amount DECIMAL(8, 2), at TIMESTAMP, ok BOOLEAN);
CREATE MATERIALIZED VIEW qv AS SELECT * FROM q;"""
ROWS = [
    {"id": 1, "name": 'a,b "quoted"', "amount": "1.50", "at": "2026-01-02 03:04:05", "ok": True},
    {"id": 2, "name": None, "amount": None, "at": None, "ok": False},
    {"id": 3, "name": "line\nbreak", "amount": "-7.25", "at": "2026-12-31 23:59:59", "ok": None},
]
SELECT = "SELECT * FROM qv ORDER BY id"


@pytest.fixture(scope="module")
def qp(engine):
    c = engine.client()
    c.put("/pipelines/qformats", json={"program_code": SQL})
    c.post("/pipelines/qformats/start")
    wait_status(c, "qformats", "Running")
    body = b"\n".join(orjson.dumps(r) for r in ROWS)
    wait_processed(c, "qformats", c.post("/pipelines/qformats/ingress/q?format=json&update_format=raw",
                                         content=body).json()["token"])
    yield c
    c.post("/pipelines/qformats/stop?force=true")


def _q(c, fmt, sql=SELECT):
    r = c.get("/pipelines/qformats/query", params={"sql": sql, "format": fmt})
    assert r.status_code == 200, r.text
    return r


EXPECTED = [
    (1, 'a,b "quoted"', Decimal("1.50"), dt.datetime(2026, 1, 2, 3, 4, 5), True),
    (2, None, None, None, False),
    (3, "line\nbreak", Decimal("-7.25"), dt.datetime(2026, 12, 31, 23, 59, 59), None),
]


def test_arrow_ipc(qp):
    r = _q(qp, "arrow_ipc")
    assert r.headers["content-type"] == "application/octet-stream"
    t = pa.ipc.open_stream(r.content).read_all()
    assert [tuple(row.values()) for row in t.to_pylist()] == EXPECTED
    assert t.schema.field("amount").type == pa.decimal128(8, 2)


def test_parquet(qp):
    r = _q(qp, "parquet")
    assert r.headers["content-disposition"].startswith("attachment; filename=results_")
    t = pq.read_table(io.BytesIO(r.content))
    assert [tuple(row.values()) for row in t.to_pylist()] == EXPECTED


def test_json_and_csv_and_text(qp):
    # JSON as Feldera writes ad-hoc results (Arrow's JSON writer): a DECIMAL a number with its scale's digits, a
    # TIMESTAMP with a T; CSV keeps its own forms.
    lines = _q(qp, "json").text.splitlines()
    assert lines[0] == '{"id":1,"name":"a,b \\"quoted\\"","amount":1.50,"at":"2026-01-02T03:04:05","ok":true}'
    assert orjson.loads(lines[1]) == {"id": 2, "name": None, "amount": None, "at": None, "ok": False}
    # chrono's display, which Arrow's writer uses: a fraction only when not zero, in groups of three digits.
    times = ("SELECT TIME '14:23:44.456' AS ms, TIME '14:23:44.123654' AS us, TIME '14:23:44' AS s, "
             "TIMESTAMP '2020-06-21 14:23:44.1' AS ts, "
             "CAST('12345678901234567890.1234567890' AS DECIMAL(38, 10)) AS d")
    assert _q(qp, "json", times).text == ('{"ms":"14:23:44.456","us":"14:23:44.123654","s":"14:23:44",'
                                          '"ts":"2020-06-21T14:23:44.100","d":12345678901234567890.1234567890}\n')
    r = _q(qp, "csv")
    assert r.headers["content-type"] == "text/csv"
    got = list(csv.reader(io.StringIO(r.text)))
    assert got[0] == ["id", "name", "amount", "at", "ok"]
    assert got[1] == ["1", 'a,b "quoted"', "1.50", "2026-01-02 03:04:05", "true"]
    assert got[3][1] == "line\nbreak"
    t = _q(qp, "text")
    assert t.headers["content-type"] == "text/plain" and "| id | name" in t.text


def test_hash_ignores_row_order_and_sees_any_change(qp):
    h1 = _q(qp, "hash", "SELECT * FROM qv ORDER BY id").text
    h2 = _q(qp, "hash", "SELECT * FROM qv ORDER BY id DESC").text
    h3 = _q(qp, "hash", "SELECT * FROM qv WHERE id < 3").text
    assert len(h1) == 64 and h1 == h2 and h1 != h3


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_json('/etc/passwd')", "SELECT * FROM read_json_auto('/etc/passwd')",
    "SELECT * FROM read_parquet('/tmp/x.parquet')", "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')", "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM glob('/*')", "SELECT * FROM '/etc/passwd'", "SELECT * FROM read_csv('http://127.0.0.1:1/x.csv')",
    "COPY q TO '/tmp/out.csv'", "COPY (SELECT 1) TO '/tmp/out.csv'", "ATTACH '/tmp/other.db'",
    "INSTALL httpfs", "LOAD httpfs", "PRAGMA version", "SET threads = 4", "SET enable_external_access = true",
    "CREATE TABLE x (a INT)", "DROP TABLE q", "DELETE FROM q", "UPDATE q SET id = 0", "EXPORT DATABASE '/tmp/db'",
    "SELECT * FROM __sluice_state_qv", "CALL pragma_version()",
])
def test_lockdown_refuses(qp, sql):
    r = qp.get("/pipelines/qformats/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 400, (sql, r.text)
    assert r.json()["error_code"] == "AdHocQueryError"
    assert len(_q(qp, "json").text.splitlines()) == 3  # and nothing changed


def test_time_series_and_metrics(qp):
    # samples are taken once a second: wait for one taken after the rows were processed
    ts = wait_until(lambda: (t := qp.get("/pipelines/qformats/time_series").json())["samples"]
                    and t["samples"][-1]["r"] == 3 and t, 10, "a time-series sample counting the 3 rows")
    assert ts["samples"][-1]["t"] <= ts["now"]
    m = qp.get("/metrics")
    assert m.headers["content-type"].startswith("text/plain")
    assert 'records_processed_total{pipeline="qformats"} 3' in m.text
    assert 'sluice_pipeline_up{pipeline="qformats"} 1' in m.text


def test_csv_keeps_null_and_the_empty_string_apart_and_reads_back(qp, http, make_pipeline):
    """A query's CSV, and a view's CSV egress, posted back to a table's CSV ingress give the same rows."""
    sql = "SELECT * FROM (VALUES (1, ''), (2, NULL), (3, 'NULL'), (4, ' pad '), (5, 'a,\"b\"')) v(id, s) ORDER BY id"
    text = _q(qp, "csv", sql).text
    assert text.splitlines()[:3] == ["id,s", '1,""', "2,"]
    p = make_pipeline("CREATE TABLE back (id INT NOT NULL, s VARCHAR) WITH ('materialized' = 'true');")
    body = "".join(text.splitlines(keepends=True)[1:]).encode()
    r = http.post(f"/pipelines/{p}/ingress/back", params={"format": "csv"}, content=body)
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    while http.get(f"/pipelines/{p}/completion_status", params={"token": token}).json()["status"] != "complete":
        pass
    got = http.get(f"/pipelines/{p}/query", params={"sql": "SELECT * FROM back ORDER BY id", "format": "json"})
    assert [orjson.loads(x) for x in got.text.splitlines()] == [
        {"id": 1, "s": ""}, {"id": 2, "s": None}, {"id": 3, "s": "NULL"}, {"id": 4, "s": " pad "},
        {"id": 5, "s": 'a,"b"'}]


def test_parquet_writes_intervals_as_structs(qp):
    r = _q(qp, "parquet", "SELECT INTERVAL 3 DAY AS i, NULL::INTERVAL AS n, INTERVAL 1 MONTH + INTERVAL 5 SECOND AS m")
    t = pq.read_table(io.BytesIO(r.content))
    assert t.to_pylist() == [{"i": {"months": 0, "days": 3, "nanoseconds": 0}, "n": None,
                              "m": {"months": 1, "days": 0, "nanoseconds": 5_000_000_000}}]


def test_columns_named_alike_keep_their_own_values(qp):
    """``a.id`` and ``b.id`` are both ``id``: text, CSV and Arrow give each column its own value;
    JSON, whose rows are objects, refuses by name and says what to do."""
    sql = "SELECT a.id, b.id, a.amount, b.amount FROM qv a JOIN qv b ON b.id = a.id + 1 ORDER BY a.id"
    rows = list(csv.reader(io.StringIO(_q(qp, "csv", sql).text)))
    assert rows == [["id", "id", "amount", "amount"], ["1", "2", "1.50", ""], ["2", "3", "", "-7.25"]]
    text = _q(qp, "text", sql).text.splitlines()
    assert [[c.strip() for c in line.strip("|").split("|")] for line in text[3:5]] == [
        ["1", "2", "1.50", ""], ["2", "3", "", "-7.25"]]
    tbl = pa.ipc.open_stream(_q(qp, "arrow_ipc", sql).content).read_all()
    assert tbl.column(0).to_pylist() == [1, 2] and tbl.column(1).to_pylist() == [2, 3]
    assert _q(qp, "hash", sql).text != _q(qp, "hash", sql.replace("b.id, a.amount", "a.id AS b_id, a.amount")).text
    r = qp.get("/pipelines/qformats/query", params={"sql": "SELECT 1 AS x, 2 AS x", "format": "json"})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error_code"] == "AdHocQueryError" and "two columns named 'x'" in body["message"]
    assert "AS" in body["message"] and body["details"]["positions"] == [1, 2]
