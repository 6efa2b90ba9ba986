"""The ``/v0`` REST API: thin handlers mapping HTTP onto engine calls (Feldera's shapes)."""

from __future__ import annotations

import socket
from datetime import datetime, timezone

import orjson
from flask import Blueprint, Response, current_app, request

from ..engine import errors as E
from ..engine import query as Q
from . import egress_config, errors
from .helpers import body_json, client_gone, current_engine, event_selector, json_response, query_flag

bp = Blueprint("v0", __name__, url_prefix="/v0")


def _read_body() -> bytes:
    """The request body, refused with 413 past the limit even when it comes chunked (no Content-Length)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if not limit or request.content_length is not None:
        body = request.get_data()
        # Werkzeug stops at the end of the stream without noticing it came early: a client that went
        # away mid-body would otherwise have its first records (and a torn last one) stored.
        if request.content_length is not None and len(body) != request.content_length:
            raise E.EngineError(f"the request body ended after {len(body)} of the {request.content_length} bytes "
                                "its Content-Length announced; nothing of it was stored: send it again",
                                {"received": len(body), "content_length": request.content_length},
                                error_code="IncompleteBody").with_status(400)
        return body
    stream = request.environ["wsgi.input"]
    parts, size = [], 0
    while True:
        chunk = stream.read(min(1 << 20, limit + 1 - size))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise E.EngineError(f"the request body is larger than the limit of {limit} bytes; send it in smaller "
                                "parts (cut at record boundaries) or raise --max-body-mb", {"limit": limit},
                                error_code="PayloadTooLarge").with_status(413)


def _selector() -> str:
    s = request.args.get("selector", "all")
    if s not in ("all", "status", "status_with_connectors"):
        raise E.InvalidParam(f"selector must be all or status, not '{s}'", {"parameter": "selector", "value": s})
    return "all" if s == "all" else "status"


# -- platform ------------------------------------------------------------------------------------
@bp.get("/config")
def config():
    return json_response(current_engine().config())


@bp.get("/cluster_healthz")
def cluster_healthz():
    return json_response({"all_healthy": True, "runner": {"healthy": True}, "compiler": {"healthy": True}})


@bp.get("/cluster/events")
def cluster_events():
    return json_response(current_engine().cluster_events.list(event_selector()))


@bp.get("/cluster/events/<event_id>")
def cluster_event(event_id):
    return json_response(current_engine().cluster_events.get(event_id, event_selector()))


# -- pipelines -----------------------------------------------------------------------------------
@bp.get("/pipelines")
def list_pipelines():
    sel = _selector()
    return json_response([p.to_json(sel) for p in current_engine().list()])


@bp.post("/pipelines")
def create_pipeline():
    return json_response(current_engine().create(body_json()), 201)


@bp.get("/pipelines/<name>")
def get_pipeline(name):
    return json_response(current_engine().get(name).to_json(_selector()))


@bp.put("/pipelines/<name>")
def put_pipeline(name):
    answer, created = current_engine().put(name, body_json())
    return json_response(answer, 201 if created else 200)


@bp.patch("/pipelines/<name>")
def patch_pipeline(name):
    return json_response(current_engine().patch(name, body_json()))


@bp.post("/pipelines/<name>/update_runtime")
def update_runtime(name):
    return json_response(current_engine().get(name).update_runtime())


@bp.delete("/pipelines/<name>")
def delete_pipeline(name):
    current_engine().delete(name)
    return Response(b"", status=200)


@bp.post("/pipelines/<name>/start")
def start(name):
    p = current_engine().get(name)
    return json_response(p.start(request.args.get("initial", "running"), request.args.get("bootstrap_policy"),
                         dismiss_error=query_flag("dismiss_error", True)), 202)


@bp.post("/pipelines/<name>/pause")
def pause(name):
    return json_response(current_engine().get(name).pause(), 202)


@bp.post("/pipelines/<name>/resume")
def resume(name):
    return json_response(current_engine().get(name).resume(), 202)


@bp.post("/pipelines/<name>/stop")
def stop(name):
    return json_response(current_engine().get(name).stop(force=query_flag("force", False)), 202)


@bp.post("/pipelines/<name>/clear")
def clear(name):
    return json_response(current_engine().get(name).clear(), 202)


@bp.post("/pipelines/<name>/dismiss_error")
def dismiss_error(name):
    return json_response(current_engine().get(name).dismiss_error(), 202)


# -- interaction ---------------------------------------------------------------------------------
@bp.post("/pipelines/<name>/ingress/<table>")
def ingress(name, table):
    p = current_engine().get(name)
    force = query_flag("force")
    query_flag("array")  # validated here so a bad value is refused before the body is read
    status, answer = p.ingest(table, _read_body, request.args.to_dict(), force,
                              request.headers.get("Idempotency-Key"), client_gone())
    return errors.answer(status, answer)


# ``<path:table>``: a quoted table name may hold "/", which arrives decoded from its "%2F".
@bp.post("/pipelines/<name>/tables/<path:table>/connectors/<connector>/<action>")
def connector_action(name, table, connector, action):
    if action not in ("start", "pause"):  # checked first, as Feldera does (case-sensitive)
        raise E.BadRequest(f"invalid connector action '{action}': the actions are 'start' and 'pause'",
                           {"action": action}, error_code="InvalidConnectorAction")
    current_engine().get(name).connector(table, connector).set_paused(action == "pause")
    return Response(b"", status=200)


@bp.get("/pipelines/<name>/tables/<path:table>/connectors/<connector>/stats")
def connector_stats(name, table, connector):
    p = current_engine().get(name)
    return json_response(p.running().connector_stats(p.connector(table, connector)))


@bp.get("/pipelines/<name>/completion_status")
def completion_status(name):
    token = request.args.get("token")
    if not token:
        raise E.InvalidParam("the token parameter is required", {"parameter": "token"})
    return json_response(current_engine().get(name).running().completion(token))


@bp.route("/pipelines/<name>/egress/<view>", methods=["GET", "POST"])
def egress(name, view):
    rt = current_engine().get(name).running()
    if rt.program.output(view) is None:  # the stream is named before its configuration is read
        raise E.UnknownOutputStream(view)
    raw = request.get_data()
    if raw.strip():
        cfg = egress_config.from_body(raw, request.args.to_dict())
    else:
        fmt = request.args.get("format", "csv")
        if fmt not in ("json", "csv"):
            raise E.InvalidParam(f"unknown output format '{fmt}': use json or csv", {"parameter": "format", "value": fmt})
        query_flag("array")
        cfg = egress_config.EgressConfig(fmt, query_flag("backpressure"), query_flag("send_snapshot"))
    sub = rt.subscribe(view, cfg.fmt, cfg.backpressure, cfg.snapshot)
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        def _shut():
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        sub.on_stall = _shut

    def stream():
        try:
            yield from sub.lines()
        finally:
            sub.close()

    resp = Response(stream(), mimetype="application/json", direct_passthrough=True)
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"
    resp.headers["Content-Encoding"] = "identity"
    return resp


@bp.get("/pipelines/<name>/query")
def adhoc_query(name):
    p = current_engine().get(name)
    sql = request.args.get("sql")
    if not sql:
        raise E.InvalidParam("the sql parameter is required", {"parameter": "sql"})
    fmt = request.args.get("format", "text")
    if fmt not in Q.FORMATS:
        raise E.InvalidParam(f"unknown query format '{fmt}': use one of {', '.join(Q.FORMATS)}",
                             {"parameter": "format", "value": fmt})
    rt = p.running()
    limit, gone = current_engine().settings.query_timeout_secs, client_gone()
    kind = Q.classify(sql)
    if kind == "insert":
        table, batch = Q.parse_insert(rt.db, sql, rt.program, limit, gone, rt.begin_read)
        _status, answer = p.push_parsed(rt, table, batch, force=True)
        rt.wait_complete(answer["token"], current_engine().settings.ingress_wait_secs)
        sql = f"SELECT {batch.num_records}::BIGINT AS count"
    else:
        _settle(rt, limit)
    cur, cols = Q.run_select(rt.db, sql, rt.program, limit, gone, rt.begin_read)
    if fmt == "json":
        Q.check_json_names(cur, cols, sql)
        return Response(Q.json_lines(cur, cols), mimetype="application/json")
    if fmt == "csv":
        return Response(Q.csv_lines(cur, cols), content_type="text/csv")
    if fmt == "hash":
        return Response(Q.result_hash(cur, cols), content_type="text/plain")
    if fmt == "arrow_ipc":
        return Response(Q.arrow_stream(cur, cols), content_type="application/octet-stream")
    if fmt == "parquet":
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d_%H%M%S")
        resp = Response(Q.parquet_stream(cur, cols), content_type="application/octet-stream")
        resp.headers["Content-Disposition"] = f"attachment; filename=results_{stamp}.parquet"
        return resp
    return Response(Q.text_table(cur, cols), content_type="text/plain")


def _settle(rt, limit: float) -> None:
    """Let a query read the input acknowledged before it arrived: wait (within the query's own time limit)
    for the step that processes it. Feldera's steps take milliseconds, so its clients and tests push and
    query at once; ours take longer, and without this a query right after a push reads the state before
    it. Input an open transaction holds back is not waited for: it is applied only on commit, and until
    then a query reads the state without it, as in Feldera."""
    with rt.cv:
        if rt.txn.holds_input:
            return
        token = rt.current_token()
    rt.wait_complete(token, limit if limit > 0 else float("inf"))


@bp.get("/pipelines/<name>/stats")
def stats(name):
    return json_response(current_engine().get(name).running().stats())


@bp.get("/pipelines/<name>/time_series")
def time_series(name):
    return json_response(current_engine().get(name).running().time_series())


@bp.get("/pipelines/<name>/time_series_stream")
def time_series_stream(name):
    rt = current_engine().get(name).running()

    def gen():
        last = None
        while not rt.stopping:
            ts = rt.time_series()
            for sample in ts["samples"]:
                if last is None or sample["t"] > last:
                    last = sample["t"]
                    yield orjson.dumps(sample) + b"\n"
            rt.stopped.wait(1.0)

    return Response(gen(), mimetype="application/x-ndjson", direct_passthrough=True)


@bp.get("/metrics")
def metrics():
    from .metrics import prometheus_text
    return Response(prometheus_text(current_engine()), content_type="text/plain; version=0.0.4")
