"""Egress configured by a JSON body, and the marking of a snapshot's first chunk.

Feldera (docs/api.md, section Egress; ``crates/adapters/src/server.rs``): instead of query parameters,
the body may hold an output connector's configuration, ``{"transport": {"name": "http_output",
"config": {...}}, "format": {"name": "json", "config": {"array": true}}}``; query parameters may not be
mixed with it, and JSON must set ``array: true``. What Sluice cannot honour is refused by name.
"""

from __future__ import annotations

import httpx
import orjson

from sluice_support import assert_error, completion, ndjson, push, wait_until

SQL = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR);\nCREATE MATERIALIZED VIEW v1 AS SELECT * FROM t;\n"
JSON_BODY = {"transport": {"name": "http_output", "config": {"backpressure": True}},
             "format": {"name": "json", "config": {"array": True}}}


def _read_until(engine, name, body, params, pred, action=None, limit=40):
    """Open an egress stream, run ``action`` once it is open, return its chunks up to the one ``pred`` accepts."""
    chunks = []
    with httpx.Client(base_url=engine.url + "/v0", timeout=httpx.Timeout(30.0)) as c:
        with c.stream("POST", f"/pipelines/{name}/egress/v1", params=params,
                      content=orjson.dumps(body) if body is not None else b"") as r:
            assert r.status_code == 200, r.read()
            for line in r.iter_lines():
                if not line.strip():
                    continue
                chunks.append(orjson.loads(line))
                if len(chunks) == 1 and action:
                    action()
                if pred(chunks[-1]) or len(chunks) >= limit:
                    return chunks
    return chunks


def test_json_body_configures_the_stream(http, engine, make_pipeline):
    name = make_pipeline(SQL)
    chunks = _read_until(engine, name, JSON_BODY, {}, lambda ch: "json_data" in ch,
                         action=lambda: push(http, name, "t", ndjson([{"insert": {"id": 1, "v": "a"}}])))
    assert chunks[-1]["json_data"] == [{"insert": {"id": 1, "v": "a"}}]
    assert not any("text_data" in ch for ch in chunks)


def test_csv_body(http, engine, make_pipeline):
    name = make_pipeline(SQL)
    body = {"transport": {"name": "http_output"}, "format": {"name": "csv"}}
    chunks = _read_until(engine, name, body, {}, lambda ch: "text_data" in ch,
                         action=lambda: push(http, name, "t", ndjson([{"insert": {"id": 2, "v": "b"}}])))
    assert chunks[-1]["text_data"] == "2,b,1\n"


def test_what_cannot_be_honoured_is_refused_by_name(http, make_pipeline):
    name = make_pipeline(SQL)
    path = f"/pipelines/{name}/egress/v1"

    def refused(body, params=None, field=None):
        r = http.post(path, params=params or {}, content=orjson.dumps(body))
        out = assert_error(r, 400, "InvalidParam")
        if field:
            assert out["details"]["field"] == field, out
        return out

    assert "mix" in refused(JSON_BODY, {"format": "json"})["message"]
    refused(dict(JSON_BODY, transport={"name": "kafka_output", "config": {"topic": "x"}}), field="transport.name")
    refused(dict(JSON_BODY, format={"name": "json", "config": {}}), field="format.config.array")
    refused(dict(JSON_BODY, format={"name": "json", "config": {"array": True, "update_format": "snowflake"}}),
            field="format.config.update_format")
    refused(dict(JSON_BODY, format={"name": "avro"}), field="format.name")
    refused(dict(JSON_BODY, transport={"name": "http_output", "config": {"max_queued_records": 5}}),
            field="transport.config")
    refused(dict(JSON_BODY, stream="v1"), field="body")
    assert_error(http.post(path, content=b"{not json"), 400, "InvalidParam")


def test_snapshot_stream_starts_with_a_snapshot_chunk(http, engine, make_pipeline):
    name = make_pipeline(SQL)
    token = push(http, name, "t", ndjson([{"insert": {"id": 1, "v": "a"}}]))
    wait_until(lambda: completion(http, name, token)["status"] == "complete", what="the row in the view")
    chunks = _read_until(engine, name, None, {"format": "json", "send_snapshot": "true"},
                         lambda ch: ch.get("snapshot") is False and "json_data" in ch,
                         action=lambda: push(http, name, "t", ndjson([{"insert": {"id": 2, "v": "b"}}])))
    assert chunks[0]["snapshot"] is True and "json_data" not in chunks[0]
    snap = [ch for ch in chunks if ch["snapshot"]]
    assert [e for ch in snap for e in ch.get("json_data", [])] == [{"insert": {"id": 1, "v": "a"}}]
    assert chunks.index(snap[-1]) == len(snap) - 1  # snapshot chunks come first, then changes
    assert chunks[-1]["json_data"] == [{"insert": {"id": 2, "v": "b"}}]
    # without a snapshot, the opening chunk is an ordinary one
    plain = _read_until(engine, name, None, {"format": "json"}, lambda ch: True)
    assert plain[0]["snapshot"] is False
