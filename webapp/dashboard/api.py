"""The dashboard's JSON endpoints for its own pages (``/api/...``); upstream errors keep Feldera's envelope.

    GET  /api/pipelines                      every pipeline: status, and throughput where running
    GET  /api/pipelines/<p>                  status and the tables and views
    GET  /api/pipelines/<p>/stats            /stats and /time_series of the pipeline
    POST /api/pipelines/<p>/<action>         start, start_paused, pause, resume, stop (CSRF token)
    GET  /api/demo, POST /api/demo           the demo generator's state; {"enabled": bool} switches it
    GET  /api/hub                            the hub's feeds and counters (upstream streams opened, ...)
"""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, request

from webapp.client import ApiError, SluiceError

from .upstream import ACTIONS, relations

bp = Blueprint("api", __name__, url_prefix="/api")


def _json(obj, status: int = 200) -> Response:
    resp = Response(orjson.dumps(obj), status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _upstream():
    return current_app.extensions["sluice_upstream"]


@bp.errorhandler(SluiceError)
def _upstream_error(e: SluiceError):
    status = e.status if isinstance(e, ApiError) and e.status else 502
    return _json({"message": e.message, "error_code": e.error_code, "details": e.details}, status)


def throughput(series: dict | None) -> float | None:
    """Records per second over the last two samples of ``/time_series``."""
    samples = (series or {}).get("samples") or []
    if len(samples) < 2:
        return None
    a, b = samples[-2], samples[-1]
    dt = (b.get("t", 0) - a.get("t", 0)) / 1000.0
    return round((b.get("r", 0) - a.get("r", 0)) / dt, 2) if dt > 0 else None


def summary(st: dict) -> dict:
    return {k: st.get(k) for k in ("name", "description", "deployment_status", "deployment_desired_status",
                                   "program_status", "storage_status", "deployment_status_since")} | {
        "deployment_error": (st.get("deployment_error") or {}).get("message")}


@bp.get("/pipelines")
def pipelines():
    up = _upstream()
    out = []
    for st in up.pipelines():
        item = summary(st)
        if st.get("deployment_status") in ("Running", "Paused"):
            try:
                item["throughput"] = throughput(up.time_series(st["name"]))
            except SluiceError:
                item["throughput"] = None
        out.append(item)
    return _json({"pipelines": out})


@bp.get("/pipelines/<name>")
def pipeline(name):
    st = _upstream().describe(name)
    return _json(summary(st) | {"relations": [r.describe() for r in relations(st.get("program_info"))]})


@bp.get("/pipelines/<name>/stats")
def stats(name):
    up = _upstream()
    st = up.pipeline(name).describe("status")
    out = {"status": summary(st), "stats": None, "time_series": None}
    if st.get("deployment_status") in ("Running", "Paused"):
        try:
            out["stats"] = up.stats(name)
            out["time_series"] = up.time_series(name)
        except SluiceError as e:
            out["error"] = e.message
    return _json(out)


@bp.post("/pipelines/<name>/<action>")
def action(name, action):
    if action not in ACTIONS:
        return _json({"message": f"unknown action {action!r}", "error_code": "UnknownAction",
                      "details": {"actions": list(ACTIONS)}}, 404)
    _upstream().action(name, action)
    return _json({"pipeline": name, "action": action, "accepted": True}, 202)


@bp.route("/demo", methods=["GET", "POST"])
def demo():
    gen = current_app.extensions.get("sluice_demo")
    if gen is None:
        return _json({"enabled": False, "available": False})
    if request.method == "POST":
        body = request.get_json(silent=True) or {}
        gen.set_enabled(bool(body.get("enabled")))
    return _json(gen.state() | {"available": True})


@bp.get("/hub")
def hub():
    return _json(current_app.extensions["sluice_hub"].stats())


__all__ = ["bp", "throughput"]
