"""Edge cases driven through ``httpx.MockTransport``: retries, error envelopes, auth, stream framing.

The real-server tests (test_docs_snippets.py) cover the normal paths; these cover what a real server
rarely does on demand: dropped connections, 502s, lines split at odd places, broken streams.
"""

from __future__ import annotations

import logging
import sys
import threading

import httpx
import orjson
import pandas as pd
import pytest

from webapp.client import (
    ApiError,
    BadRequestError,
    Client,
    CompilationError,
    NotFoundError,
    Pipeline,
    PipelineStateError,
    StreamError,
    TransportError,
    UnavailableError,
)
from webapp.client.output import split_lines
from webapp.engine.testing import wait_until

USERS = {"name": "users", "case_sensitive": False, "materialized": True, "fields": [
    {"name": "id", "case_sensitive": False, "columntype": {"type": "INTEGER", "nullable": False}},
    {"name": "name", "case_sensitive": False, "columntype": {"type": "VARCHAR", "nullable": True}},
]}
STATS = {"name": "stats", "case_sensitive": False, "materialized": True, "fields": [
    {"name": "name", "case_sensitive": False, "columntype": {"type": "VARCHAR", "nullable": True}},
    {"name": "n", "case_sensitive": False, "columntype": {"type": "BIGINT", "nullable": False}},
]}


def pipeline_json(status="Running", **extra):
    d = {"name": "p", "deployment_status": status, "deployment_desired_status": status,
         "deployment_error": None, "program_status": "Success", "storage_status": "InUse",
         "program_info": {"schema": {"inputs": [USERS], "outputs": [STATS]}}}
    d.update(extra)
    return d


class Server:
    """Routes ``(method, path)`` to handlers; unknown routes answer like a Feldera 404. Records every request."""

    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        h = self.routes.get((request.method, request.url.path))
        if h is None:
            return httpx.Response(404, json={"message": "no route", "error_code": "NotFound", "details": None})
        return h(request) if callable(h) else h

    def count(self, method, path):
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)

    def client(self, **kw) -> Client:
        kw.setdefault("backoff", 0)
        return Client("http://sluice.test", transport=httpx.MockTransport(self), **kw)


def ok(body, status=200):
    return lambda req: httpx.Response(status, json=body)


def fail_then(exc_or_resp, n, then):
    """A handler that fails ``n`` times (raising, or answering), then hands over to ``then``."""
    left = [n]

    def h(req):
        if left[0] > 0:
            left[0] -= 1
            if isinstance(exc_or_resp, Exception):
                raise exc_or_resp
            return exc_or_resp
        return then(req)
    return h


# -- retries ----------------------------------------------------------------------------------------

def test_safe_request_is_retried_after_a_dropped_connection():
    srv = Server({("GET", "/v0/pipelines/p"): fail_then(httpx.ReadError("reset"), 2, ok(pipeline_json()))})
    with srv.client() as c:
        assert Pipeline(c, "p").status() == "Running"
    assert srv.count("GET", "/v0/pipelines/p") == 3


def test_retries_give_up_with_a_transport_error():
    srv = Server({("GET", "/v0/config"): fail_then(httpx.ReadError("reset"), 99, ok({}))})
    with srv.client(retries=2) as c, pytest.raises(TransportError) as e:
        c.config()
    assert srv.count("GET", "/v0/config") == 3 and e.value.status is None


def test_ingress_is_not_retried_once_it_may_have_reached_the_server():
    srv = Server({
        ("GET", "/v0/pipelines/p"): ok(pipeline_json()),
        ("POST", "/v0/pipelines/p/ingress/users"): fail_then(httpx.ReadError("reset"), 1, ok({"token": "t"})),
    })
    with srv.client() as c, pytest.raises(TransportError) as e:
        c.pipeline("p").input_json("users", {"id": 1}, wait=False)
    assert srv.count("POST", "/v0/pipelines/p/ingress/users") == 1
    assert "not retried" in str(e.value)


def test_ingress_is_retried_when_the_connection_was_never_made():
    srv = Server({
        ("GET", "/v0/pipelines/p"): ok(pipeline_json()),
        ("POST", "/v0/pipelines/p/ingress/users"): fail_then(httpx.ConnectError("refused"), 1, ok({"token": "t"})),
    })
    with srv.client() as c:
        assert c.pipeline("p").input_json("users", {"id": 1}, wait=False) == "t"
    sent = [r for r in srv.requests if r.url.path.endswith("/ingress/users")]
    assert len(sent) == 2 and sent[0].headers["Idempotency-Key"] == sent[1].headers["Idempotency-Key"]


