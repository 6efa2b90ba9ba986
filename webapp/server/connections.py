"""Keeping slow or greedy clients from holding every HTTP thread of the engine.

gunicorn's ``gthread`` worker hands a connection to a thread once it is readable, and the thread then
reads the whole request head, and later the body, with blocking reads. A client sending a header line
every few seconds (slowloris) holds its thread for as long as it likes; a few hundred such
connections hold them all. Three limits, each a setting (``Settings``, ``sluice engine`` flags):

- ``header_timeout_secs``: the whole request head must arrive within this time after the thread takes
  the connection. The worker's loop checks the deadlines about once a second; an overdue connection
  gets 408 ``RequestTimeout`` (best effort) and is shut down, which wakes its thread.
- ``body_timeout_secs``: while the application reads the body, each read may wait at most this long
  for data (a socket timeout); then the request fails with 408 ``RequestTimeout`` and the connection
  closes. The timeout is cleared when the response starts, so egress streams, which hold their
  connection for hours while writing, are never cut by it.
- ``max_connections_per_address``: open connections from one client address (counted from accept to
  close, kept-alive ones included). One more is answered 429 ``TooManyConnections`` and closed at once,
  without taking a thread.

A timeout or bound of 0 turns that limit off.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections import Counter

from gunicorn.workers.gthread import TConn, ThreadWorker

from ..engine.errors import EngineError
from .errors import raw_http


class ConnectionGuard:
    """Per-address connection counts and request-head deadlines; every method is thread-safe."""

    def __init__(self, header_timeout: float, body_timeout: float, max_per_address: int):
        self.header_timeout, self.body_timeout, self.max_per_address = header_timeout, body_timeout, max_per_address
        self._lock = threading.Lock()
        self._open: Counter = Counter()
        self._heads: dict[socket.socket, float] = {}

    @classmethod
    def from_settings(cls, s) -> ConnectionGuard:
        return cls(s.header_timeout_secs, s.body_timeout_secs, s.max_connections_per_address)

    def admit(self, address: str | None) -> bool:
        """Count a new connection from ``address``; False (nothing counted) when it would pass the bound."""
        with self._lock:
            if address is not None and self.max_per_address and self._open[address] >= self.max_per_address:
                return False
            self._open[address] += 1
            return True

    def release(self, address: str | None) -> None:
        with self._lock:
            self._open[address] -= 1
            if self._open[address] <= 0:
                del self._open[address]

    def reading_head(self, sock: socket.socket) -> None:
        if self.header_timeout:
            with self._lock:
                self._heads[sock] = time.monotonic() + self.header_timeout

    def head_read(self, sock: socket.socket) -> None:
        with self._lock:
            self._heads.pop(sock, None)

    def overdue(self) -> list[socket.socket]:
        """Sockets whose head did not arrive in time (forgotten here: each is returned once)."""
        now = time.monotonic()
        with self._lock:
            late = [s for s, deadline in self._heads.items() if deadline <= now]
            for s in late:
                del self._heads[s]
        return late

    def timeout_response(self) -> bytes:
        return raw_http("408 Request Timeout", "RequestTimeout",
                         f"the request head did not arrive within {self.header_timeout} s; the connection is closed "
                         "(the engine's --header-timeout)", {"header_timeout_secs": self.header_timeout})

    def refusal(self, address: str) -> bytes:
        return raw_http("429 Too Many Requests", "TooManyConnections",
                         f"{address} already has {self.max_per_address} connections open to this engine; close some "
                         "or raise --max-connections-per-address", {"address": address, "limit": self.max_per_address})

    def wrap(self, app):
        """The WSGI app with the head deadline cleared, and the body read timeout set, while it runs."""
        guard = self

        def guarded(environ, start_response):
            sock = environ.get("gunicorn.socket")
            if sock is None:
                return app(environ, start_response)
            guard.head_read(sock)
            if guard.body_timeout:
                sock.settimeout(guard.body_timeout)
                environ["wsgi.input"] = _TimedBody(environ["wsgi.input"], sock, guard.body_timeout)

            def start(status, headers, exc_info=None):
                sock.settimeout(None)  # responses (egress streams above all) write as long as they need
                return start_response(status, headers, exc_info)

            return app(environ, start)

        return guarded


class BodyTimeout(EngineError):
    """Raised when a request body stops arriving for longer than the body timeout."""

    status = 408
    error_code = "RequestTimeout"


class _TimedBody:
    """``wsgi.input`` turning a socket timeout into ``BodyTimeout`` (Werkzeug would take any OSError for
    a client that went away), and shutting the reading side so the rest of the body is not waited for."""

    def __init__(self, body, sock: socket.socket, timeout: float):
        self._body, self._sock, self._timeout = body, sock, timeout

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except TimeoutError:
            try:
                self._sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
            raise BodyTimeout(f"the request body stopped arriving for {self._timeout} s; nothing of it was stored "
                              "(the engine's --body-timeout)", {"body_timeout_secs": self._timeout}) from None

    def read(self, size=None):
        return self._call(self._body.read, size)

    def readline(self, size=None):
        return self._call(self._body.readline, size)

    def readlines(self, hint=None):
        return self._call(self._body.readlines, hint)

    def __iter__(self):
        return iter(self.readline, b"")


class _CountedConn(TConn):
    """A connection that gives its place back to the per-address count when it closes."""

    def __init__(self, cfg, sock, client, server, release):
        super().__init__(cfg, sock, client, server)
        self._release = release

    def close(self, graceful=False):
        try:
            super().close(graceful)
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


def _address(client) -> str | None:
    return client[0] if isinstance(client, tuple) and client else None


class GuardedThreadWorker(ThreadWorker):
    """A ``gthread`` worker applying ``ConnectionGuard`` limits from ``self.app.settings``."""

    def init_process(self):
        self.guard = ConnectionGuard.from_settings(self.app.settings)
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        self.wsgi = self.guard.wrap(self.wsgi)

    def accept(self, listener):
        # As ThreadWorker.accept, with the per-address count checked before a thread is involved.
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        address = _address(client_addr)
        if not self.guard.admit(address):
            _refuse(client_sock, self.guard.refusal(address))
            return
        self.nr_conns += 1
        client_sock.setblocking(True)
        conn = _CountedConn(self.cfg, client_sock, client_addr, listener.getsockname(),
                            lambda: self.guard.release(address))
        self.enqueue_req(conn)

    def handle(self, conn):
        self.guard.reading_head(conn.sock)
        try:
            return super().handle(conn)
        finally:
            self.guard.head_read(conn.sock)

    def murder_pending(self):
        # Called by the worker's loop about once a second: the place to cut heads that are overdue.
        super().murder_pending()
        for sock in self.guard.overdue():
            try:
                sock.send(self.guard.timeout_response(), socket.MSG_DONTWAIT)
            except OSError:
                pass
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the thread's blocked read returns: it closes the connection
            except OSError:
                pass


def _refuse(sock: socket.socket, response: bytes) -> None:
    try:
        sock.setblocking(False)
        sock.send(response)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1 << 16)  # what the client already sent, so closing does not reset the answer away
    except OSError:
        pass
    finally:
        sock.close()


__all__ = ["BodyTimeout", "ConnectionGuard", "GuardedThreadWorker"]
