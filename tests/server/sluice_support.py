"""Helpers for the real-server HTTP tests: error-shape checks, egress readers (httpx and raw socket).

Imported by the test modules of this directory (``from sluice_support import ...``); the directory's
conftest puts it on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

import httpx
import orjson

from webapp.engine.testing import wait_until  # noqa: F401  (re-exported for the tests here)

ERROR_KEYS = {"message", "error_code", "details"}


def assert_error(r: httpx.Response, status: int, code: str) -> dict:
    """The response is an error of ``status`` whose body is exactly {"message","error_code","details"}."""
    assert r.status_code == status, f"expected {status} {code}, got {r.status_code}: {r.text}"
    assert r.headers["content-type"].split(";")[0] == "application/json", r.headers
    body = r.json()
    assert isinstance(body, dict) and set(body) == ERROR_KEYS, body
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def push(http: httpx.Client, name: str, table: str, body, **params) -> str:
    """POST ingress; returns the completion token (asserts 200)."""
    if isinstance(body, (list, dict)) and params.get("format", "json") == "json":
        body = orjson.dumps(body)
    params.setdefault("format", "json")
    r = http.post(f"/pipelines/{name}/ingress/{table}", params=params, content=body)
    assert r.status_code == 200, r.text
    tok = r.json()["token"]
    assert isinstance(tok, str) and tok
    return tok


def ndjson(events) -> bytes:
    return b"\n".join(orjson.dumps(e) for e in events) + b"\n"


def query_json(http: httpx.Client, name: str, sql: str, exact: bool = False) -> list[dict]:
    """An ad-hoc query's rows; ``exact``: a number with a fraction read as a ``Decimal`` with every digit, as
    Feldera's client reads them (a DECIMAL is written as such a number)."""
    r = http.get(f"/pipelines/{name}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == "application/json"
    lines = [line for line in r.content.splitlines() if line.strip()]
    if exact:
        return [json.loads(line, parse_float=Decimal) for line in lines]
    return [orjson.loads(line) for line in lines]


def completion(http: httpx.Client, name: str, token: str) -> dict:
    r = http.get(f"/pipelines/{name}/completion_status", params={"token": token})
    assert r.status_code in (200, 202), r.text
    return r.json()


def stats_outputs(http: httpx.Client, name: str, stream: str) -> list[dict]:
    r = http.get(f"/pipelines/{name}/stats")
    assert r.status_code == 200, r.text
    return [o for o in r.json()["outputs"] if o["config"]["stream"] == stream]


def wait_held_back(http: httpx.Client, name: str, table: str, n: int = 1) -> None:
    """Wait until ``n`` ingress requests to ``table`` are held back (paused pipeline or full buffer)."""
    def held():
        return sum(i["metrics"]["waiting_requests"] for i in stats_inputs(http, name, table)) >= n
    wait_until(held, 10, what=f"{n} request(s) to {name}.{table} to be held back")


def stats_inputs(http: httpx.Client, name: str, table: str) -> list[dict]:
    r = http.get(f"/pipelines/{name}/stats")
    assert r.status_code == 200, r.text
    return [i for i in r.json()["inputs"] if i["config"]["stream"] == table]


def data_events(chunks, snapshot: bool | None = None) -> list[tuple[str, dict]]:
    """Flatten json_data of chunks into ("insert"|"delete", row) pairs, in order."""
    out = []
    for c in chunks:
        if snapshot is not None and c.get("snapshot") != snapshot:
            continue
        for ev in c.get("json_data") or []:
            (kind, row), = ev.items()
            out.append((kind, row))
    return out


class EgressReader:
    """Reads an egress stream with httpx in a thread, collecting the parsed chunks."""

    def __init__(self, base_url: str, pipeline: str, view: str, method: str = "POST", **params):
        self.chunks: list[dict] = []
        self.raw_lines: list[bytes] = []
        self.status: int | None = None
        self.headers = None
        self.body: bytes | None = None
        self.error: BaseException | None = None
        self.done = False
        self._stop = False
        self._resp = None
        self._cv = threading.Condition()
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(30.0, read=None))
        self._path = f"/pipelines/{pipeline}/egress/{view}"
        self._method = method
        self._params = {k: v for k, v in params.items() if v is not None}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        # Wait until the stream is attached (first chunk arrived) or refused.
        self.wait(lambda ch: ch or self.status not in (None, 200), timeout=15, what="the stream to open")

    def _run(self) -> None:
        try:
            with self._client.stream(self._method, self._path, params=self._params) as r:
                self._resp = r
                with self._cv:
                    self.status, self.headers = r.status_code, r.headers
                    self._cv.notify_all()
                if r.status_code != 200:
                    self.body = r.read()
                    return
                for line in r.iter_lines():
                    if not line.strip():
                        continue
                    obj = orjson.loads(line)
                    with self._cv:
                        self.raw_lines.append(line.encode() if isinstance(line, str) else line)
                        self.chunks.append(obj)
                        self._cv.notify_all()
                    if self._stop:
                        return
        except BaseException as e:
            if not self._stop:
                self.error = e
        finally:
            with self._cv:
                self.done = True
                self._cv.notify_all()

    def wait(self, pred, timeout: float = 10.0, what: str = "chunks"):
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                v = pred(self.chunks)
                if v:
                    return v
                if self.error is not None:
                    raise AssertionError(f"egress reader failed: {self.error!r}")
                if self.done:
                    v = pred(self.chunks)
                    if v:
                        return v
                    raise AssertionError(f"egress stream ended before {what}; got {self.chunks}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; got {self.chunks}")
                self._cv.wait(min(left, 0.2))

    def wait_events(self, n: int, timeout: float = 10.0, snapshot: bool | None = None):
        return self.wait(lambda ch: (ev := data_events(ch, snapshot)) and len(ev) >= n and ev,
                         timeout, what=f"{n} change events")

    def wait_done(self, timeout: float = 10.0) -> None:
        with self._cv:
            deadline = time.monotonic() + timeout
            while not self.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("egress stream did not end")
                self._cv.wait(min(left, 0.2))

    @property
    def processed_steps(self) -> int:
        with self._cv:
            return max((c.get("processed_steps", -1) for c in self.chunks), default=-1)

    def close(self) -> None:
        self._stop = True
        # wake the reading thread at once: shut the connection's socket down
        with contextlib.suppress(Exception):
            self._resp.extensions["network_stream"].get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._client.close()
        self._thread.join(5)


