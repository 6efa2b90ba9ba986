"""DataFrame conversion both ways, and line framing, without a server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.client import SchemaError
from webapp.client._frames import dumps, find_relation, frame_from_changes, match_columns, records
from webapp.client.output import split_lines


def field(name, type_, nullable=True, case_sensitive=False, **extra):
    return {"name": name, "case_sensitive": case_sensitive,
            "columntype": {"type": type_, "nullable": nullable, **extra}}


TABLE = {"name": "t", "case_sensitive": False, "fields": [
    field("id", "BIGINT", nullable=False), field("ts", "TIMESTAMP"), field("d", "DATE"), field("tm", "TIME"),
    field("amount", "DECIMAL", precision=10, scale=2), field("score", "DOUBLE"), field("n", "INTEGER"),
    field("ok", "BOOLEAN"), field("name", "VARCHAR"), field("tags", "ARRAY", component={"type": "VARCHAR"}),
]}


def encode(df):
    return orjson.loads(dumps(records(df, match_columns(df, TABLE))))


def test_timestamps_dates_and_times_go_as_feldera_text_with_nulls():
    df = pd.DataFrame({
        "id": [1, 2, 3],
        "ts": pd.to_datetime(["2024-01-31 13:45:00.123456", None, "2024-02-01"], format="ISO8601"),
        "d": pd.to_datetime(["2024-01-31", "2024-02-29", None]),
        "tm": pd.to_timedelta(["13:45:00", "00:00:00.5", None]),
    })
    out = encode(df)
    assert [r["ts"] for r in out] == ["2024-01-31 13:45:00.123456", None, "2024-02-01 00:00:00.000000"]
    assert [r["d"] for r in out] == ["2024-01-31", "2024-02-29", None]
    assert [r["tm"] for r in out] == ["13:45:00", "00:00:00.500000", None]


def test_timezone_aware_timestamps_are_sent_in_utc():
    df = pd.DataFrame({"id": [1], "ts": pd.to_datetime(["2024-06-01 12:00:00"]).tz_localize("Europe/Paris")})
    assert encode(df)[0]["ts"] == "2024-06-01 10:00:00.000000"


def test_python_objects_in_object_columns():
    df = pd.DataFrame({
        "id": [1, 2],
        "ts": [dt.datetime(2024, 1, 2, 3, 4, 5, 6), None],
        "d": [dt.date(2024, 1, 2), pd.NaT],
        "tm": [dt.time(1, 2, 3), None],
        "amount": [Decimal("12345678.91"), Decimal("NaN")],
        "tags": [["a", "b"], np.array(["c"])],
    })
    out = encode(df)
    assert out[0] == {"id": 1, "ts": "2024-01-02 03:04:05.000006", "d": "2024-01-02", "tm": "01:02:03",
                      "amount": "12345678.91", "tags": ["a", "b"]}
    assert out[1] == {"id": 2, "ts": None, "d": None, "tm": None, "amount": None, "tags": ["c"]}


def test_nan_and_missing_values_become_null_and_whole_floats_become_integers():
    df = pd.DataFrame({"id": [1, 2], "n": [3.0, np.nan], "score": [0.1, np.nan],
                       "ok": pd.array([True, None], dtype="boolean"),
                       "name": pd.array(["x", None], dtype="string"), "amount": [0.1, np.nan]})
    out = encode(df)
    assert out == [{"id": 1, "n": 3, "score": 0.1, "ok": True, "name": "x", "amount": "0.1"},
                   {"id": 2, "n": None, "score": None, "ok": None, "name": None, "amount": None}]
    assert isinstance(out[0]["n"], int)


def test_values_that_cannot_be_sent_are_refused_with_the_column():
    with pytest.raises(SchemaError, match="'score'"):
        encode(pd.DataFrame({"id": [1], "score": [np.inf]}))
    with pytest.raises(SchemaError, match="'n'"):
        encode(pd.DataFrame({"id": [1], "n": [1.5]}))


def test_columns_are_matched_like_sql_identifiers():
    assert [f["name"] for _, f in match_columns(pd.DataFrame({"ID": [1], "Score": [1.0]}), TABLE)] == ["id", "score"]
    with pytest.raises(SchemaError, match="bogus"):
        match_columns(pd.DataFrame({"id": [1], "bogus": [1]}), TABLE)
    with pytest.raises(SchemaError, match="NOT NULL"):
        match_columns(pd.DataFrame({"score": [1.0]}), TABLE)
    with pytest.raises(SchemaError, match="named"):
        match_columns(pd.DataFrame([[1, 2]]), TABLE)
    quoted = {"name": "Q", "case_sensitive": True, "fields": [field("Mixed", "INTEGER", case_sensitive=True)]}
    with pytest.raises(SchemaError):
        match_columns(pd.DataFrame({"mixed": [1]}), quoted)
    assert records(pd.DataFrame({"Mixed": [1]}), match_columns(pd.DataFrame({"Mixed": [1]}), quoted)) == [{"Mixed": 1}]


def test_relations_are_found_like_sql_identifiers():
    info = {"schema": {"inputs": [{"name": "users", "fields": []}],
                       "outputs": [{"name": "Stats", "case_sensitive": True, "fields": []}]}}
    assert find_relation(info, "USERS", inputs=True, outputs=False)[1] == "users"
    assert find_relation(info, "Stats", inputs=False, outputs=True)[1] == '"Stats"'
    assert find_relation(info, '"Stats"', inputs=False, outputs=True)[1] == '"Stats"'
    with pytest.raises(SchemaError, match="users"):
        find_relation(info, "stats", inputs=True, outputs=True)  # quoted names are exact


def test_frames_out_are_typed_by_the_schema():
    fields = [f for f in TABLE["fields"] if f["name"] != "tags"]
    changes = [
        {"id": 1, "ts": "2024-01-31 13:45:00.5", "d": "2024-01-31", "tm": "13:45:00", "amount": "10.50",
         "score": 1.5, "n": 7, "ok": True, "name": "x", "insert_delete": 1},
        {"id": 2, "ts": None, "d": None, "tm": None, "amount": None, "score": None, "n": None, "ok": None,
         "name": None, "insert_delete": -1},
    ]
    df = frame_from_changes(fields, changes)
    assert {k: str(v) for k, v in df.dtypes.items()} == {
        "id": "Int64", "ts": "datetime64[us]", "d": "datetime64[us]", "tm": "timedelta64[us]", "amount": "object",
        "score": "Float64", "n": "Int32", "ok": "boolean", "name": "string", "insert_delete": "int64"}
    assert df["ts"][0] == pd.Timestamp("2024-01-31 13:45:00.5") and df["amount"][0] == Decimal("10.50")
    assert df.iloc[1].drop(["id", "insert_delete"]).isna().all()
    empty = frame_from_changes(fields, [])
    assert list(empty.columns) == [f["name"] for f in fields] + ["insert_delete"] and len(empty) == 0
    assert str(empty["id"].dtype) == "Int64"


@settings(deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=30).filter(lambda b: b"\n" not in b and b.strip()), max_size=8),
       st.lists(st.integers(min_value=0, max_value=400), max_size=10), st.booleans())
def test_split_lines_does_not_care_where_the_bytes_were_cut(lines, cuts, crlf):
    body = b"".join(line + (b"\r\n" if crlf else b"\n") for line in lines)
    points = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    pieces = [body[a:b] for a, b in zip(points, points[1:])]
    assert list(split_lines(pieces)) == [line.rstrip(b"\r") for line in lines]
