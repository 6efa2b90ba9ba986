"""The dashboard's gevent worker: gunicorn's, except that a request body left unread is drained only a little.

After answering, gunicorn's gevent worker reads whatever the client still sends of the request body
(1 KiB at a time, without limit) before it reads the next request on the connection. A refused request
(403 before sign-in, 413, 404) that announced 8 GiB and keeps sending would hold the worker's only
event loop for as long as the client likes: data that is already there never makes a gevent read wait,
so the reading greenlet never yields, and every page and WebSocket of the dashboard waits with it.

So the worker watches each request's body: when the application answers without having read it to its
end, the answer says ``Connection: close``. After it, the worker reads and drops what still comes of the
body for at most ``DRAIN_MAX_BYTES`` and ``DRAIN_SECONDS``, yielding after each read, then closes the
connection. The little drain is for browsers: one whose upload part is refused (409 paused, 429 over its
rate) while it is still sending sees the answer, where a connection closed on unread data is reset and
the answer may be lost. (The ``gthread`` worker drains at most 64 KiB within a deadline by itself.)
"""

from __future__ import annotations

import time

import gevent
from gunicorn.workers.ggevent import GeventWorker

DRAIN_CHUNK = 1 << 16


class _WatchedBody:
    """A request body (gunicorn's ``Body``) that knows whether it was read to its end."""

    def __init__(self, body, req):
        self._body, self.req = body, req
        self._left = _content_length(req)  # None: chunked, read until an empty read
        self._ended = self._left == 0

    @property
    def ended(self) -> bool:
        return self._ended

    def _took(self, data: bytes, asked) -> bytes:
        if data:
            if self._left is not None:
                self._left -= len(data)
                self._ended = self._left <= 0
        elif asked is None or asked != 0:
            self._ended = True
        return data

    def read(self, size=None):
        return self._took(self._body.read(size), size)

    def readline(self, size=None):
        return self._took(self._body.readline(size), size)

    def readlines(self, size=None):
        lines = self._body.readlines(size)
        for line in lines:
            self._took(line, size)
        if not lines:
            self._ended = True
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name):  # ``failed`` and anything else gunicorn's parser asks of its body
        return getattr(self._body, name)


def _content_length(req) -> int | None:
    chunked = False
    for name, value in req.headers:
        if name == "CONTENT-LENGTH":
            try:
                return int(value)
            except ValueError:
                return None
        if name == "TRANSFER-ENCODING" and "chunked" in value.lower():
            chunked = True
    return None if chunked else 0


def _closing_unread(app):
    """Wrap the WSGI app: an answer started while the body is not read to its end closes the connection."""

    def wsgi(environ, start_response):
        def start(status, headers, exc_info=None):
            body = environ.get("wsgi.input")
            if isinstance(body, _WatchedBody) and not body.ended:
                body.req.force_close()  # before the headers go out, so they say "Connection: close"
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wsgi


def _drain(body: _WatchedBody, sock, max_bytes: int, seconds: float) -> None:
    """Read and drop the rest of ``body``, within the bounds, letting the other greenlets run after each read."""
    deadline = time.monotonic() + seconds
    prior = sock.gettimeout()
    try:
        while max_bytes > 0 and not body.ended:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            data = body.read(min(DRAIN_CHUNK, max_bytes))
            max_bytes -= len(data)
            gevent.sleep(0)
    except Exception:  # a timeout, a reset, a torn chunked body (gunicorn's parser): it closes anyway
        return
    finally:
        try:
            sock.settimeout(prior)
        except OSError:
            pass


class DashboardWorker(GeventWorker):
    """``-k webapp.dashboard.worker.DashboardWorker``: ``serve.py`` uses it for ``--worker-class gevent``."""

    def load_wsgi(self):
        super().load_wsgi()
        config = getattr(self.wsgi, "config", {})  # the Flask app: its settings (``settings.py``)
        self.drain = (int(config.get("DRAIN_MAX_BYTES", 16 << 20)), float(config.get("DRAIN_SECONDS", 5.0)))
        self.wsgi = _closing_unread(self.wsgi)

    def handle_request(self, listener_name, req, sock, addr):
        body = req.body = _WatchedBody(req.body, req)
        try:
            return super().handle_request(listener_name, req, sock, addr)
        except StopIteration:  # answered, and the connection is to close: maybe with a body left unread
            if not body.ended:
                _drain(body, sock, *self.drain)
            raise


__all__ = ["DashboardWorker"]