class RawEgress:
    """A hand-written egress request on a socket with a small receive buffer, read only on demand."""

    def __init__(self, base_url: str, pipeline: str, view: str, rcvbuf: int = 4096, **params):
        u = urlsplit(base_url)
        self.host, self.port = u.hostname, u.port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: sets the window
        self.sock.settimeout(15)
        self.sock.connect((self.host, self.port))
        path = f"/v0/pipelines/{pipeline}/egress/{view}"
        if params:
            path += "?" + urlencode(params)
        self.sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: 0\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            part = self.sock.recv(1024)
            if not part:
                raise AssertionError(f"connection closed before the response headers: {buf!r}")
            buf += part
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        self.buf = bytearray(rest)  # body bytes not decoded yet
        self.chunks: list[dict] = []  # egress chunks decoded so far (from whole HTTP chunks only)
        self.eof = False
        self.ended = False  # saw the terminating zero-length HTTP chunk
        self._line = bytearray()  # payload of an egress line not complete yet

    def _decode(self) -> None:
        """Move every whole HTTP chunk out of ``buf`` and parse the egress lines it completes."""
        i = 0
        while not self.ended:
            j = self.buf.find(b"\r\n", i)
            if j < 0:
                break
            size = int(bytes(self.buf[i:j]).split(b";")[0], 16)
            if size == 0:
                self.ended = True
                i = j + 2
                break
            if len(self.buf) < j + 2 + size + 2:
                break
            self._line += self.buf[j + 2: j + 2 + size]
            i = j + 2 + size + 2
            while True:  # one egress chunk per CRLF-terminated line
                k = self._line.find(b"\r\n")
                if k < 0:
                    break
                if self._line[:k].strip():
                    self.chunks.append(orjson.loads(bytes(self._line[:k])))
                del self._line[: k + 2]
        del self.buf[:i]

    def _recv(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(min(left, 5.0))
        try:
            part = self.sock.recv(1 << 20)
        except TimeoutError:
            return
        except (ConnectionResetError, BrokenPipeError):
            part = b""
        if not part:
            self.eof = True
        self.buf += part
        self._decode()

    def _seqs(self) -> list[int]:
        return [c["sequence_number"] for c in self.chunks]

    def read_chunks_until(self, pred, timeout: float = 30.0) -> list[dict]:
        """Read until ``pred(chunks)`` holds for the chunks received so far; returns them."""
        deadline = time.monotonic() + timeout
        self._decode()
        while not pred(self.chunks):
            if self.eof or self.ended:
                raise AssertionError(f"egress stream ended first; sequence numbers {self._seqs()}")
            try:
                self._recv(deadline)
            except TimeoutError:
                raise AssertionError(f"condition not met within {timeout}s on the egress stream; "
                                     f"sequence numbers {self._seqs()}") from None
        return self.chunks

    def read_to_end(self, timeout: float = 30.0) -> list[dict]:
        """Read until the chunked body ends or the server closes the connection; returns every chunk."""
        deadline = time.monotonic() + timeout
        self._decode()
        while not (self.eof or self.ended):
            try:
                self._recv(deadline)
            except TimeoutError:
                raise AssertionError(f"egress stream did not end within {timeout}s; "
                                     f"sequence numbers {self._seqs()}") from None
        return self.chunks

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
