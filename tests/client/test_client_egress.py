"""``Pipeline.egress`` (raw chunks, keepalives included), ``Pipeline.time_series``, and a light import."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from webapp.client import NotFoundError, StreamError
from webapp.client.output import EgressStream
from webapp.engine.testing import wait_until


def test_importing_the_client_loads_neither_pandas_nor_numpy():
    code = "import webapp.client, sys; assert 'pandas' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _until(stream, pred, limit: float = 30.0) -> list[dict]:
    """Chunks from ``stream`` up to and including the first for which ``pred`` holds."""
    out, deadline = [], time.monotonic() + limit
    for chunk in stream:
        out.append(chunk)
        if pred(chunk):
            return out
        assert time.monotonic() < deadline, f"no matching chunk within {limit} s: {out[-5:]}"
    raise AssertionError(f"the stream ended first: {out[-5:]}")


def test_egress_yields_the_first_empty_chunk_then_changes_with_processed_steps(pipeline):
    pipeline.start()
    with pipeline.egress("user_stats") as stream:
        assert isinstance(stream, EgressStream)
        it = iter(stream)
        first = next(it)
        assert isinstance(first["sequence_number"], int)
        assert "json_data" not in first and first.get("snapshot", False) is False
        pipeline.input_json("users", [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Alice"}])
        chunks = _until(it, lambda c: c.get("json_data"))
    assert stream.closed
    data = chunks[-1]
    assert data["json_data"] == [{"insert": {"name": "Alice", "visits": 2}}]
    assert isinstance(data["processed_steps"], int) and data["processed_steps"] >= 1
    seqs = [first["sequence_number"]] + [c["sequence_number"] for c in chunks]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "no gaps: keepalives are numbered and yielded"


def test_egress_with_send_snapshot_marks_the_snapshot_chunks(pipeline):
    pipeline.start()
    pipeline.input_json("users", [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}])
    with pipeline.egress("user_stats", send_snapshot=True, backpressure=True) as stream:
        chunks = _until(stream, lambda c: c.get("snapshot") and c.get("json_data"))
        snap = [c for c in chunks if c.get("snapshot") and c.get("json_data")]
        rows = []
        while snap:  # the snapshot may take several chunks; collect until the first non-snapshot one
            rows += [d["insert"] for d in snap.pop()["json_data"]]
            nxt = next(iter(stream))
            if nxt.get("snapshot") and nxt.get("json_data"):
                snap.append(nxt)
        assert sorted(rows, key=lambda r: r["name"]) == [{"name": "Alice", "visits": 1}, {"name": "Bob", "visits": 1}]
        pipeline.input_json("users", {"id": 3, "name": "Bob"})
        change = _until(stream, lambda c: c.get("json_data"))[-1]
    assert change["snapshot"] is False
    assert {"delete": {"name": "Bob", "visits": 1}} in change["json_data"]
    assert {"insert": {"name": "Bob", "visits": 2}} in change["json_data"]


def test_egress_sends_its_parameters_and_lines_are_raw(pipeline, recorder):
    pipeline.start()
    with pipeline.egress("user_stats", backpressure=True) as stream:
        line = next(stream.lines())
        assert line.startswith(b"{") and b"sequence_number" in line
    req = [r for r in recorder.requests if "/egress/" in r.url.path][-1]
    assert req.method == "POST" and req.url.path.endswith("/egress/user_stats")
    assert req.url.params["backpressure"] == "true" and req.url.params["format"] == "json"
    assert "send_snapshot" not in req.url.params


def test_egress_of_an_unknown_view_raises_at_once(pipeline):
    pipeline.start()
    with pytest.raises(NotFoundError):
        pipeline.egress("no_such_view")


def test_close_from_another_thread_ends_iteration(pipeline):
    pipeline.start()
    stream = pipeline.egress("user_stats")
    seen: list[dict] = []
    errors: list[BaseException] = []

    def read():
        try:
            seen.extend(stream)
        except StreamError as e:  # pragma: no cover - a close must end iteration quietly
            errors.append(e)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    wait_until(lambda: seen, 10, "the reader's first chunk", interval=0.01)
    stream.close()
    t.join(10)
    assert not t.is_alive() and not errors and seen


def test_time_series_has_samples(pipeline, is_sluice):
    pipeline.start()
    pipeline.input_json("users", {"id": 1, "name": "Alice"})
    try:
        pipeline.time_series()
    except NotFoundError:
        if is_sluice:
            raise
        pytest.skip("this Feldera has no /time_series")
    ts = wait_until(lambda: (t := pipeline.time_series()).get("samples") and t, 10,
                    "a time series with samples", interval=0.1)
    assert all(isinstance(s, dict) for s in ts["samples"])
    if is_sluice:
        assert {"t", "r"} <= set(ts["samples"][-1])


def _mock_client(handler):
    import httpx

    from webapp.client import Client
    return Client("http://mock", transport=httpx.MockTransport(handler), retries=0)


def test_egress_passes_chunks_through_untouched_gaps_and_all():
    import httpx
    body = (b'{"sequence_number":0,"snapshot":false,"processed_steps":0}\r\n'
            b'{"sequence_number":1,"snapshot":false,"processed_steps":1}\r\n\r\n'
            b'{"sequence_number":3,"snapshot":false,"json_data":[{"insert":{"n":1}}],"processed_steps":2}\r\n'
            b'not json\r\n')

    def handler(request):
        if request.method == "GET":
            return httpx.Response(200, json={"name": "p", "deployment_status": "Running"})
        assert request.url.raw_path.startswith(b"/v0/pipelines/p/egress/%22V%22?")
        assert request.url.params["backpressure"] == "false" and request.url.params["send_snapshot"] == "true"
        return httpx.Response(200, stream=httpx.ByteStream(body))

    with _mock_client(handler) as c, c.pipeline("p").egress('"V"', send_snapshot=True) as stream:
        got = [next(stream), next(stream), next(stream)]
        with pytest.raises(StreamError, match="not JSON"):
            next(stream)
    assert [g["sequence_number"] for g in got] == [0, 1, 3]
    assert got[0] == {"sequence_number": 0, "snapshot": False, "processed_steps": 0}
    assert got[2]["json_data"] == [{"insert": {"n": 1}}]


def test_time_series_404_raises_not_found():
    import httpx

    def handler(request):
        if not request.url.path.endswith("/time_series"):
            return httpx.Response(200, json={"name": "p", "deployment_status": "Running"})
        return httpx.Response(404, json={"message": "no such endpoint", "error_code": "NotFound"})

    with _mock_client(handler) as c, pytest.raises(NotFoundError):
        c.pipeline("p").time_series()
