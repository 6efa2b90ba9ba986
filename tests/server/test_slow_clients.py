"""Slow and greedy clients against a real engine: a request head or body that trickles in is cut after
its timeout, one address cannot hold more than its share of connections, and meanwhile a client from
another address is served. Egress streams, which hold their connection for long, are not cut.

The attackers use 127.0.0.1 only, stop by themselves, and the other client comes from 127.0.0.2 (also
loopback), so the per-address bound counts them apart."""

from __future__ import annotations

import select
import socket
import threading
import time
import uuid
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from sluice_support import wait_until

from webapp.engine.testing import EngineProcess

THREADS = 16
PER_ADDRESS = 6


class Tricklers:
    """``count`` connections from 127.0.0.1, each sending a request line and then one header line every
    ``interval`` seconds, never ending the head; they stop by themselves after ``lasting`` seconds."""

    def __init__(self, url: str, count: int, interval: float = 0.5, lasting: float = 30.0):
        u = urlsplit(url)
        self.socks: list[socket.socket] = []
        self.answers: dict[int, bytes] = {}  # index -> what the server sent (then closed)
        self._stop = threading.Event()
        self._lasting, self._interval = lasting, interval
        for _ in range(count):
            s = socket.create_connection((u.hostname, u.port), timeout=5, source_address=("127.0.0.1", 0))
            s.sendall(f"GET /v0/config HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n".encode())
            s.setblocking(False)
            self.socks.append(s)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        end = time.monotonic() + self._lasting
        n = 0
        while not self._stop.wait(self._interval) and time.monotonic() < end:
            n += 1
            for i, s in enumerate(self.socks):
                if i in self.answers:
                    continue
                try:
                    data = s.recv(4096)
                    self.answers[i] = data  # an answer, or b"" (closed): this connection is over
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    self.answers[i] = b""
                    continue
                try:
                    s.send(f"X-Trickle-{n}: x\r\n".encode())
                except OSError:
                    self.answers[i] = b""

    def held(self) -> int:
        return len(self.socks) - len(self.answers)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.socks:
            s.close()


def _other_client(url: str) -> httpx.Client:
    """A client from another loopback address; each request must be answered within a second."""
    return httpx.Client(base_url=url + "/v0", timeout=1.0,
                        transport=httpx.HTTPTransport(local_address="127.0.0.2"))


def _served(client: httpx.Client) -> bool:
    try:
        return client.get("/config").status_code == 200
    except httpx.TimeoutException:
        return False


@pytest.fixture(scope="module")
def bounded():
    """Few threads, a long head timeout: only the per-address bound stands between an attacker and them."""
    with EngineProcess(None, "--threads", str(THREADS), "--header-timeout", "120",
                       "--max-connections-per-address", str(PER_ADDRESS)) as eng:
        yield eng


@pytest.fixture(scope="module")
def timed():
    """Short head and body timeouts, a short egress keepalive."""
    with EngineProcess(None, "--header-timeout", "1", "--body-timeout", "1", "--keepalive", "0.2") as eng:
        yield eng


def test_trickling_heads_from_one_address_leave_threads_for_others(bounded):
    attack = Tricklers(bounded.url, 2 * THREADS)
    try:
        # Past the bound, the attacker's connections are answered 429 and closed at once.
        wait_until(lambda: attack.held() == PER_ADDRESS, 10, what="the attacker to be cut to its bound")
        refused = [a for a in attack.answers.values() if a]
        assert refused and all(a.startswith(b"HTTP/1.1 429") and b'"TooManyConnections"' in a for a in refused), \
            refused[:1]
        with _other_client(bounded.url) as other:
            for _ in range(5):
                wait_until(lambda: _served(other), 1.0, what="another client's request to be served")
        assert attack.held() == PER_ADDRESS  # the attack was still on while the other client was served
    finally:
        attack.close()


def test_a_connection_over_the_bound_gets_the_error_envelope(bounded):
    u = urlsplit(bounded.url)
    idle = [socket.create_connection((u.hostname, u.port), timeout=5) for _ in range(PER_ADDRESS)]
    try:
        # The idle ones are counted from accept on; one more from the same address is refused. An idle
        # one accepted while the previous test's connections were still counted was refused itself
        # (it reads the refusal): it is opened again, until all are held and the extra one is refused.
        def refusal():
            for n, s in enumerate(idle):
                if select.select([s], [], [], 0)[0]:
                    s.close()
                    idle[n] = socket.create_connection((u.hostname, u.port), timeout=5)
            with socket.create_connection((u.hostname, u.port), timeout=2) as s:
                data = b""
                try:
                    while chunk := s.recv(4096):
                        data += chunk
                except TimeoutError:  # accepted before the idle ones were counted (a loaded machine): again
                    return None
                return data if data.startswith(b"HTTP/1.1 429") else None
        data = wait_until(refusal, 10, what="a connection over the bound to be refused")
        body = orjson.loads(data.partition(b"\r\n\r\n")[2])
        assert set(body) == {"message", "error_code", "details"} and body["error_code"] == "TooManyConnections"
        assert body["details"] == {"address": "127.0.0.1", "limit": PER_ADDRESS}
    finally:
        for s in idle:
            s.close()
    # Closed connections give their places back.
    with httpx.Client(base_url=bounded.url + "/v0", timeout=5) as c:
        wait_until(lambda: c.get("/config").status_code == 200, 10, what="the address to be served again")


def test_a_trickling_head_is_cut_after_the_header_timeout(timed):
    attack = Tricklers(timed.url, 3, interval=0.2, lasting=20)
    try:
        wait_until(lambda: attack.held() == 0, 10, what="the trickling connections to be closed")
        assert all(a.startswith(b"HTTP/1.1 408") and b'"RequestTimeout"' in a for a in attack.answers.values()), \
            attack.answers
    finally:
        attack.close()


def test_a_stalled_body_fails_with_408_and_closes(timed):
    u = urlsplit(timed.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(f"PUT /v0/pipelines/stalled HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"program_code\": ".encode())
        data = b""
        while chunk := s.recv(4096):  # the server answers, then closes: recv returns b""
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), data
    assert orjson.loads(body)["error_code"] == "RequestTimeout"
    with httpx.Client(base_url=timed.url + "/v0", timeout=5) as c:
        assert c.get("/pipelines/stalled").status_code == 404  # nothing of the request was applied


def test_egress_streams_outlive_the_read_timeouts(timed):
    name = f"p{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=timed.url + "/v0", timeout=10) as c:
        r = c.put(f"/pipelines/{name}", json={"program_code": "CREATE TABLE t (x INT);\n"
                                              "CREATE MATERIALIZED VIEW v AS SELECT * FROM t;"})
        assert r.status_code == 201, r.text
        assert c.post(f"/pipelines/{name}/start").status_code == 202
        wait_until(lambda: c.get(f"/pipelines/{name}").json()["deployment_status"] == "Running", 20,
                   what="the pipeline to run")
        # Keepalive lines every 0.2 s; read until the stream has been open well past both 1 s timeouts.
        outlived = False
        until = time.monotonic() + 3.5
        with c.stream("POST", f"/pipelines/{name}/egress/v", params={"format": "json"},
                      timeout=httpx.Timeout(10, read=5)) as resp:
            assert resp.status_code == 200
            for _line in resp.iter_lines():
                if time.monotonic() > until:
                    outlived = True
                    break
        assert outlived, "the egress stream ended before 3.5 s"
        c.post(f"/pipelines/{name}/stop", params={"force": "true"})