def test_transient_statuses_are_retried_only_for_safe_requests():
    busy = httpx.Response(503, json={"message": "starting", "error_code": "Initializing", "details": None})
    bad_gateway = httpx.Response(502, text="bad gateway")
    srv = Server({
        ("GET", "/v0/pipelines/p/stats"): fail_then(busy, 1, fail_then(bad_gateway, 1, ok({"global_metrics": {}}))),
        ("GET", "/v0/pipelines/p"): ok(pipeline_json()),
        ("POST", "/v0/pipelines/p/ingress/users"): fail_then(bad_gateway, 1, ok({"token": "t"})),
    })
    with srv.client() as c:
        p = c.pipeline("p")
        assert p.stats() == {"global_metrics": {}}
        with pytest.raises(ApiError) as e:
            p.input_json("users", {"id": 1}, wait=False)
    assert srv.count("GET", "/v0/pipelines/p/stats") == 3
    assert srv.count("POST", "/v0/pipelines/p/ingress/users") == 1
    assert e.value.status == 502 and "bad gateway" in e.value.message


def test_a_definite_503_is_not_retried():
    gone = httpx.Response(503, json={"message": "Pipeline 'p' is not running", "details": {"status": "Stopped"},
                                     "error_code": "PipelineInteractionNotDeployed"})
    srv = Server({("GET", "/v0/pipelines/p/stats"): lambda r: gone})
    with srv.client() as c, pytest.raises(UnavailableError) as e:
        Pipeline(c, "p").stats()
    assert srv.count("GET", "/v0/pipelines/p/stats") == 1
    assert e.value.error_code == "PipelineInteractionNotDeployed" and e.value.details == {"status": "Stopped"}


def test_delete_that_was_retried_accepts_404():
    srv = Server({("DELETE", "/v0/pipelines/p"): fail_then(httpx.ReadError("reset"), 1, lambda r: httpx.Response(
        404, json={"message": "Unknown pipeline name 'p'", "error_code": "UnknownPipelineName", "details": None}))})
    with srv.client() as c:
        Pipeline(c, "p").delete()
    assert srv.count("DELETE", "/v0/pipelines/p") == 2


# -- errors -----------------------------------------------------------------------------------------

def test_error_envelope_becomes_an_exception_with_its_fields():
    body = {"message": "Unknown pipeline name 'x'", "error_code": "UnknownPipelineName",
            "details": {"pipeline_name": "x"}}
    srv = Server({("GET", "/v0/pipelines/x"): ok(body, 404)})
    with srv.client() as c, pytest.raises(NotFoundError) as e:
        c.pipeline("x")
    err = e.value
    assert (err.status, err.status_code, err.error_code) == (404, 404, "UnknownPipelineName")
    assert err.message == "Unknown pipeline name 'x'" and err.details == {"pipeline_name": "x"}
    assert str(err) == "[404 UnknownPipelineName] Unknown pipeline name 'x'"


def test_parse_errors_carry_their_details():
    body = {"message": "Errors parsing input data (1 errors)", "error_code": "ParseErrors",
            "details": {"num_errors": 1, "errors": [{"event_number": 2}]}}
    srv = Server({("GET", "/v0/pipelines/p"): ok(pipeline_json()),
                  ("POST", "/v0/pipelines/p/ingress/users"): ok(body, 400)})
    with srv.client() as c, pytest.raises(BadRequestError) as e:
        c.pipeline("p").input_json("users", [{"id": 1}, {"id": "x"}])
    assert e.value.error_code == "ParseErrors" and e.value.details["errors"][0]["event_number"] == 2


def test_error_without_envelope_keeps_the_text():
    srv = Server({("GET", "/v0/config"): lambda r: httpx.Response(500, text="upstream exploded")})
    with srv.client(retries=0) as c, pytest.raises(ApiError) as e:
        c.config()
    assert e.value.status == 500 and e.value.message == "upstream exploded" and e.value.error_code is None


