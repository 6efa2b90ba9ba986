"""One client must not freeze the dashboard for the others (issue 16, items 2 and 3).

Against the real dashboard under gunicorn's gevent worker: while one client attacks (a request body that
never ends, a WebSocket subscribing to too many views), a second client's page load and WebSocket frames
must keep arriving. Each attack is bounded (bytes, seconds, messages) and targets 127.0.0.1 only, so a
failing run ends by itself. What is asserted is a condition, never a duration: the second client was served
while the attack was still on (the attacker had not reached its own bound), and the server cut the attack.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest
import simple_websocket

from webapp.dashboard.testing import DashboardProcess

from .conftest import TEST_SETTINGS

MAX_BYTES = 1 << 30  # an attacker's own bounds: a run against a dashboard that reads everything still ends
MAX_SECONDS = 15.0
WAIT = 30.0  # seconds any single await of this file may take before it counts as failed


class BodyAttack:
    """A request to 127.0.0.1 whose body keeps coming: ``head``, then chunks until the server closes the
    connection (``outcome`` "cut"), ``stop()`` ("stopped"), or ``MAX_BYTES``/``MAX_SECONDS`` ("bound")."""

    def __init__(self, url: str, head: str, chunk: bytes = b"x" * (1 << 16), chunked: bool = False):
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1", "attacks target 127.0.0.1 only"
        self.sock = socket.create_connection(("127.0.0.1", parts.port), timeout=WAIT)
        self.sock.sendall(head.encode("latin-1"))
        self.piece = (b"%x\r\n" % len(chunk)) + chunk + b"\r\n" if chunked else chunk
        self.sent = 0
        self.outcome: str | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        t0 = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.sent >= MAX_BYTES or time.monotonic() - t0 >= MAX_SECONDS:
                    self.outcome = "bound"
                    return
                self.sock.sendall(self.piece)
                self.sent += len(self.piece)
            self.outcome = "stopped"
        except OSError:
            self.outcome = "cut"
        finally:
            self._done.set()

    def response_head(self) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            got = self.sock.recv(4096)
            assert got, f"the connection closed before an answer: {data!r}"
            data += got
        return data.split(b"\r\n\r\n", 1)[0]

    def wait_outcome(self) -> str | None:
        self._done.wait(MAX_SECONDS + WAIT)
        return self.outcome

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join(WAIT)
        self.sock.close()


def second_client_served(url: str) -> None:
    """A page load, then a WebSocket ping answered with a pong (the frames of a second client)."""
    with httpx.Client(base_url=url, timeout=WAIT) as c:
        page = c.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
    ws = simple_websocket.Client.connect(url.replace("http://", "ws://") + "/ws")
    try:
        ws.send(json.dumps({"op": "ping", "t": 7}))
        deadline = time.monotonic() + WAIT
        while True:
            frame = ws.receive(timeout=max(0.0, deadline - time.monotonic()))
            assert frame is not None, "no pong before the deadline"
            if json.loads(frame) == {"op": "pong", "t": 7}:
                return
    finally:
        ws.close()


def assert_cut_while_served(attack: BodyAttack, url: str) -> None:
    second_client_served(url)
    during = attack.outcome  # None: still sending; "cut": the server closed it. Never "bound".
    assert during in (None, "cut"), f"the second client was served only after the attack ended by itself ({during})"
    assert attack.wait_outcome() == "cut", (
        f"the server kept reading the attacker's body ({attack.sent} bytes sent, outcome {attack.outcome})")


@pytest.mark.parametrize("path, status", [
    ("/api/pipelines/x/start", 413),  # over FORM_MAX_BYTES, from its Content-Length
    ("/api/pipelines/x/tables/t/upload?format=csv&first_row=1", 403),  # an upload may be that large: no CSRF token
])
def test_a_refused_request_closes_without_reading_its_body(dashboard, path, status):
    """No sign-in needed: a POST announcing 8 GiB is refused before its body is read, and the connection
    closes instead of draining the body."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
            "Content-Length: 8589934592\r\n\r\n")
    with BodyAttack(dashboard.url, head) as attack:
        answer = attack.response_head().lower()
        assert answer.startswith(b"http/1.1 %d" % status) and b"connection: close" in answer, answer
        assert_cut_while_served(attack, dashboard.url)


