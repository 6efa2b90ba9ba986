"""Watching a pipeline: ``/healthz``, its logs, metrics and circuit profile (Feldera's paths)."""

from __future__ import annotations

import io
import time
import zipfile

import orjson
from flask import Blueprint, Flask, Response, g, request

from ..engine import errors as E
from ..engine import logbuf
from ..engine.profile import dot, profile
from .helpers import client_gone, current_engine, event_selector, json_response
from .metrics import families, render_text

bp = Blueprint("v0_observe", __name__, url_prefix="/v0")
root = Blueprint("health", __name__)


def attribute_request_logs(app: Flask) -> None:
    """What a request about one pipeline logs (its refusal with the reason, among others) goes to that
    pipeline's log as well as the process's: the logs endpoint and the dashboard's logs page show an
    operator why a producer's records were refused. Lines about a pipeline that does not exist are
    dropped by the log handler."""
    @app.before_request
    def _enter() -> None:
        name = (request.view_args or {}).get("name")  # as the route read it (every route spells it <name>)
        if name and request.path.startswith("/v0/pipelines/"):
            g.sluice_log_token = logbuf.enter(name)

    @app.teardown_request
    def _leave(exc) -> None:
        token = g.pop("sluice_log_token", None)
        if token is not None:
            logbuf.leave(token)

LOG_POLL_SECS = 1.0  # how often a waiting logs stream looks whether its reader is gone


@root.get("/healthz")
def healthz():
    """Feldera's liveness answer: 200 ``{"status": "healthy"}`` while the engine serves requests."""
    return json_response({"status": "healthy"})


# -- logs ----------------------------------------------------------------------------------------
@bp.get("/pipelines/<name>/logs")
def logs(name):
    """The pipeline's retained log lines, then each new one as it is logged, until the pipeline is
    deleted, the engine stops or the reader goes away. Position headers as Feldera's."""
    eng = current_engine()
    eng.get(name)
    ring = eng.logs.ring(name)
    after, gap = ring.position(request.args.get("cursor"))
    gone = client_gone() or (lambda: False)

    def stream():
        # Nothing yet to send (a pipeline just created has logged nothing): the server writes the headers
        # only with the first body bytes, so an empty first write sends them at once, as Feldera does;
        # a reader waiting for the answer to begin would otherwise wait for the first log line.
        yield b""
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


# -- monitor events ------------------------------------------------------------------------------
@bp.get("/pipelines/<name>/events")
def pipeline_events(name):
    return json_response(current_engine().get(name).events.list(event_selector()))


@bp.get("/pipelines/<name>/events/<event_id>")
def pipeline_event(name, event_id):
    return json_response(current_engine().get(name).events.get(event_id, event_selector()))


# -- metrics -------------------------------------------------------------------------------------
@bp.get("/pipelines/<name>/metrics")
def pipeline_metrics(name):
    p = current_engine().get(name)
    p.running()  # as Feldera, which asks the running pipeline: 503 when it is not deployed
    fmt = request.args.get("format", "prometheus")
    if fmt not in ("prometheus", "json"):
        raise E.InvalidParam(f"unknown metrics format '{fmt}': use prometheus or json",
                             {"parameter": "format", "value": fmt})
    fams = families([p])
    if fmt == "json":
        return json_response(fams)
    # Exactly text/plain, as Feldera answers: its client returns the text only for that content type.
    return Response(render_text(fams), content_type="text/plain")


# -- circuit profile -----------------------------------------------------------------------------
# Both profiles go out streamed (``Transfer-Encoding: chunked``, no ``Content-Length``) and unencoded, as
# Feldera's API server passes them through from the pipeline: its clients and tests expect that framing.
@bp.get("/pipelines/<name>/circuit_json_profile")
def circuit_json_profile(name):
    return _streamed(json_response(profile(current_engine().get(name).running())))


@bp.get("/pipelines/<name>/circuit_profile")
def circuit_profile(name):
    """A zip of the profile as JSON and as a Graphviz graph (Feldera's is a zip of per-worker graphs)."""
    prof = profile(current_engine().get(name).running())
    return _streamed(attachment(profile_zip(prof), f"{name}_circuit_profile.zip"))


def _streamed(resp: Response) -> Response:
    """``resp`` with its body as an iterator, so the server sends it chunked."""
    body = resp.get_data()
    resp.response = iter((body,))
    resp.headers.pop("Content-Length", None)
    return resp


def profile_zip(prof: dict) -> bytes:
    return zip_files({"profile.json": orjson.dumps(prof, option=orjson.OPT_INDENT_2), "circuit.dot": dot(prof).encode()})


def zip_files(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    now = time.gmtime()[:6]
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for fname, data in files.items():
            z.writestr(zipfile.ZipInfo(fname, date_time=now), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def attachment(data: bytes, filename: str) -> Response:
    resp = Response(data, content_type="application/zip")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp
