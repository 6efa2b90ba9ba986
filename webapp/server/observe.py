"""Watching a pipeline: ``/healthz``, its logs, metrics, circuit profile and support bundle (Feldera's paths)."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import datetime, timezone

import orjson
from flask import Blueprint, Response, current_app, request

from ..engine import errors as E
from ..engine.profile import dot, profile
from .api import _client_gone, _engine, _flag, _json
from .metrics import families, render_text

bp = Blueprint("v0_observe", __name__, url_prefix="/v0")
root = Blueprint("health", __name__)

LOG_POLL_SECS = 1.0  # how often a waiting logs stream looks whether its reader is gone


@root.get("/healthz")
def healthz():
    """Feldera's liveness answer: 200 ``{"status": "healthy"}`` while the engine serves requests."""
    return _json({"status": "healthy"})


# -- logs ----------------------------------------------------------------------------------------
@bp.get("/pipelines/<name>/logs")
def logs(name):
    """The pipeline's retained log lines, then each new one as it is logged, until the pipeline is
    deleted, the engine stops or the reader goes away. Position headers as Feldera's."""
    eng = _engine()
    eng.get(name)
    ring = eng.logs.ring(name)
    after, gap = ring.position(request.args.get("cursor"))
    gone = _client_gone() or (lambda: False)

    def stream():
        seq = after
        while True:  # the engine's shutdown closes every buffer, which ends this too
            lines, seq = ring.read_after(seq, LOG_POLL_SECS)
            if lines:
                yield ("\n".join(lines) + "\n").encode()
            elif ring.closed or gone():
                return

    resp = Response(stream(), mimetype="text/plain", direct_passthrough=True)
    resp.headers.update({"feldera-logs-epoch": ring.epoch, "feldera-logs-seq": str(after),
                         "feldera-logs-gap": str(gap), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return resp


# -- metrics -------------------------------------------------------------------------------------
@bp.get("/pipelines/<name>/metrics")
def pipeline_metrics(name):
    p = _engine().get(name)
    p.running()  # as Feldera, which asks the running pipeline: 503 when it is not deployed
    fmt = request.args.get("format", "prometheus")
    if fmt not in ("prometheus", "json"):
        raise E.InvalidParam(f"unknown metrics format '{fmt}': use prometheus or json",
                             {"parameter": "format", "value": fmt})
    fams = families([p])
    if fmt == "json":
        return _json(fams)
    # Exactly text/plain, as Feldera answers: its client returns the text only for that content type.
    return Response(render_text(fams), content_type="text/plain")


# -- circuit profile -----------------------------------------------------------------------------
@bp.get("/pipelines/<name>/circuit_json_profile")
def circuit_json_profile(name):
    return _json(profile(_engine().get(name).running()))


@bp.get("/pipelines/<name>/circuit_profile")
def circuit_profile(name):
    """A zip of the profile as JSON and as a Graphviz graph (Feldera's is a zip of per-worker graphs)."""
    prof = profile(_engine().get(name).running())
    data = _zip({"profile.json": orjson.dumps(prof, option=orjson.OPT_INDENT_2),
                 "circuit.dot": dot(prof).encode()})
    return _attachment(data, f"{name}_circuit_profile.zip")


# -- support bundle ------------------------------------------------------------------------------
# Feldera's collection switches; ``heap_profile`` and ``dataflow_graph`` have no Sluice counterpart and
# ``pipeline_events`` none yet: the bundle's manifest says so for each one asked for.
PARTS = ("circuit_profile", "heap_profile", "metrics", "logs", "stats", "pipeline_config", "system_config",
         "dataflow_graph", "pipeline_events")
UNAVAILABLE = {"heap_profile": "Sluice has no heap profiler (it is a Python process, not Rust with jemalloc)",
               "dataflow_graph": "Sluice compiles no DBSP dataflow; circuit_profile holds its relation graph",
               "pipeline_events": "Sluice keeps no monitor events; the logs hold every status change"}


@bp.get("/pipelines/<name>/support_bundle")
def support_bundle(name):
    eng = _engine()
    p = eng.get(name)
    if not _flag("collect", True):
        raise E.InvalidParam("collect=false asks for previously stored collections, and Sluice stores none: "
                             "leave collect at true for a fresh one", {"parameter": "collect", "value": "false"})
    limit = request.args.get("limit")
    if limit not in (None, "") and not (limit.isdigit() and int(limit) >= 1):
        raise E.InvalidParam("limit must be a whole number of at least 1", {"parameter": "limit", "value": limit})
    want = [part for part in PARTS if _flag(part, True)]
    files: dict[str, bytes] = {}
    manifest: dict = {"pipeline_name": name, "collected_at": datetime.now(timezone.utc).isoformat(),
                      "included": [], "missing": {}}
    rt = p.runtime if p.status in ("Running", "Paused") else None
    for part in want:
        if part in UNAVAILABLE:
            manifest["missing"][part] = UNAVAILABLE[part]
            continue
        if part in ("circuit_profile", "metrics", "stats") and rt is None:
            manifest["missing"][part] = f"the pipeline is {p.status}; only a running or paused one has {part}"
            continue
        if part == "circuit_profile":
            prof = profile(rt)
            files["circuit_profile.json"] = orjson.dumps(prof, option=orjson.OPT_INDENT_2)
            files["circuit_profile.dot"] = dot(prof).encode()
        elif part == "metrics":
            files["metrics.txt"] = render_text(families([p])).encode()
        elif part == "stats":
            files["stats.json"] = orjson.dumps(rt.stats(), option=orjson.OPT_INDENT_2)
        elif part == "logs":
            ring = eng.logs.ring(name)
            lines, _ = ring.read_after(ring.position(None)[0], 0)
            files["logs.txt"] = ("\n".join(lines) + "\n" if lines else "").encode()
        elif part == "pipeline_config":
            files["pipeline_config.json"] = orjson.dumps(p.to_json("all"), option=orjson.OPT_INDENT_2)
        elif part == "system_config":
            files["system_config.json"] = orjson.dumps(
                {"config": eng.config(), "settings": vars(eng.settings),
                 "server": {k: current_app.config.get(k) for k in ("MAX_CONTENT_LENGTH", "CORS_ORIGINS",
                                                                   "ALLOWED_HOSTS")}},
                option=orjson.OPT_INDENT_2)
        manifest["included"].append(part)
    files["manifest.json"] = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d_%H%M%S")
    return _attachment(_zip(files), f"{name}_support_bundle_{stamp}.zip")


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    now = time.gmtime()[:6]
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for fname, data in files.items():
            z.writestr(zipfile.ZipInfo(fname, date_time=now), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _attachment(data: bytes, filename: str) -> Response:
    resp = Response(data, content_type="application/zip")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp
