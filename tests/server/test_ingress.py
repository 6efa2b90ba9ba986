"""Ingress over real HTTP: JSON (insert_delete and raw, arrays, pandas flavor), CSV, partial acceptance
on parse errors, upsert by primary key, paused pipelines and force, completion tokens."""

from __future__ import annotations

import socket
import threading

import orjson
from sluice_support import (
    assert_error,
    completion,
    data_events,
    ndjson,
    push,
    query_json,
    wait_held_back,
    wait_until,
)

PLAIN = """
CREATE TABLE t (id INT, v VARCHAR);
CREATE MATERIALIZED VIEW all_t AS SELECT * FROM t;
"""

KEYED = """
CREATE TABLE k (id INT NOT NULL PRIMARY KEY, v VARCHAR, n INT);
CREATE MATERIALIZED VIEW kv AS SELECT * FROM k;
"""


def _done(http, name, token, timeout=15.0) -> dict:
    return wait_until(lambda: (c := completion(http, name, token))["status"] == "complete" and c,
                      timeout, what=f"token {token} to complete")


def _rows(http, name, rel="t"):
    return query_json(http, name, f"SELECT * FROM {rel} ORDER BY ALL")


def test_json_insert_delete_is_the_default(http, make_pipeline):
    name = make_pipeline(PLAIN)
    body = ndjson([{"insert": {"id": 1, "v": "a"}}, {"insert": {"id": 2, "v": "b"}}, {"insert": {"id": 3, "v": "c"}}])
    tok = push(http, name, "t", body, format="json")  # no update_format: insert_delete
    c = _done(http, name, tok)
    assert c == {"status": "complete", "step": c["step"]} and isinstance(c["step"], int)
    assert _rows(http, name) == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]

    tok = push(http, name, "t", ndjson([{"delete": {"id": 2, "v": "b"}}]), format="json",
               update_format="insert_delete")
    _done(http, name, tok)
    assert _rows(http, name) == [{"id": 1, "v": "a"}, {"id": 3, "v": "c"}]

    # positional rows, several values per line, a value spread over lines; keys are case-insensitive
    body = b'{"insert": [4, "d"]} {"insert": {"ID": 5,\n "V": "e"}}\n{"delete": [1, "a"]}\n'
    _done(http, name, push(http, name, "t", body, format="json"))
    assert _rows(http, name) == [{"id": 3, "v": "c"}, {"id": 4, "v": "d"}, {"id": 5, "v": "e"}]


def test_json_raw(http, make_pipeline):
    name = make_pipeline(PLAIN)
    tok = push(http, name, "t", ndjson([{"id": 1, "v": "x"}, {"id": 2, "v": None}, {"id": 3}]),
               format="json", update_format="raw")
    _done(http, name, tok)
    assert _rows(http, name) == [{"id": 1, "v": "x"}, {"id": 2, "v": None}, {"id": 3, "v": None}]


def test_json_arrays(http, make_pipeline):
    name = make_pipeline(PLAIN)
    body = orjson.dumps([{"insert": {"id": 1, "v": "a"}}, {"insert": {"id": 2, "v": "b"}}]) + b"\n" + \
        orjson.dumps([{"delete": {"id": 1, "v": "a"}}])
    _done(http, name, push(http, name, "t", body, format="json", update_format="insert_delete", array="true"))
    assert _rows(http, name) == [{"id": 2, "v": "b"}]
    body = orjson.dumps([{"id": 7, "v": "r"}, {"id": 8, "v": "s"}])
    _done(http, name, push(http, name, "t", body, format="json", update_format="raw", array="true"))
    assert _rows(http, name) == [{"id": 2, "v": "b"}, {"id": 7, "v": "r"}, {"id": 8, "v": "s"}]