def test_a_client_still_sending_a_refused_part_gets_the_whole_answer(dashboard):
    """The other side of the bound: a refused body of a few MiB (the upload page sends 8 MiB parts) is
    read to its end after the answer (DRAIN_MAX_BYTES), so the browser sees the answer and then the
    connection's end, never a reset that could lose the answer."""
    body = b"1,abcdefghij\n" * ((3 << 20) // 13)  # 3 MiB
    head = ("POST /api/pipelines/x/tables/t/upload?format=csv&first_row=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: text/csv\r\nContent-Length: {len(body)}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", urlsplit(dashboard.url).port), timeout=WAIT) as s:
        s.sendall(head.encode() + body)
        answer = b""
        while chunk := s.recv(65536):  # a reset raises here
            answer += chunk
    head_part, _, rest = answer.partition(b"\r\n\r\n")
    assert head_part.lower().startswith(b"http/1.1 403") and b"connection: close" in head_part.lower()
    assert json.loads(rest)["error_code"] == "CsrfFailed"


def test_a_json_body_over_the_limit_is_refused_unread(dashboard):
    """Bodies Flask reads whole (JSON, the sign-in form) are bounded by FORM_MAX_BYTES: a chunked one is
    refused (413, error envelope) once past it, and the connection closes."""
    with httpx.Client(base_url=dashboard.url, timeout=WAIT) as c:
        assert c.get("/").status_code == 200
        token = c.cookies["sluice_csrf"]
    head = (f"POST /api/pipelines/x/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-CSRF-Token: {token}\r\nCookie: sluice_csrf={token}\r\nTransfer-Encoding: chunked\r\n\r\n")
    with BodyAttack(dashboard.url, head, b'{"sql": "' + b"x" * (1 << 16), chunked=True) as attack:
        answer = attack.response_head().lower()
        assert answer.startswith(b"http/1.1 413") and b"connection: close" in answer, answer
        assert_cut_while_served(attack, dashboard.url)


@pytest.fixture(scope="module")
def limited(engine):
    """A dashboard with small limits: uploads, subscriptions per socket and per client."""
    settings = TEST_SETTINGS | {"UPLOAD_MAX_BYTES": 4 << 20, "MAX_SUBSCRIPTIONS": 4, "USER_MAX_SUBSCRIPTIONS": 6}
    with DashboardProcess(engine.url, settings=settings) as dash:
        yield dash