def test_compilation_error_lists_line_and_column():
    program_error = {"sql_compilation": {"exit_code": 1, "messages": [
        {"start_line_number": 3, "start_column": 8, "end_line_number": 3, "end_column": 12, "warning": False,
         "error_type": "Error parsing SQL", "message": "Encountered \"FORM\"", "snippet": "   3|SELECT FORM t"}]},
        "rust_compilation": None, "system_error": None}
    states = iter(["Pending", "CompilingSql", "SqlError"])

    def get(req):
        if not srv.count("PUT", "/v0/pipelines/p"):
            return httpx.Response(404, json={"message": "no", "error_code": "UnknownPipelineName", "details": None})
        if req.url.params.get("selector") == "all":
            return httpx.Response(200, json={"program_status": "SqlError", "program_error": program_error})
        return httpx.Response(200, json={"program_status": next(states)})

    srv = Server({("PUT", "/v0/pipelines/p"): ok({"name": "p"}, 201), ("GET", "/v0/pipelines/p"): get})
    with srv.client() as c, pytest.raises(CompilationError) as e:
        c.create_pipeline("p", "CREATE TABLE t (x INT);\n\nSELECT FORM t")
    assert e.value.error_code == "SqlError" and e.value.messages[0]["start_column"] == 8
    assert "line 3, column 8: Error parsing SQL: Encountered \"FORM\"" in str(e.value)
    assert "3|SELECT FORM t" in str(e.value)
    put = [r for r in srv.requests if r.method == "PUT"][0]
    assert orjson.loads(put.content)["program_code"].endswith("SELECT FORM t")


def test_start_failure_raises_with_the_deployment_error():
    failed = pipeline_json("Stopped", deployment_desired_status="Stopped", deployment_error={
        "message": "failed to start: out of memory", "error_code": "StartFailed", "details": None})
    srv = Server({("POST", "/v0/pipelines/p/dismiss_error"): ok("ok", 202),
                  ("POST", "/v0/pipelines/p/start"): ok("Pipeline is starting", 202),
                  ("GET", "/v0/pipelines/p"): ok(failed)})
    with srv.client() as c, pytest.raises(PipelineStateError) as e:
        c.pipeline("p").start()
    assert e.value.error_code == "StartFailed" and "out of memory" in str(e.value)


def test_paused_pipeline_refuses_input_before_sending():
    srv = Server({("GET", "/v0/pipelines/p"): ok(pipeline_json("Paused"))})
    with srv.client() as c:
        p = c.pipeline("p")
        with pytest.raises(PipelineStateError):
            p.input_json("users", {"id": 1})
        with pytest.raises(PipelineStateError):
            p.input_pandas("users", pd.DataFrame({"id": [1]}))
    assert not [r for r in srv.requests if "/ingress/" in r.url.path]


# -- auth -------------------------------------------------------------------------------------------

def test_api_key_from_environment_as_bearer(monkeypatch):
    srv = Server({("GET", "/v0/config"): ok({"edition": "Open source"})})
    monkeypatch.setenv("FELDERA_API_KEY", "apikey:feldera")
    monkeypatch.delenv("SLUICE_API_KEY", raising=False)
    with srv.client() as c:
        c.config()
    monkeypatch.setenv("SLUICE_API_KEY", "apikey:sluice")
    with srv.client() as c:
        c.config()
    with srv.client(api_key="apikey:arg") as c:
        c.config()
    monkeypatch.delenv("SLUICE_API_KEY")
    monkeypatch.delenv("FELDERA_API_KEY")
    with srv.client() as c:
        c.config()
    auth = [r.headers.get("Authorization") for r in srv.requests]
    assert auth == ["Bearer apikey:feldera", "Bearer apikey:sluice", "Bearer apikey:arg", None]


def test_every_ingress_request_has_its_own_idempotency_key():
    srv = Server({("GET", "/v0/pipelines/p"): ok(pipeline_json()),
                  ("POST", "/v0/pipelines/p/ingress/users"): ok({"token": "t"})})
    with srv.client() as c:
        p = c.pipeline("p")
        p.input_json("users", {"id": 1}, wait=False)
        p.input_json("users", [{"id": 2}], wait=False)
        p.input_pandas("users", pd.DataFrame({"id": range(5)}), chunk_size=2, wait=False)
    sent = [r for r in srv.requests if "/ingress/" in r.url.path]
    keys = [r.headers.get("Idempotency-Key") for r in sent]
    assert len(sent) == 5 and all(keys) and len(set(keys)) == 5
    assert [orjson.loads(r.content) for r in sent[2:]] == [[{"id": 0}, {"id": 1}], [{"id": 2}, {"id": 3}], [{"id": 4}]]
    assert sent[0].url.params["array"] == "false" and sent[1].url.params["array"] == "true"


