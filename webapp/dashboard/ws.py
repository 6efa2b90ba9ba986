"""``/ws``: one WebSocket per browser tab, any number of subscriptions (messages: ``docs/websocket.md``).

The handler is thin: it opens a hub session, passes each message to it, and a second thread sends
what the session hands out; the session is closed (every subscription released) in ``finally``.
Origin and Host were checked before the handshake (``security.py``), and the session (``auth.py``),
which is checked again every few seconds: a removed user's socket, or one whose password changed, closes (1008).
"""

from __future__ import annotations

import threading

from flask import current_app, request
from flask_sock import ConnectionClosed, Sock

from . import ratelimit
from .auth import still_signed_in

sock = Sock()

KEEPALIVE_SECS = 15.0
SIGN_IN_CHECK_SECS = 5.0  # how soon an open WebSocket ends after its user is removed or its password changed


class _WholeSends:
    """The connection's socket, with ``send`` sending everything, one caller at a time.

    simple-websocket writes each frame with one ``sock.send`` and ignores how much went out. Under gevent
    the socket is non-blocking underneath, so a frame larger than the free send buffer (a big snapshot;
    any frame to a slow reader) was cut short and the stream corrupted. Its reader thread also sends
    (pongs, pings), hence the lock: frames never interleave."""

    def __init__(self, raw):
        self._raw = raw
        self._lock = threading.Lock()

    def send(self, data, *flags) -> int:
        with self._lock:
            self._raw.sendall(data, *flags)
        return len(data)

    def __getattr__(self, name):
        return getattr(self._raw, name)


def _send_loop(ws, session) -> None:
    try:
        while not session.closed:
            frames = session.next_frames(timeout=KEEPALIVE_SECS)
            if not frames and not session.closed:
                frames = ['{"op":"ping"}']  # lets both ends notice a dead connection
            for f in frames:
                ws.send(f)
    except (ConnectionClosed, OSError):
        pass
    finally:
        session.close()
        try:
            ws.close()  # wakes the receiving side if it is still waiting
        except Exception:
            pass


@sock.route("/ws")
def websocket(ws):
    ws.sock = _WholeSends(ws.sock)
    session = current_app.extensions["sluice_hub"].open_session(ratelimit.client())
    sender = threading.Thread(target=_send_loop, args=(ws, session), daemon=True, name=f"ws-send-{session.n}")
    sender.start()
    try:
        # without sign-in there is nothing to check: wake only as often as before
        wait = SIGN_IN_CHECK_SECS if "sluice_users" in current_app.extensions else KEEPALIVE_SECS
        while not session.closed:
            message = ws.receive(timeout=wait)
            if not still_signed_in():
                ws.close(reason=1008, message="signed out: the user was removed or its credentials changed")
                break
            if message is not None:
                session.handle(message)
    except ConnectionClosed:
        pass
    finally:
        session.close()
        sender.join(5.0)


def _no_deflate() -> None:
    """Decline permessage-deflate, which browsers always offer, by hiding the offer from the handshake.

    Compression is per connection: every frame would be compressed once per socket, undoing the hub's
    encode-once fan-out, and each socket would keep its own zlib state. Measured with 1,000 sockets on one
    view (``benchmarks/bench_live.py``): 163 KiB of dashboard memory per socket with it, 57 KiB without,
    and about five times the CPU per frame sent."""
    if request.path == "/ws":
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)


def init_app(app) -> None:
    # simple-websocket closes the connection (1009) on a message over max_message_size
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": 25,
                                                  "max_message_size": int(app.config.get("WS_MAX_MESSAGE") or 1 << 20)})
    app.before_request(_no_deflate)
    sock.init_app(app)


__all__ = ["sock", "init_app"]