def test_csv(http, make_pipeline):
    name = make_pipeline(PLAIN)
    body = b'1,plain\n2,"with, comma"\n3,"say ""hi"""\n4,NULL\n5,\n6,""\n'
    _done(http, name, push(http, name, "t", body, format="csv"))
    assert _rows(http, name) == [
        {"id": 1, "v": "plain"}, {"id": 2, "v": "with, comma"}, {"id": 3, "v": 'say "hi"'},
        {"id": 4, "v": None}, {"id": 5, "v": None}, {"id": 6, "v": ""},
    ]
    # no format parameter: CSV is the default
    r = http.post(f"/pipelines/{name}/ingress/t", content=b"7,seven\n")
    assert r.status_code == 200, r.text
    _done(http, name, r.json()["token"])
    assert {"id": 7, "v": "seven"} in _rows(http, name)


def test_a_byte_order_mark_is_not_data(http, make_pipeline):
    """Excel's "CSV UTF-8" starts with a UTF-8 byte order mark: it is not part of the first field, in CSV
    and in JSON, small bodies and large ones (Arrow's reader)."""
    name = make_pipeline(PLAIN)
    bom = b"\xef\xbb\xbf"
    _done(http, name, push(http, name, "t", bom + b"80,bom\n", format="csv"))
    _done(http, name, push(http, name, "t", bom + b'{"id": 81, "v": "json"}', format="json", update_format="raw"))
    big = bom + b"\n".join(b"%d,row%d" % (i, i) for i in range(1000, 3000))  # above ingress.FAST_MIN_BYTES
    _done(http, name, push(http, name, "t", big, format="csv"))
    rows = {r["id"]: r["v"] for r in _rows(http, name)}
    assert rows[80] == "bom" and rows[81] == "json" and rows[1000] == "row1000" and len(rows) == 2002


def test_table_name_is_case_insensitive(http, make_pipeline):
    name = make_pipeline(PLAIN)
    _done(http, name, push(http, name, "T", [{"id": 1, "v": "a"}], update_format="raw", array="true"))
    assert _rows(http, name) == [{"id": 1, "v": "a"}]


def test_json_flavor_pandas(http, make_pipeline):
    name = make_pipeline("CREATE TABLE e (id INT, ts TIMESTAMP, d DATE);\n")
    row = {"id": 1, "ts": 1700000000000, "d": 1700000000000}
    # epoch milliseconds are not timestamps in the default flavor ...
    r = http.post(f"/pipelines/{name}/ingress/e", params={"format": "json", "update_format": "raw"},
                  content=orjson.dumps(row))
    assert_error(r, 400, "ParseErrors")
    # ... but are with json_flavor=pandas
    tok = push(http, name, "e", orjson.dumps(row), format="json", update_format="raw", json_flavor="pandas")
    _done(http, name, tok)
    assert _rows(http, name, "e") == [{"id": 1, "ts": "2023-11-14T22:13:20", "d": "2023-11-14"}]  # ad-hoc: a T


def test_parse_errors_keep_good_records(http, make_pipeline):
    name = make_pipeline(PLAIN)
    body = (b'{"insert": {"id": 1, "v": "a"}}\n'
            b'{"insert": {"id": "two",\n'
            b'  "v": "b"}}\n'
            b'{"insert": {"id": 3, "v": "c"}}\n'
            b'{"insert": {"id": 4, "v": 44}}\n')
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"}, content=body)
    err = assert_error(r, 400, "ParseErrors")
    d = err["details"]
    assert d["num_errors"] == 2
    got = [(e["event_number"], e["line"], e["field"]) for e in d["errors"]]
    assert got == [(2, 2, "id"), (4, 5, "v")]
    assert all(isinstance(e["description"], str) and e["description"] for e in d["errors"])
    # the good records were kept, and the token in details covers them
    _done(http, name, d["token"])
    assert _rows(http, name) == [{"id": 1, "v": "a"}, {"id": 3, "v": "c"}]
    st = http.get(f"/pipelines/{name}/stats").json()
    inp = [i for i in st["inputs"] if i["config"]["stream"] == "t"]
    assert inp and inp[0]["metrics"]["num_parse_errors"] == 2


