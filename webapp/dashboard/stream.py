"""``GET /stream``: the WebSocket's subscription over plain HTTP, as NDJSON, for where WebSockets are blocked.

    GET /stream?pipeline=demo&view=city_totals&since=<epoch>:<seq>&filter=<json>&columns=a,b&id=s1
               [&log_from=<json: "oldest", {"last": N} or {"since": ms}>]

One subscription per request; the answer is the same frames the WebSocket sends, one JSON object per
line, with ``{"op":"ping"}`` every 15 seconds of silence. The browser reads it with fetch and a reader
that keeps a partial line until its end arrives (``static/js/api.js``), and reconnects with ``since``.
"""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, request

from . import logstart, ratelimit
from .answers import refuse

bp = Blueprint("stream", __name__)

KEEPALIVE_SECS = 15.0


def _since(text: str | None) -> dict | None:
    if not text or ":" not in text:
        return None
    epoch, _, seq = text.rpartition(":")
    try:
        return {"epoch": epoch, "seq": int(seq)}
    except ValueError:
        return None


@bp.get("/stream")
def stream():
    args = request.args
    filt = None
    if args.get("filter"):
        try:
            filt = orjson.loads(args["filter"])
        except orjson.JSONDecodeError:
            return refuse(400, "BadFilter", "filter must be JSON")
    log_from = None
    if args.get("log_from"):
        try:
            log_from = orjson.loads(args["log_from"])
        except orjson.JSONDecodeError:
            return refuse(400, "BadLogFrom", f"log_from must be JSON: {logstart.CHOICES}")
    columns = [c for c in args.get("columns", "").split(",") if c] or None
    session = current_app.extensions["sluice_hub"].open_session(ratelimit.client())
    session.subscribe(args.get("pipeline"), args.get("view"), since=_since(args.get("since")), filter=filt,
                      columns=columns, sid=args.get("id"), log_from=log_from)

    def lines():
        try:
            while not session.closed:
                frames = session.next_frames(timeout=KEEPALIVE_SECS)
                if not frames:
                    yield b'{"op":"ping"}\n'
                else:
                    yield ("\n".join(frames) + "\n").encode()
        finally:
            session.close()

    resp = Response(lines(), mimetype="application/x-ndjson", direct_passthrough=True)
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"
    return resp


__all__ = ["bp"]