# -- egress streams ---------------------------------------------------------------------------------

def egress_lines():
    return [
        b'{"sequence_number":0,"snapshot":false,"processed_steps":0}',
        b'{"sequence_number":1,"snapshot":false,"json_data":[{"insert":{"name":"a","n":1}}],"processed_steps":1}',
        b'{"sequence_number":2,"snapshot":false,"processed_steps":1}',
        b'{"sequence_number":3,"json_data":[{"delete":{"name":"a","n":1}},{"insert":{"name":"a","n":2}}],'
        b'"processed_steps":2}',
    ]


def one_byte_at_a_time(lines):
    for b in b"\r\n".join(lines) + b"\r\n":
        yield bytes([b])


def egress_server(body_factory):
    return Server({("GET", "/v0/pipelines/p"): ok(pipeline_json()),
                   ("POST", "/v0/pipelines/p/egress/stats"):
                       lambda r: httpx.Response(200, content=body_factory(),
                                                headers={"Content-Type": "application/json"})})


def test_egress_lines_split_anywhere_are_reassembled():
    srv = egress_server(lambda: one_byte_at_a_time(egress_lines()))
    with srv.client() as c:
        handler = c.pipeline("p").listen("stats")
        chunks = list(handler)
    assert [ch.sequence_number for ch in chunks] == [1, 3]  # keepalives are not chunks
    assert chunks[1].changes == [{"name": "a", "n": 1, "insert_delete": -1}, {"name": "a", "n": 2, "insert_delete": 1}]
    assert handler.processed_steps == 2 and handler.ended and handler.error is None
    req = [r for r in srv.requests if r.method == "POST"][0]
    assert dict(req.url.params) == {"format": "json", "backpressure": "true", "array": "false"}
    df = chunks[1].to_pandas()
    assert df.to_dict("records") == [{"name": "a", "n": 1, "insert_delete": -1},
                                     {"name": "a", "n": 2, "insert_delete": 1}]
    assert str(df["n"].dtype) == "Int64" and str(df["name"].dtype) == "string"


def test_split_lines_handles_crlf_blank_lines_and_a_last_line_without_newline():
    pieces = [b'{"a":1}\r', b'\n\r\n{"b"', b':2}\n', b'\n{"c":3}']
    assert list(split_lines(pieces)) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_listen_raises_the_servers_error_instead_of_hanging():
    srv = Server({("GET", "/v0/pipelines/p"): ok(pipeline_json()),
                  ("POST", "/v0/pipelines/p/egress/stats"): ok(
                      {"message": "Unknown table or view 'stats'", "error_code": "UnknownOutputStream",
                       "details": None}, 404)})
    with srv.client() as c, pytest.raises(NotFoundError) as e:
        c.pipeline("p").listen("stats")
    assert e.value.error_code == "UnknownOutputStream"


def test_listen_returns_only_after_the_first_line():
    release = threading.Event()

    def body():
        release.wait(30)
        yield b'{"sequence_number":0,"processed_steps":0}\r\n'

    srv = egress_server(body)
    with srv.client() as c:
        p = c.pipeline("p")
        returned, handlers = threading.Event(), []
        th = threading.Thread(target=lambda: (handlers.append(p.listen("stats")), returned.set()), daemon=True)
        th.start()
        try:
            # A window in which listen() must not return (nothing to await: the check is that it stays put).
            assert not returned.wait(0.3), "listen() returned before the stream's first line"
        finally:
            release.set()
        assert returned.wait(30)
        handlers[0].close()


def test_a_broken_stream_raises_from_iteration_and_to_pandas():
    def body():
        yield egress_lines()[0] + b"\r\n" + egress_lines()[1] + b"\r\n"
        raise httpx.ReadError("connection reset")

    srv = egress_server(body)
    with srv.client() as c:
        handler = c.pipeline("p").listen("stats")
        it = iter(handler)
        assert next(it).sequence_number == 1
        with pytest.raises(StreamError, match="connection reset"):
            next(it)
        with pytest.raises(StreamError):
            handler.to_pandas()