def test_parse_errors_csv(http, make_pipeline):
    name = make_pipeline(PLAIN)
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "csv"}, content=b"1,a\nx,b\n3,c\n")
    err = assert_error(r, 400, "ParseErrors")
    d = err["details"]
    assert [(e["event_number"], e["line"], e["field"]) for e in d["errors"]] == [(2, 2, "id")]
    _done(http, name, d["token"])
    assert _rows(http, name) == [{"id": 1, "v": "a"}, {"id": 3, "v": "c"}]


def test_a_csv_header_line_is_refused_by_name(http, make_pipeline):
    """CSV ingress reads no header line (as Feldera's): a first line that is the table's column names is not
    stored as a row of a text table, nor refused field by field without a word of why; the rest is kept,
    in a small body and in one Arrow's reader would take."""
    name = make_pipeline("CREATE TABLE c (name VARCHAR NOT NULL PRIMARY KEY, country VARCHAR);\n"
                         "CREATE TABLE n (id INT NOT NULL PRIMARY KEY, v VARCHAR);")
    big = b"\n".join(b"city%d,C%d" % (i, i) for i in range(2000))  # above ingress.FAST_MIN_BYTES
    for table, body, kept in (("c", b"name,country\nOslo,NO\n", 1), ("c", b"\r\nName, Country\r\n" + big, 2000),
                              ("n", b"id,v\n7,x\n", 1)):
        err = assert_error(http.post(f"/pipelines/{name}/ingress/{table}", params={"format": "csv"}, content=body),
                           400, "ParseErrors")
        (e,) = err["details"]["errors"]
        assert e["event_number"] == 1 and "header" in e["description"] and "column names" in e["description"], e
        _done(http, name, err["details"]["token"])
        assert query_json(http, name, f"SELECT count(*) AS c FROM {table}")[0]["c"] >= kept
    assert query_json(http, name, "SELECT count(*) AS c FROM c WHERE name ILIKE 'name'") == [{"c": 0}]
    assert query_json(http, name, "SELECT count(*) AS c FROM c") == [{"c": 2001}]
    # one text column may hold its own name: that is data
    name1 = make_pipeline("CREATE TABLE w (tag VARCHAR);")
    _done(http, name1, push(http, name1, "w", b"tag\nother\n", format="csv"))
    assert query_json(http, name1, "SELECT tag FROM w ORDER BY tag") == [{"tag": "other"}, {"tag": "tag"}]


def test_parse_errors_say_the_missing_parameter_in_the_message(http, make_pipeline):
    """The defaults (format=csv, update_format=insert_delete, as Feldera's) catch out a JSON body sent
    without them: the message, not only details, says which parameter to add. Good records still kept."""
    name = make_pipeline(PLAIN)
    # JSON without format=json is read as CSV
    r = http.post(f"/pipelines/{name}/ingress/t", content=b' {"id": 9, "v": "x"}\n')
    msg = assert_error(r, 400, "ParseErrors")["message"]
    assert "looks like JSON" in msg and "format=json" in msg and "update_format=raw" in msg, msg
    # a real CSV error gets no such hint
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "csv"}, content=b"4,d\nx,b\n")
    assert "format=json" not in assert_error(r, 400, "ParseErrors")["message"]
    # bare rows without update_format=raw: the hint is said once, in the message
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"},
                  content=b'{"insert": {"id": 1, "v": "a"}}\n{"id": 2, "v": "b"}\n{"id": 3, "v": "c"}\n')
    err = assert_error(r, 400, "ParseErrors")
    assert err["message"].count("send bare rows with update_format=raw") == 1, err["message"]
    assert [e["suggestion"] for e in err["details"]["errors"]] == ["send bare rows with update_format=raw"] * 2
    _done(http, name, err["details"]["token"])  # covers the CSV body's good record too
    assert _rows(http, name) == [{"id": 1, "v": "a"}, {"id": 4, "v": "d"}]


