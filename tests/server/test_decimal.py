"""DECIMAL values up to precision 38 through the real engine: JSON and CSV ingress, egress and query output.

The rules under test (docs/api.md, docs/sql.md): a value reads exactly whether it is written as a JSON
number or as a string; output is the exact value with the column's scale, a string in change streams and a
JSON number in ad-hoc query results (Feldera's forms: the rows read here are that number's text); more fractional
digits than the scale are rounded to nearest, ties away from zero (Feldera's rounding of casts between
DECIMAL types); more integer digits than ``precision - scale`` fail that record with a ParseError, and the
good records of the same request are kept. Every expected value below is written out from these rules.
"""

from __future__ import annotations

from decimal import Decimal

import orjson
from sluice_support import assert_error, completion, query_json, wait_until

SQL = """
CREATE TABLE t (id INT NOT NULL, c DECIMAL(38, 18));
CREATE TABLE whole (id INT NOT NULL, c DECIMAL(38, 0));
CREATE TABLE frac (id INT NOT NULL, c DECIMAL(38, 38));
CREATE MATERIALIZED VIEW tv AS SELECT * FROM t;
"""

MAX_38_18 = "99999999999999999999.999999999999999999"  # 20 + 18 digits
MAX_38_0 = "9" * 38
MAX_38_38 = "0." + "9" * 38


def _done(http, name, token):
    wait_until(lambda: completion(http, name, token)["status"] == "complete", 20, what=f"token {token}")


def _number_text(v):
    # A DECIMAL with scale 0 has no fraction: JSON reads it as an int.
    assert v is None or isinstance(v, (Decimal, int)) and not isinstance(v, bool), f"{v!r} is not a JSON number"
    return None if v is None else format(v, "f") if isinstance(v, Decimal) else str(v)


def _rows(http, name, table="t"):
    return [(r["id"], _number_text(r["c"]))
            for r in query_json(http, name, f"SELECT id, c FROM {table} ORDER BY id", exact=True)]


def _raw(http, name, table, body: bytes, **params):
    return http.post(f"/pipelines/{name}/ingress/{table}",
                     params={"format": "json", "update_format": "raw", **params}, content=body)


def test_a_large_integer_is_not_an_internal_error(http, make_pipeline):
    """The value of the bug report: 11 integer digits at scale 18 are 29 digits, one more than Python's
    default decimal context holds."""
    name = make_pipeline(SQL)
    r = _raw(http, name, "t", b'{"id": 1, "c": 10000000000}')
    assert r.status_code == 200, r.text
    _done(http, name, r.json()["token"])
    assert _rows(http, name) == [(1, "10000000000.000000000000000000")]


def test_max_precision_values_round_trip_exactly_as_numbers_and_strings(http, make_pipeline):
    name = make_pipeline(SQL)
    body = b"\n".join([
        b'{"id": 1, "c": ' + MAX_38_18.encode() + b"}",
        b'{"id": 2, "c": "-' + MAX_38_18.encode() + b'"}',
        b'{"id": 3, "c": 12345678901234567890.123456789012345678}',
        b'{"id": 4, "c": -0.000000000000000001}',
        b'{"id": 5, "c": 0}',
        b'{"id": 6, "c": "1e19"}',
        b'{"id": 7, "c": -7.5}',
    ])
    r = _raw(http, name, "t", body)
    assert r.status_code == 200, r.text
    _done(http, name, r.json()["token"])
    assert _rows(http, name) == [
        (1, MAX_38_18),
        (2, "-" + MAX_38_18),
        (3, "12345678901234567890.123456789012345678"),
        (4, "-0.000000000000000001"),
        (5, "0.000000000000000000"),
        (6, "10000000000000000000.000000000000000000"),
        (7, "-7.500000000000000000"),
    ]
    for table, big in (("whole", MAX_38_0), ("frac", MAX_38_38)):
        r = _raw(http, name, table, b'{"id": 1, "c": ' + big.encode() + b'}\n{"id": 2, "c": "-' + big.encode() + b'"}')
        assert r.status_code == 200, r.text
        _done(http, name, r.json()["token"])
        assert _rows(http, name, table) == [(1, big), (2, "-" + big)]


def test_csv_ingress_and_csv_query_output_are_exact(http, make_pipeline):
    name = make_pipeline(SQL)
    body = f"1,{MAX_38_18}\n2,-{MAX_38_18}\n3,0.000000000000000001\n4,\"42\"\n".encode()
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "csv"}, content=body)
    assert r.status_code == 200, r.text
    _done(http, name, r.json()["token"])
    r = http.get(f"/pipelines/{name}/query", params={"sql": "SELECT id, c FROM t ORDER BY id", "format": "csv"})
    assert r.status_code == 200, r.text
    assert r.text.splitlines() == ["id,c", f"1,{MAX_38_18}", f"2,-{MAX_38_18}", "3,0.000000000000000001",
                                   "4,42.000000000000000000"]


def test_egress_streams_exact_values(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "tv")
    r = _raw(http, name, "t", f'{{"id": 1, "c": {MAX_38_18}}}\n{{"id": 2, "c": "0.000000000000000001"}}'.encode())
    assert r.status_code == 200, r.text
    events = rd.wait_events(2)
    assert sorted((kind, row["id"], row["c"]) for kind, row in events) == [
        ("insert", 1, MAX_38_18), ("insert", 2, "0.000000000000000001")]


