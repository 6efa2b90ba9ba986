"""A Feldera-shaped server in memory, built from the documented shapes only, for edge cases a real engine
will not produce on demand (a dropped chunk, a snapshot without an opening chunk, a step cut in two).

    fake = FakeFeldera({"v": View(fields=["k", "x"], materialized=True, rows=[...])})
    Upstream("http://fake", transport=fake.transport())        # in-process (httpx.MockTransport)
    url = fake.serve()                                         # or a real HTTP server on 127.0.0.1:0

Egress (``POST /v0/pipelines/{p}/egress/{v}``) answers NDJSON chunks ``{"sequence_number", "snapshot",
"json_data"?, "processed_steps"?}`` terminated by ``\\r\\n``; ``step()`` pushes a step's changes into every
open stream of a view, ``drop_next()`` makes the next chunk of each open stream vanish (its sequence
number is still used, as Feldera does when a client without backpressure falls behind).
"""

from __future__ import annotations

import json
import queue
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx


@dataclass
class View:
    fields: list[str]
    materialized: bool = True
    rows: list[dict] = field(default_factory=list)
    unique_keys: list[list[str]] | None = None


class _Stream:
    def __init__(self, fake: "FakeFeldera", view: str, snapshot: bool, backpressure: bool):
        self.fake = fake
        self.view = view
        self.snapshot = snapshot
        self.backpressure = backpressure
        self.q: queue.Queue = queue.Queue()
        self.seq = 0
        self.closed = False
        self.drop = 0

    def put(self, obj: dict) -> None:
        obj = {"sequence_number": self.seq, **obj}
        self.seq += 1
        if self.drop:
            self.drop -= 1
            return
        self.q.put(json.dumps(obj).encode() + b"\r\n")

    def lines(self):
        try:
            while not self.closed and not self.fake.closed:
                try:
                    yield self.q.get(timeout=0.05)
                except queue.Empty:
                    continue
        finally:
            self.closed = True


class _Body(httpx.SyncByteStream):
    """A streamed answer whose close() ends the fake's stream, as a closed connection would."""

    def __init__(self, stream: _Stream):
        self.stream = stream

    def __iter__(self):
        return self.stream.lines()

    def close(self) -> None:
        self.stream.closed = True