def test_parse_errors_array_is_all_or_nothing(http, make_pipeline):
    name = make_pipeline(PLAIN)
    body = orjson.dumps([{"insert": {"id": 1, "v": "a"}}, {"insert": {"id": "bad", "v": "b"}}]) + b"\n" + \
        orjson.dumps([{"insert": {"id": 3, "v": "c"}}]) + b"\n"
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "array": "true"}, content=body)
    err = assert_error(r, 400, "ParseErrors")
    d = err["details"]
    assert [(e["event_number"], e["line"], e["field"]) for e in d["errors"]] == [(2, 1, "id")]
    _done(http, name, d["token"])
    assert _rows(http, name) == [{"id": 3, "v": "c"}]


def test_large_raw_bodies_upsert_by_primary_key(http, make_pipeline, egress):
    """Bodies big enough for the Arrow fast path go into a keyed table as they are when their keys are
    distinct, and through the per-operation path when a key repeats; both upsert."""
    name = make_pipeline(KEYED)
    rd = egress(name, "kv")
    big = lambda ids, v: ndjson([{"id": i, "v": f"{v}{i:05d}", "n": i} for i in ids])  # noqa: E731
    assert len(big(range(1000), "a")) >= 16 << 10  # ingress.FAST_MIN_BYTES
    _done(http, name, push(http, name, "k", big(range(2000), "a"), update_format="raw"))
    _done(http, name, push(http, name, "k", big(range(1000, 3000), "b"), update_format="raw"))
    ev = rd.wait_events(2000 + 1000 + 2000)
    assert sorted(e[1]["id"] for e in ev[2000:] if e[0] == "delete") == list(range(1000, 2000))
    assert {e[1]["v"][0] for e in ev[2000:] if e[0] == "insert"} == {"b"}
    # a key twice in one big body: the last row wins
    _done(http, name, push(http, name, "k", big(range(2000), "c") + big([5], "d"), update_format="raw"))
    rows = query_json(http, name, "SELECT count(*) AS c, count(*) FILTER (WHERE v LIKE 'c%') AS cs, "
                                  "max(v) FILTER (WHERE id = 5) AS five FROM k")
    assert rows == [{"c": 3000, "cs": 1999, "five": "d00005"}]
    ev = rd.wait_events(5000 + 2 * 2000)
    assert len(data_events(rd.chunks)) == 9000  # each replaced row: one delete and one insert


def test_upsert_by_primary_key(http, make_pipeline, egress):
    name = make_pipeline(KEYED)
    rd = egress(name, "kv")
    _done(http, name, push(http, name, "k", [{"insert": {"id": 1, "v": "a", "n": 1}},
                                             {"insert": {"id": 2, "v": "b", "n": 2}}], array="true"))
    assert _rows(http, name, "k") == [{"id": 1, "v": "a", "n": 1}, {"id": 2, "v": "b", "n": 2}]

    # an insert with an existing key replaces the row: the view sees delete old + insert new
    _done(http, name, push(http, name, "k", [{"insert": {"id": 1, "v": "A", "n": 10}}], array="true"))
    assert _rows(http, name, "k") == [{"id": 1, "v": "A", "n": 10}, {"id": 2, "v": "b", "n": 2}]
    ev = rd.wait_events(4)
    assert sorted(ev[2:4], key=lambda e: e[0]) == [("delete", {"id": 1, "v": "a", "n": 1}),
                                                   ("insert", {"id": 1, "v": "A", "n": 10})]

    # the last operation on a key within one request wins
    _done(http, name, push(http, name, "k", [{"insert": {"id": 3, "v": "x", "n": 0}},
                                             {"insert": {"id": 3, "v": "y", "n": 0}},
                                             {"insert": {"id": 4, "v": "gone", "n": 0}},
                                             {"delete": {"id": 4}}], array="true"))
    assert _rows(http, name, "k") == [{"id": 1, "v": "A", "n": 10}, {"id": 2, "v": "b", "n": 2},
                                      {"id": 3, "v": "y", "n": 0}]

    # delete by key only; a delete of a missing key is ignored
    _done(http, name, push(http, name, "k", [{"delete": {"id": 2}}, {"delete": {"id": 99}}], array="true"))
    assert _rows(http, name, "k") == [{"id": 1, "v": "A", "n": 10}, {"id": 3, "v": "y", "n": 0}]
    ev = rd.wait_events(6)
    assert ev[4:] == [("insert", {"id": 3, "v": "y", "n": 0}), ("delete", {"id": 2, "v": "b", "n": 2})]

    # raw rows upsert too
    _done(http, name, push(http, name, "k", [{"id": 3, "v": "z", "n": 5}], update_format="raw", array="true"))
    assert _rows(http, name, "k") == [{"id": 1, "v": "A", "n": 10}, {"id": 3, "v": "z", "n": 5}]
    ev = rd.wait_events(8)
    assert sorted(ev[6:8], key=lambda e: e[0]) == [("delete", {"id": 3, "v": "y", "n": 0}),
                                                   ("insert", {"id": 3, "v": "z", "n": 5})]
    assert len(data_events(rd.chunks)) == 8  # nothing else was emitted


