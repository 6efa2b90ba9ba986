"""``/ws``: one WebSocket per browser tab, any number of subscriptions (messages: ``docs/websocket.md``).

The handler is thin: it opens a hub session, passes each message to it, and a second thread sends
what the session hands out; the session is closed (every subscription released) in ``finally``.
Origin and Host were checked before the handshake (``security.py``), and the session (``auth.py``).
"""

from __future__ import annotations

import threading

from flask import current_app
from flask_sock import ConnectionClosed, Sock

sock = Sock()

KEEPALIVE_SECS = 15.0


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
    session = current_app.extensions["sluice_hub"].open_session()
    sender = threading.Thread(target=_send_loop, args=(ws, session), daemon=True, name=f"ws-send-{session.n}")
    sender.start()
    try:
        while not session.closed:
            message = ws.receive(timeout=KEEPALIVE_SECS)
            if message is not None:
                session.handle(message)
    except ConnectionClosed:
        pass
    finally:
        session.close()
        sender.join(5.0)


def init_app(app) -> None:
    # simple-websocket closes the connection (1009) on a message over max_message_size
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": 25,
                                                  "max_message_size": int(app.config.get("WS_MAX_MESSAGE") or 1 << 20)})
    sock.init_app(app)


__all__ = ["sock", "init_app"]
