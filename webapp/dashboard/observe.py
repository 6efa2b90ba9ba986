"""Watching a pipeline over time: its logs and its statistics history, pages and endpoints.

    /pipelines/<p>/logs                 the logs page: lines as they come, level filter, search, health events
    /pipelines/<p>/history?range=1h     the history page: charts over 5m, 1h or 24h, per table and view
    GET /api/pipelines/<p>/logs?cursor=<epoch>:<seq>     NDJSON frames (below), proxied from the server
    GET /api/pipelines/<p>/history?range=5m|1h|24h        every chart's points and the health events
    GET /api/pipelines/<p>/events                         the newest health events

The browser never talks to the pipeline server: the logs endpoint reads ``GET /v0/pipelines/<p>/logs``
and sends ``{"op":"open"}`` at once, then ``{"op":"lines","lines":[...],"cursor":"<epoch>:<seq>"}`` for lines, ``{"op":"gap","lost":n}``
when lines were dropped before the reader came, ``{"op":"ping"}`` after ``KEEPALIVE_SECS`` of silence (a
gone browser is noticed when one fails to send) and ``{"op":"end"}`` when the server ends the stream
(the pipeline was deleted or the server stopped). The page reconnects with its last cursor, so it misses
nothing the server still holds; a server that sends no position headers (Feldera) replays from the start.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import orjson
from flask import Blueprint, Response, current_app, render_template, request

from . import ratelimit
from .answers import json_answer, refuse
from .history import RANGES, UnknownRange
from .pages import _pipeline_data

bp = Blueprint("observe", __name__)

KEEPALIVE_SECS = 15.0
EVENTS_SHOWN = 200


def _frame(obj: dict) -> bytes:
    return orjson.dumps(obj) + b"\n"


class _OpenStreams:
    """Log streams open per client: each holds a connection (and, on Sluice's engine, a thread) of the
    pipeline server for as long as the page is open, so a client may hold only ``LOG_STREAMS``."""

    def __init__(self):
        self.count: Counter[str] = Counter()
        self.lock = threading.Lock()

    def take(self, who: str, limit: int) -> bool:
        with self.lock:
            if self.count[who] >= limit:
                return False
            self.count[who] += 1
            return True

    def give(self, who: str) -> None:
        with self.lock:
            self.count[who] -= 1
            if self.count[who] <= 0:
                del self.count[who]


@bp.get("/api/pipelines/<name>/logs")
def logs(name):
    up = current_app.extensions["sluice_upstream"]
    # Asked first, on its own: the server may send the log's headers only with its first line, so a
    # missing pipeline or a server that is down is answered here (404 / 502 envelope), not in the stream.
    up.deployment_status(name)
    cursor = request.args.get("cursor") or None
    streams = current_app.extensions.setdefault("sluice_log_streams", _OpenStreams())
    who, limit = ratelimit.client(), int(current_app.config["LOG_STREAMS"])
    if not streams.take(who, limit):
        return refuse(429, "TooManyLogStreams", f"{who} already has {limit} log streams open (LOG_STREAMS): close "
                      "a logs page first", {"limit": limit}, headers={"Retry-After": str(int(KEEPALIVE_SECS))})

    def frames():
        nonlocal cursor
        yield _frame({"op": "open"})  # at once: the page knows it is connected before any line comes
        while True:
            try:
                resp = up.logs(name, cursor, KEEPALIVE_SECS)
            except httpx.ReadTimeout:  # no line yet, so no answer yet either
                yield _frame({"op": "ping"})  # raises here when the browser is gone
                continue
            except httpx.HTTPError as e:
                yield _frame({"op": "error", "message": f"the pipeline server stopped answering: {e}"})
                return
            try:
                if resp.status_code >= 400:  # deleted meanwhile
                    yield _frame({"op": "end"})
                    return
                epoch = resp.headers.get("feldera-logs-epoch")
                seq = int(resp.headers.get("feldera-logs-seq") or 0)
                lost = int(resp.headers.get("feldera-logs-gap") or 0)
                if lost:
                    yield _frame({"op": "gap", "lost": lost})
                tail = b""
                for chunk in resp.iter_raw():
                    *done, tail = (tail + chunk).split(b"\n")
                    if done:
                        seq += len(done)
                        cursor = f"{epoch}:{seq}" if epoch else None
                        yield _frame({"op": "lines", "lines": [ln.decode("utf-8", "replace") for ln in done],
                                      "cursor": cursor})
                yield _frame({"op": "end"})
                return
            except httpx.ReadTimeout:
                # Silence: asked again from the last complete line (one partly read comes again whole).
                yield _frame({"op": "ping"})
            except httpx.HTTPError as e:
                yield _frame({"op": "error", "message": f"the pipeline server stopped answering: {e}"})
                return
            finally:
                resp.close()

    out = Response(frames(), mimetype="application/x-ndjson", direct_passthrough=True)
    # On close, not in the generator: the server closes a response whose body never started, too.
    # A reader that went away is noticed when the next frame (a ping at the latest) fails to go out.
    out.call_on_close(lambda: streams.give(who))
    out.headers["Cache-Control"] = "no-cache"
    out.headers["X-Accel-Buffering"] = "no"
    return out


@bp.get("/api/pipelines/<name>/history")
def history(name):
    rng = request.args.get("range", "5m")
    try:
        answer = current_app.extensions["sluice_history"].series(
            name, rng, int(time.time() * 1000), int(current_app.config["HISTORY_INTERVAL"] * 1000))
    except UnknownRange:
        return refuse(400, "UnknownRange", f"unknown range '{rng}': use one of {', '.join(RANGES)}",
                      {"range": rng, "ranges": list(RANGES)})
    return json_answer(answer | {"interval_s": current_app.config["HISTORY_INTERVAL"],
                                 "kept": bool(current_app.config.get("STATE_DIR"))})


@bp.get("/api/pipelines/<name>/events")
def events(name):
    """The newest ``EVENTS_SHOWN`` health events the sampler recorded, oldest first."""
    return json_answer({"events": current_app.extensions["sluice_history"].events(name, limit=EVENTS_SHOWN)})


@bp.get("/pipelines/<name>/logs")
def logs_page(name):
    data, status = _pipeline_data(name)
    data.pop("program_code", None)
    data["max_lines"] = int(current_app.config["LOG_PAGE_LINES"])
    return render_template("logs.html", data=data), status


@bp.get("/pipelines/<name>/history")
def history_page(name):
    data, status = _pipeline_data(name)
    data.pop("program_code", None)
    rng = request.args.get("range", "5m")
    data["ranges"] = list(RANGES)
    data["range"] = rng
    if rng not in RANGES and status == 200:
        data["error"] = f"unknown range '{rng}': use one of {', '.join(RANGES)}"
        status = 400
    return render_template("history.html", data=data), status


__all__ = ["bp", "KEEPALIVE_SECS"]