def test_a_line_that_is_not_json_is_a_stream_error():
    srv = egress_server(lambda: iter([egress_lines()[0] + b"\r\n", b"<html>oops</html>\r\n"]))
    with srv.client() as c:
        handler = c.pipeline("p").listen("stats")
        with pytest.raises(StreamError, match="not JSON"):
            list(handler)


def _parked_on_full_buffer(handler) -> bool:
    """The handler's reader thread waits in ``_take_line`` for room in the buffer: it reads no further until
    the consumer takes a chunk (the mock transport pulls the body only as the reader reads)."""
    frame = sys._current_frames().get(handler._thread.ident)
    return (frame is not None and frame.f_code.co_name == "wait" and frame.f_back is not None
            and frame.f_back.f_code.co_name == "_take_line")


def test_the_buffer_is_bounded_so_the_server_sees_backpressure():
    pulled = []

    def body():
        yield egress_lines()[0] + b"\r\n"
        for i in range(1, 101):
            pulled.append(i)
            yield orjson.dumps({"sequence_number": i, "json_data": [{"insert": {"name": "x", "n": i}}],
                                "processed_steps": i}) + b"\r\n"

    srv = egress_server(body)
    with srv.client() as c:
        handler = c.pipeline("p").listen("stats", max_buffered_chunks=3)
        wait_until(lambda: len(handler._buf) == 3 and _parked_on_full_buffer(handler), 10,
                   "the reader to fill its buffer and block", interval=0.01)
        assert len(pulled) <= 5, f"the reader kept reading into a full buffer ({len(pulled)} lines)"
        got = [ch.changes[0]["n"] for ch in handler]
    assert got == list(range(1, 101))


def test_callback_exception_is_logged_and_reraised_from_join(caplog):
    srv = egress_server(lambda: one_byte_at_a_time(egress_lines()))
    seen = []

    def cb(df, seq_no):
        seen.append(seq_no)
        raise KeyError("nope")

    with caplog.at_level(logging.ERROR, logger="sluice.client"), srv.client() as c:
        handle = c.pipeline("p").foreach_chunk("stats", cb)
        with pytest.raises(KeyError):
            handle.join(timeout=30)
    assert seen == [1]
    assert [r for r in caplog.records if "callback" in r.getMessage() and r.exc_info]


def test_foreach_chunk_gets_typed_frames_and_ends_with_the_stream():
    srv = egress_server(lambda: one_byte_at_a_time(egress_lines()))
    got = []
    with srv.client() as c:
        handle = c.pipeline("p").foreach_chunk("stats", lambda df, seq: got.append((seq, df)))
        handle.join(timeout=30)
    assert [s for s, _ in got] == [1, 3]
    assert got[1][1]["insert_delete"].tolist() == [-1, 1]


# -- queries ----------------------------------------------------------------------------------------

def test_query_is_lazy_and_detects_a_mid_stream_error():
    body = b'{"x":1}\n{"x":2}\n{"error":"Out of memory"}\n'
    srv = Server({("GET", "/v0/pipelines/p/query"): lambda r: httpx.Response(200, content=body)})
    with srv.client() as c:
        rows = Pipeline(c, "p").query("SELECT x FROM t")
        assert not srv.requests  # nothing sent until iterated, as in the official client
        it = iter(rows)
        assert next(it) == {"x": 1} and next(it) == {"x": 2}
        with pytest.raises(StreamError, match="Out of memory"):
            next(it)
    assert srv.requests[0].url.params["sql"] == "SELECT x FROM t"


def test_a_failing_insert_is_not_retried_but_a_select_is():
    reset = httpx.ReadError("reset")
    srv = Server({("GET", "/v0/pipelines/p/query"): fail_then(reset, 1, lambda r: httpx.Response(200, content=b""))})
    with srv.client() as c:
        p = Pipeline(c, "p")
        with pytest.raises(TransportError):
            p.execute("INSERT INTO t VALUES (1)")
        srv.routes[("GET", "/v0/pipelines/p/query")] = fail_then(reset, 1, lambda r: httpx.Response(200, content=b""))
        assert list(p.query("SELECT 1")) == []
    assert srv.count("GET", "/v0/pipelines/p/query") == 3