def test_fraction_digits_beyond_the_scale_round_half_away_from_zero(http, make_pipeline):
    name = make_pipeline(SQL)
    body = b"\n".join([
        b'{"id": 1, "c": 0.0000000000000000025}',  # a tie: away from zero (half-even would keep ...002)
        b'{"id": 2, "c": "-0.0000000000000000025"}',
        b'{"id": 3, "c": 1.00000000000000000049999}',  # below the tie: down
        b'{"id": 4, "c": 0.0000000000000000004}',  # rounds to zero
        b'{"id": 5, "c": "99999999999999999999.9999999999999999994"}',  # stays within 20 integer digits
    ])
    r = _raw(http, name, "t", body)
    assert r.status_code == 200, r.text
    _done(http, name, r.json()["token"])
    assert _rows(http, name) == [
        (1, "0.000000000000000003"),
        (2, "-0.000000000000000003"),
        (3, "1.000000000000000000"),
        (4, "0.000000000000000000"),
        (5, MAX_38_18),
    ]


def _assert_refused_and_good_kept(http, name, r, bad_events: list[int], good: list[tuple[int, str]], table="t"):
    err = assert_error(r, 400, "ParseErrors")
    d = err["details"]
    assert [e["event_number"] for e in d["errors"]] == bad_events, d["errors"]
    assert all(e["field"] == "c" and "does not fit DECIMAL" in e["description"] for e in d["errors"]), d["errors"]
    assert d["num_records_kept"] == len(good)
    _done(http, name, d["token"])
    assert _rows(http, name, table) == good


def test_too_many_integer_digits_fail_their_record_and_the_good_ones_are_kept(http, make_pipeline):
    name = make_pipeline(SQL)
    body = b"\n".join([
        b'{"id": 1, "c": 1.5}',
        b'{"id": 2, "c": 123456789012345678901}',  # 21 integer digits, 20 allowed
        b'{"id": 3, "c": "-100000000000000000000"}',
        b'{"id": 4, "c": 99999999999999999999.9999999999999999995}',  # rounding carries to 21 digits
        b'{"id": 5, "c": 1e20}',
        b'{"id": 6, "c": "1e999999999"}',
        b'{"id": 7, "c": "-2.25"}',
    ])
    r = _raw(http, name, "t", body)
    _assert_refused_and_good_kept(http, name, r, [2, 3, 4, 5, 6],
                                  [(1, "1.500000000000000000"), (7, "-2.250000000000000000")])
    r = _raw(http, name, "whole", b'{"id": 1, "c": 1' + b"0" * 38 + b'}\n{"id": 2, "c": 3}')
    _assert_refused_and_good_kept(http, name, r, [1], [(2, "3")], table="whole")
    r = _raw(http, name, "frac", b'{"id": 1, "c": 1}\n{"id": 2, "c": 0.5}')
    _assert_refused_and_good_kept(http, name, r, [1], [(2, "0.50000000000000000000000000000000000000")],
                                  table="frac")


def test_csv_refusals_keep_the_good_records(http, make_pipeline):
    name = make_pipeline(SQL)
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "csv"},
                  content=b"1,10000000000\n2,123456789012345678901\n3,-0.5\n")
    _assert_refused_and_good_kept(http, name, r, [2], [(1, "10000000000.000000000000000000"),
                                                       (3, "-0.500000000000000000")])


def test_large_bodies_are_checked_the_same_way(http, make_pipeline):
    """Bodies of 16 KiB and more are first read by Arrow's readers, which take 21 integer digits into a
    DECIMAL(38, 18) and refuse values that need rounding; the answer must not depend on the size."""
    name = make_pipeline(SQL)
    good = [{"id": i, "c": f"{i}.5"} for i in range(1, 1001)]
    rows = [orjson.dumps(g) for g in good]
    rows[499] = b'{"id": 500, "c": 123456789012345678901}'
    rows[699] = b'{"id": 700, "c": 0.0000000000000000025}'
    body = b"\n".join(rows)
    assert len(body) >= 16 << 10
    r = _raw(http, name, "t", body)
    expected = [(g["id"], f"{g['id']}.500000000000000000") for g in good if g["id"] not in (500, 700)]
    expected.insert(698, (700, "0.000000000000000003"))
    _assert_refused_and_good_kept(http, name, r, [500], expected)

    csv_body = "".join(f"{2000 + i},{MAX_38_18}\n" for i in range(400)).encode() + b"3000,123456789012345678901\n"
    assert len(csv_body) >= 16 << 10
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "csv"}, content=csv_body)
    err = assert_error(r, 400, "ParseErrors")
    assert [e["event_number"] for e in err["details"]["errors"]] == [401]
    _done(http, name, err["details"]["token"])
    [got] = query_json(http, name, "SELECT count(*) AS n, min(c) AS lo, max(c) AS hi FROM t WHERE id >= 2000",
                       exact=True)
    assert (got["n"], _number_text(got["lo"]), _number_text(got["hi"])) == (400, MAX_38_18, MAX_38_18)


def test_a_delete_written_as_a_number_removes_the_row_stored_from_a_string(http, make_pipeline, egress):
    """A delete matches the stored row by its exact value, however either was written."""
    name = make_pipeline(SQL)
    rd = egress(name, "tv")
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"},
                  content=f'{{"insert": {{"id": 1, "c": "{MAX_38_18}"}}}}'.encode())
    _done(http, name, r.json()["token"])
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"},
                  content=f'{{"delete": {{"id": 1, "c": {MAX_38_18}}}}}'.encode())
    assert r.status_code == 200, r.text
    _done(http, name, r.json()["token"])
    assert _rows(http, name) == []
    assert [(k, row["c"]) for k, row in rd.wait_events(2)] == [("insert", MAX_38_18), ("delete", MAX_38_18)]