class FakeFeldera:
    def __init__(self, views: dict[str, View], pipeline: str = "p", *, processed_steps: bool = True,
                 opening_chunk: bool = True, status: str = "Running", sluice_extension: bool = True):
        self.views = views
        self.pipeline = pipeline
        self.processed_steps = processed_steps
        self.opening_chunk = opening_chunk
        self.status = status
        self.sluice_extension = sluice_extension
        self.steps = 0
        self.streams: list[_Stream] = []
        self.egress_requests: list[dict] = []
        self.lock = threading.Lock()
        self.closed = False
        self._server: ThreadingHTTPServer | None = None

    # -- what tests drive ----------------------------------------------------------------------
    def open_streams(self, view: str) -> list[_Stream]:
        with self.lock:
            return [s for s in self.streams if s.view == view and not s.closed]

    def opens(self, view: str) -> int:
        return sum(1 for r in self.egress_requests if r["view"] == view)

    def step(self, view: str, changes: list[dict], split: int | None = None) -> None:
        """Apply one step's changes to ``view`` and send them to its open streams (in ``split``-sized chunks)."""
        with self.lock:
            self.steps += 1
            v = self.views[view]
            rows = Counter(json.dumps(r, sort_keys=True) for r in v.rows)
            for ch in changes:
                if "delete" in ch:
                    rows[json.dumps(ch["delete"], sort_keys=True)] -= 1
                if "insert" in ch:
                    rows[json.dumps(ch["insert"], sort_keys=True)] += 1
            v.rows = [json.loads(k) for k, n in rows.items() for _ in range(max(0, n))]
            parts = [changes[i:i + split] for i in range(0, len(changes), split)] if split else [changes]
            for s in self.streams:
                if s.closed:
                    continue
                if s.view != view:
                    continue  # other views see nothing this step; their next chunk says so
                for i, part in enumerate(parts):
                    chunk = {"snapshot": False, "json_data": part}
                    if self.processed_steps:
                        chunk["processed_steps"] = self.steps if i == len(parts) - 1 else self.steps - 1
                    s.put(chunk)

    def keepalive(self, view: str) -> None:
        with self.lock:
            for s in self.streams:
                if s.view == view and not s.closed:
                    chunk = {"snapshot": False}
                    if self.processed_steps:
                        chunk["processed_steps"] = self.steps
                    s.put(chunk)

    def drop_next(self, view: str, n: int = 1) -> None:
        with self.lock:
            for s in self.streams:
                if s.view == view and not s.closed:
                    s.drop += n

    def end_streams(self, view: str | None = None) -> None:
        """End open streams (as a pipeline stop does)."""
        with self.lock:
            for s in self.streams:
                if view is None or s.view == view:
                    s.closed = True

    def close(self) -> None:
        self.closed = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- the API -------------------------------------------------------------------------------
    def _program_info(self) -> dict:
        outputs = [{"name": n, "case_sensitive": False, "materialized": v.materialized,
                    "fields": [{"name": f, "case_sensitive": False, "columntype": {"type": "VARCHAR", "nullable": True}}
                               for f in v.fields]} for n, v in self.views.items()]
        info = {"schema": {"inputs": [], "outputs": outputs}}
        if self.sluice_extension:
            info["sluice"] = {"views": {n: {"strategy": "incremental", "materialized": v.materialized, "local": False,
                                            "unique_keys": v.unique_keys or []} for n, v in self.views.items()}}
        return info

    def _status(self) -> dict:
        return {"name": self.pipeline, "deployment_status": self.status, "program_status": "Success",
                "description": "fake", "storage_status": "InUse"}

    def answer(self, method: str, path: str, params: dict[str, str]):
        """(status, JSON body) or (200, iterator of lines) for one request."""
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["v0"]:
            return 404, {"message": "no such endpoint", "error_code": "NotFound", "details": None}
        parts = parts[1:]
        if parts == ["pipelines"] and method == "GET":
            return 200, [self._status()]
        if len(parts) < 2 or parts[0] != "pipelines" or parts[1] != self.pipeline:
            return 404, {"message": "unknown pipeline", "error_code": "UnknownPipelineName",
                         "details": {"pipeline_name": parts[1] if len(parts) > 1 else None}}
        if len(parts) == 2 and method == "GET":
            body = self._status()
            if params.get("selector") != "status":
                body["program_info"] = self._program_info()
            return 200, body
        if len(parts) == 4 and parts[2] == "egress" and method == "POST":
            view = parts[3]
            if view not in self.views:
                return 404, {"message": f"Unknown table or view '{view}'", "error_code": "UnknownOutputStream",
                             "details": {"stream_name": view}}
            if self.status not in ("Running", "Paused"):
                return 503, {"message": f"Pipeline '{self.pipeline}' is not running (status {self.status})",
                             "error_code": "PipelineInteractionNotDeployed",
                             "details": {"pipeline_name": self.pipeline, "status": self.status,
                                         "desired_status": self.status}}
            snapshot = params.get("send_snapshot") == "true"
            bp = params.get("backpressure") == "true"
            s = _Stream(self, view, snapshot, bp)
            with self.lock:
                self.egress_requests.append({"view": view, "send_snapshot": snapshot, "backpressure": bp})
                if self.opening_chunk:
                    chunk = {"snapshot": False}
                    if self.processed_steps:
                        chunk["processed_steps"] = self.steps
                    s.put(chunk)
                if snapshot and self.views[view].rows:
                    chunk = {"snapshot": True, "json_data": [{"insert": r} for r in self.views[view].rows]}
                    if self.processed_steps:
                        chunk["processed_steps"] = self.steps
                    s.put(chunk)
                self.streams.append(s)
            return 200, s
        return 404, {"message": "no such endpoint", "error_code": "NotFound", "details": None}

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            params = {k: v for k, v in request.url.params.items()}
            status, body = self.answer(request.method, request.url.path, params)
            if isinstance(body, (dict, list)):
                return httpx.Response(status, json=body)
            return httpx.Response(status, stream=_Body(body), headers={"Content-Type": "application/json"})
        return httpx.MockTransport(handle)

    def serve(self) -> str:
        """Serve on 127.0.0.1 (an ephemeral port); returns the URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _go(self):
                u = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(u.query).items()}
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                status, body = fake.answer(self.command, u.path, params)
                if isinstance(body, (dict, list)):
                    data = json.dumps(body).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for line in body.lines():
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass
                self.close_connection = True

            do_GET = do_POST = _go

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"