def test_an_upload_over_its_limit_is_cut_and_not_drained(limited, make_pipeline):
    """An editor's chunked upload that never ends: cut at UPLOAD_MAX_BYTES with 413, the rest unread."""
    name = make_pipeline("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, note VARCHAR);")
    with httpx.Client(base_url=limited.url, timeout=WAIT) as c:
        assert c.get("/").status_code == 200
        token = c.cookies["sluice_csrf"]
    head = (f"POST /api/pipelines/{name}/tables/t/upload?format=csv&first_row=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: text/csv\r\nX-CSRF-Token: {token}\r\nCookie: sluice_csrf={token}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    with BodyAttack(limited.url, head, b"1,abcdefghij\n" * 5000, chunked=True) as attack:
        answer = attack.response_head().lower()
        assert answer.startswith(b"http/1.1 413") and b"connection: close" in answer, answer
        assert_cut_while_served(attack, limited.url)


class Frames:
    """A WebSocket to 127.0.0.1 whose frames a thread collects; ``closed`` once the server ends it."""

    def __init__(self, url: str):
        assert urlsplit(url).hostname == "127.0.0.1", "attacks target 127.0.0.1 only"
        self.ws = simple_websocket.Client.connect(url.replace("http://", "ws://") + "/ws")
        self.frames: list[dict] = []
        self.closed = threading.Event()
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                text = self.ws.receive()
                if text is not None:
                    with self.changed:
                        self.frames.append(json.loads(text))
                        self.changed.notify_all()
        except (simple_websocket.ConnectionClosed, OSError):
            self.closed.set()
            with self.changed:
                self.changed.notify_all()

    def subscribe(self, pipeline: str, view: str, sid: str) -> None:
        self.ws.send(json.dumps({"op": "subscribe", "id": sid, "pipeline": pipeline, "view": view}))

    def wait_for(self, pred, what: str) -> list[dict]:
        """The frames so far, once ``pred(frames)`` holds (before the deadline, the connection open)."""
        deadline = time.monotonic() + WAIT
        with self.changed:
            while not pred(self.frames):
                assert not self.closed.is_set(), f"the connection closed before {what}"
                left = deadline - time.monotonic()
                assert left > 0, f"no {what} before the deadline: {self.frames[-3:]}"
                self.changed.wait(left)
            return list(self.frames)

    def close(self) -> None:
        self.ws.close()


def too_many(frames: list[dict], scope: str) -> list[dict]:
    return [f for f in frames if f.get("code") == "TooManySubscriptions" and f["details"]["scope"] == scope]


def test_one_socket_subscribing_to_many_views_is_bounded_and_others_are_served(dashboard, make_pipeline):
    """1,500 distinct views on one WebSocket used to stop the worker until gunicorn killed it (and every
    WebSocket with it). Beyond MAX_SUBSCRIPTIONS (100) each is refused with an error frame; meanwhile a second
    client is served and the attacker's own connection stays open."""
    name = make_pipeline("CREATE TABLE t (id INT NOT NULL PRIMARY KEY) WITH ('materialized' = 'true');")
    attacker = Frames(dashboard.url)
    try:
        for i in range(1500):
            attacker.subscribe(name, f"v{i}", f"s{i}")
        second_client_served(dashboard.url)
        assert not attacker.closed.is_set(), "the attacker's connection was dropped: the worker died"
        frames = attacker.wait_for(lambda fs: len(too_many(fs, "socket")) >= 1400, "1,400 refusals")
        refused = too_many(frames, "socket")
        assert {f["id"] for f in refused} == {f"s{i}" for i in range(100, 1500)}
        assert refused[0]["details"] == {"scope": "socket", "limit": 100, "setting": "MAX_SUBSCRIPTIONS"}
        assert "100 subscriptions" in refused[0]["message"] and refused[0]["view"] == "v100"
    finally:
        attacker.close()


def test_subscriptions_are_bounded_per_client_over_its_sockets(limited, make_pipeline):
    name = make_pipeline("CREATE TABLE t (id INT NOT NULL PRIMARY KEY) WITH ('materialized' = 'true');")
    one, two = Frames(limited.url), Frames(limited.url)
    try:
        for i in range(5):  # the fifth is over this socket's 4
            one.subscribe(name, "t", f"a{i}")
        frames = one.wait_for(lambda fs: too_many(fs, "socket"), "a refusal for the socket")
        assert [f["id"] for f in too_many(frames, "socket")] == ["a4"]
        for i in range(3):  # 4 + 2 = USER_MAX_SUBSCRIPTIONS (6): the third is refused for the client
            two.subscribe(name, "t", f"b{i}")
        frames = two.wait_for(lambda fs: too_many(fs, "user"), "a refusal for the client")
        refused = too_many(frames, "user")
        assert [f["id"] for f in refused] == ["b2"] and refused[0]["details"]["setting"] == "USER_MAX_SUBSCRIPTIONS"
        assert not any(f["id"] in ("b0", "b1") for f in frames if f["op"] == "error")
        one.ws.send(json.dumps({"op": "unsubscribe", "id": "a0"}))  # one freed: the client may subscribe again
        one.wait_for(lambda fs: any(f["op"] == "unsubscribed" for f in fs), "the unsubscribe")
        two.subscribe(name, "t", "b3")
        two.wait_for(lambda fs: any(f["op"] == "snapshot" and f["id"] == "b3" for f in fs), "b3's snapshot")
    finally:
        one.close()
        two.close()