def test_force_ingress_while_paused_is_processed(http, make_pipeline):
    name = make_pipeline(PLAIN, initial="paused")
    tok = push(http, name, "t", [{"id": 1, "v": "forced"}], update_format="raw", array="true", force="true")
    c = _done(http, name, tok)
    assert c["status"] == "complete"
    assert http.get(f"/pipelines/{name}", params={"selector": "status"}).json()["deployment_status"] == "Paused"
    assert _rows(http, name) == [{"id": 1, "v": "forced"}]
    assert _rows(http, name, "all_t") == [{"id": 1, "v": "forced"}]


def test_unforced_ingress_waits_for_resume(http, make_pipeline):
    name = make_pipeline(PLAIN, initial="paused")
    result = {}

    def send():
        result["r"] = http.post(f"/pipelines/{name}/ingress/t",
                                params={"format": "json", "update_format": "raw"}, content=b'{"id": 1, "v": "w"}')

    th = threading.Thread(target=send)
    th.start()
    wait_held_back(http, name, "t")  # the engine waits up to 3 s (--ingress-wait) before refusing
    assert "r" not in result, result.get("r") and result["r"].text  # still waiting while paused
    assert http.post(f"/pipelines/{name}/resume").status_code == 202
    th.join(15)
    assert result["r"].status_code == 200, result["r"].text
    _done(http, name, result["r"].json()["token"])
    assert _rows(http, name) == [{"id": 1, "v": "w"}]


def test_a_request_whose_client_left_while_held_back_is_not_taken(http, make_pipeline, engine):
    """The client never got an answer (and would send the request again): its rows must not be stored."""
    name = make_pipeline(PLAIN, initial="paused")
    body = b'{"id": 1, "v": "gone"}'
    host, port = engine.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"POST /v0/pipelines/{name}/ingress/t?format=json&update_format=raw HTTP/1.1\r\n"
                  f"Host: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                  .encode() + body)
        wait_held_back(http, name, "t")
    assert http.post(f"/pipelines/{name}/resume").status_code == 202
    wait_until(lambda: "to table t was dropped: its client closed the connection" in engine.log, 10,
               "the dropped request in the engine's log")
    tok = push(http, name, "t", b'{"id": 2, "v": "stayed"}', update_format="raw")
    _done(http, name, tok)
    assert _rows(http, name) == [{"id": 2, "v": "stayed"}]


