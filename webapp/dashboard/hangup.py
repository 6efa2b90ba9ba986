"""Give up an upstream call when the browser that asked for it has gone (the query page's Cancel).

A query's answer starts only once the engine has run it far enough for its first row, which may take
until the engine's ``--query-timeout``. While the dashboard waits, nothing reads the browser's socket,
so a cancelled ``fetch`` would go unnoticed and the dashboard's connection to the engine would keep the
query running. ``unless_client_leaves`` runs the call in its own greenlet and looks at the browser's
socket a few times a second: once it reads as closed, the call is killed, which closes its connection
to the engine; the engine notices that (``query_watch``) and interrupts the query.

This needs gevent (the dashboard's default worker). Under ``gthread`` a thread blocked in a read cannot
be stopped from outside, so the call runs as it is and the engine's time limit is what ends it.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from flask import request

from webapp._serving import peer_closed

T = TypeVar("T")
POLL_SECS = 0.1


class ClientGone(Exception):
    """Raised when the browser closed its connection before the upstream call answered."""


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("socket")


def unless_client_leaves(call: Callable[[], T], cleanup: Callable[[T], None]) -> T:
    """``call()``'s result, or ``ClientGone`` once this request's browser has gone; a result that came
    anyway is handed to ``cleanup`` (close it). ``call`` must not need the request context."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None or not _gevent_patched():
        return call()
    import gevent
    job = gevent.spawn(_outcome, call)
    while not job.ready():
        job.join(timeout=POLL_SECS)
        if not job.ready() and peer_closed(sock):
            job.kill(block=True)  # GreenletExit inside the call: httpx closes the connection it was reading
            if job.successful() and isinstance(job.value, tuple) and job.value[0] is not None:
                cleanup(job.value[0])  # it answered just before the kill
            raise ClientGone()
    value, error = job.get()
    if error is not None:
        raise error
    return value


def _outcome(call: Callable[[], T]) -> tuple[T | None, Exception | None]:
    """``call()``'s result or its exception, as a value: an exception that ends a greenlet is printed by
    gevent's hub with its traceback, and a refusal (a mistyped query is a 400) is no crash. The caller
    raises it again, for the request's error handlers."""
    try:
        return call(), None
    except Exception as e:
        return None, e


__all__ = ["ClientGone", "unless_client_leaves"]
