"""The dashboard's JSON endpoints for its own pages (``/api/...``); upstream errors keep Feldera's envelope.

    GET  /api/pipelines                      every pipeline: status, and throughput where running
    GET  /api/pipelines/<p>                  status and the tables and views
    GET  /api/pipelines/<p>/stats            /stats and /time_series of the pipeline
    POST /api/pipelines/<p>/<action>         start, start_paused, pause, resume, stop, kill, clear (CSRF token)
    DELETE /api/pipelines/<p>                clear storage, then delete (CSRF token; stopped only)
    GET  /api/demo, POST /api/demo           the demo generator's state; {"enabled": bool} switches it
    GET  /api/hub                            the hub's feeds and counters (upstream streams opened, ...)
    GET  /api/session                        the signed-in user and role (401 once the sign-in has ended)
    GET  /api/catalog                        every pipeline with the names of its tables and views (search)
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from webapp.client import SluiceError, TransportError

from .upstream import ACTIONS, relations
from .answers import json_answer

bp = Blueprint("api", __name__, url_prefix="/api")


def _upstream():
    return current_app.extensions["sluice_upstream"]


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
                                   "program_status", "program_version", "storage_status",
                                   "deployment_status_since")} | {
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
    return json_answer({"pipelines": out})


@bp.get("/pipelines/<name>")
def pipeline(name):
    st = _upstream().status(name, "all")
    return json_answer(summary(st) | {"relations": [r.describe() for r in relations(st.get("program_info"))]})


@bp.get("/pipelines/<name>/stats")
def stats(name):
    up = _upstream()
    st = up.status(name)
    out = {"status": summary(st), "stats": None, "time_series": None}
    if st.get("deployment_status") in ("Running", "Paused"):
        try:
            out["stats"] = up.stats(name)
            out["time_series"] = up.time_series(name)
        except TransportError:
            raise  # no answer: the page must say "not answering", not show the status with a note
        except SluiceError as e:
            out["error"] = e.message
    return json_answer(out)


@bp.post("/pipelines/<name>/<action>")
def action(name, action):
    if action not in ACTIONS:
        return json_answer({"message": f"unknown action {action!r}", "error_code": "UnknownAction",
                      "details": {"actions": list(ACTIONS)}}, 404)
    _upstream().action(name, action)
    return json_answer({"pipeline": name, "action": action, "accepted": True}, 202)


@bp.delete("/pipelines/<name>")
def delete(name):
    cleared = _upstream().delete(name)
    return json_answer({"pipeline": name, "deleted": True, "storage_cleared": cleared})


@bp.route("/demo", methods=["GET", "POST"])
def demo():
    gen = current_app.extensions.get("sluice_demo")
    if gen is None:
        return json_answer({"enabled": False, "available": False})
    if request.method == "POST":
        body = request.get_json(silent=True) or {}
        gen.set_enabled(bool(body.get("enabled")))
    return json_answer(gen.state() | {"available": True})


@bp.get("/session")
def signed_in():
    """Asked by a live page whose WebSocket failed: a refused handshake shows the browser no status."""
    return json_answer({"user": g.get("user"), "role": g.get("role")})


@bp.get("/catalog")
def catalog():
    """What the global search (``/`` on every page) looks through: names only, read once per search."""
    return json_answer({"pipelines": _upstream().catalog()})


@bp.get("/hub")
def hub():
    return json_answer(current_app.extensions["sluice_hub"].stats())


__all__ = ["bp", "throughput"]