def test_a_request_whose_client_left_while_it_waited_after_its_body_is_not_taken(http, make_pipeline, engine):
    """Admitted while running, the request's body takes time to arrive and the pipeline is paused meanwhile:
    the request waits again once parsed, and its client leaving then must drop it too (it saw no answer)."""
    name = make_pipeline(PLAIN)
    body = b'{"id": 1, "v": "gone"}'
    dropped = "to table t was dropped: its client closed the connection"
    before = engine.log.count(dropped)  # the engine's log is the session's, shared with other tests
    host, port = engine.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"POST /v0/pipelines/{name}/ingress/t?format=json&update_format=raw HTTP/1.1\r\n"
                  f"Host: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                  .encode() + body[:5])
        # Admitted: the table's HTTP input is listed from then on, and the engine waits for the body.
        wait_until(lambda: http.get(f"/pipelines/{name}/stats").json()["inputs"], 10, "the request admitted")
        assert http.post(f"/pipelines/{name}/pause").status_code == 202
        s.sendall(body[5:])
    wait_until(lambda: engine.log.count(dropped) > before, 10, "the dropped request in the engine's log")
    assert http.post(f"/pipelines/{name}/resume").status_code == 202
    _done(http, name, push(http, name, "t", b'{"id": 2, "v": "stayed"}', update_format="raw"))
    assert _rows(http, name) == [{"id": 2, "v": "stayed"}]


def test_records_that_lateness_drops_are_counted(http, make_pipeline):
    """Feldera drops a record more than its LATENESS behind the largest value an earlier step took; it was
    accepted, so the table's input metrics count it (``num_late_records``), nothing else would say so."""
    name = make_pipeline("CREATE TABLE e (id INT NOT NULL PRIMARY KEY, ts TIMESTAMP NOT NULL LATENESS INTERVAL 1 HOUR);")
    # The schema says so, as Feldera's does (its compiler's SQL for the constant); other columns have none.
    (e,) = http.get(f"/pipelines/{name}").json()["program_info"]["schema"]["inputs"]
    assert {f["name"]: f.get("lateness", "none") for f in e["fields"]} == {"id": "none", "ts": "INTERVAL '1' HOUR"}
    # ... and so does the same program's validation, without a pipeline
    v = http.post("/validate_program", json={"program_code": http.get(f"/pipelines/{name}").json()["program_code"]})
    (ve,) = v.json()["Success"]["schema"]["inputs"]
    assert ve == e, v.text
    _done(http, name, push(http, name, "e", [{"id": 1, "ts": "2026-12-01 12:00:00"}], update_format="raw", array="true"))
    _done(http, name, push(http, name, "e", [{"id": 2, "ts": "2026-12-01 10:00:00"},  # 2 h behind: late
                                             {"id": 3, "ts": "2026-12-01 11:30:00"}], update_format="raw", array="true"))
    assert _rows(http, name, "e") == [{"id": 1, "ts": "2026-12-01T12:00:00"}, {"id": 3, "ts": "2026-12-01T11:30:00"}]
    (m,) = [i["metrics"] for i in http.get(f"/pipelines/{name}/stats").json()["inputs"] if i["config"]["stream"] == "e"]
    assert m["num_late_records"] == 1 and m["total_records"] == 3, m


def test_unforced_ingress_on_paused_pipeline_times_out(http, make_pipeline):
    name = make_pipeline(PLAIN, initial="paused")
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw"},
                  content=b'{"id": 1, "v": "late"}')
    assert_error(r, 503, "PipelinePaused")
    http.post(f"/pipelines/{name}/resume")
    tok = push(http, name, "t", b'{"id": 2, "v": "ok"}', update_format="raw")
    _done(http, name, tok)
    assert _rows(http, name) == [{"id": 2, "v": "ok"}]  # the refused request left nothing behind


def test_completion_token_covers_earlier_input(http, make_pipeline):
    name = make_pipeline(PLAIN)
    toks = [push(http, name, "t", [{"id": i, "v": str(i)}], update_format="raw", array="true") for i in range(5)]
    assert len(set(toks)) == 5
    last = _done(http, name, toks[-1])
    for t in toks[:-1]:
        c = completion(http, name, t)
        assert c["status"] == "complete" and c["step"] <= last["step"]
    assert len(_rows(http, name)) == 5
    # an empty body gets a token too
    _done(http, name, push(http, name, "t", b"", update_format="raw"))
