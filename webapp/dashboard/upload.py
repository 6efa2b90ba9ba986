"""File upload into a table, streamed through to the pipeline server's ingress.

    POST /api/pipelines/<p>/tables/<t>/upload?format=csv|json&part=N&first_row=K[&first_line=L]
         [&update_format=raw|insert_delete][&array=true|false][&force=true]
    GET  /api/pipelines/<p>/tables/<t>/upload/status?token=...      the completion status of a part's token
    GET  /api/pipelines/<p>/tables/<t>/upload/tally                  the row count, records received and dropped as late

The browser (``static/js/upload.js``) cuts a file into parts at record boundaries and says where each
part starts in the file: ``first_row``, the file row of its first record, and ``first_line``, the file
line it starts on (for parts that are the file's own lines). Each part's body is read from
``request.stream`` in chunks and handed to httpx as a generator, so no part is ever held whole. The
engine keeps a part's good records and reports each bad one by its position in the body
(``event_number``, and ``line`` on Sluice's engine); the answer turns those into file rows
(``first_row + event_number - 1``) and file lines, which holds because every record of a part is one
event of the body. A part for a paused pipeline without ``force=true`` is refused (409 ``PipelinePaused``)
before it is sent: the engine would hold it, unanswered, until the pipeline resumes. Limits: ``UPLOAD_MAX_BYTES`` per request (413 from ``Content-Length`` before reading,
or while a chunked body streams), and ``INGRESS_RATE`` bytes per second per client (429).
"""

from __future__ import annotations

import time

import httpx
from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from webapp.client import SchemaError

from . import ratelimit
from .answers import json_answer, refuse
from .inputs import late_records, received
from .keys import ident

bp = Blueprint("upload", __name__, url_prefix="/api")

CHUNK = 1 << 20  # bytes read from the browser, and sent on, at a time
FORWARDED = ("format", "update_format", "array", "force", "json_flavor")




class _Refused(Exception):
    """Raised when a request cannot go on; carries the answer."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


@bp.errorhandler(_Refused)
def _refused(e: _Refused):
    return e.response



RELATION_TTL = 5.0  # seconds a table's lookup serves the next parts of an upload


def _table(name: str, table: str):
    """The table's ``Relation`` (for its URL segment), looked up once per upload rather than once per part;
    a table renamed meanwhile is refused by the server itself."""
    cache = current_app.extensions.setdefault("sluice_upload_tables", {})
    now = time.monotonic()
    hit = cache.get((name, table))
    if hit and hit[0] > now:
        return hit[1]
    rel = current_app.extensions["sluice_upstream"].relation(name, table)
    if len(cache) > 1000:
        cache.clear()
    cache[(name, table)] = (now + RELATION_TTL, rel)
    return rel


def _int_param(name: str, low: int, default: int | None = None, required: bool = False) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if required:
            raise _Refused(refuse(400, "InvalidParam", f"the {name} parameter is required: the file row of the "
                                  "part's first record", {"parameter": name}))
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low:
        raise _Refused(refuse(400, "InvalidParam", f"{name} must be an integer of at least {low}, not {raw!r}",
                              {"parameter": name, "value": raw}))
    return value


def _input():
    """The body as the server gives it when the server ends it itself (gunicorn: ``wsgi.input_terminated``),
    which spares werkzeug's wrapper two copies of every chunk; else ``request.stream``."""
    env = request.environ
    return env["wsgi.input"] if env.get("wsgi.input_terminated") else request.stream


def _body(stream, length: int | None, limit: float, charge):
    """The request body in chunks, counted against ``limit`` (a chunked body has no Content-Length);
    raises ``ClientDisconnected`` when it ends before its ``length``, so nothing of it is stored."""
    size = 0
    while True:
        try:
            chunk = stream.read(CHUNK)
        except Exception as e:  # the server's reader failed: a torn chunked body, a reset connection
            raise ClientDisconnected() from e
        if not chunk:
            if length is not None and size < length:
                raise ClientDisconnected()
            return
        size += len(chunk)
        charge(len(chunk))
        if size > limit:
            raise RequestEntityTooLarge()
        yield chunk
        # A read that finds data waiting never yields under gevent: a fast client would keep this upload
        # running, and every other page and WebSocket of the worker waiting, until its body ends.
        time.sleep(0)


def file_errors(answer: dict, first_row: int, first_line: int | None) -> list[dict]:
    """The engine's per-record errors of one part, placed in the file: ``row`` and ``line``."""
    details = answer.get("details") if isinstance(answer.get("details"), dict) else {}
    out = []
    for e in details.get("errors") or []:
        event = max(1, int(e.get("event_number") or 1))
        line = e.get("line")
        out.append({
            "row": first_row + event - 1,
            "line": first_line + int(line) - 1 if first_line and isinstance(line, int) and line > 0 else None,
            "description": e.get("description"), "field": e.get("field"),
            "invalid_text": e.get("invalid_text"), "suggestion": e.get("suggestion"),
            "event_number": event,
        })
    return out


def _too_large(limit: int, length: int | None) -> Response:
    return refuse(413, "PayloadTooLarge",
                  f"an upload request may carry at most {limit} bytes: send the file in smaller parts (the "
                  "upload page does), or raise SLUICE_UPLOAD_MAX_BYTES", {"limit": limit, "content_length": length})


@bp.post("/pipelines/<name>/tables/<table>/upload")
def upload(name, table):
    limit = int(current_app.config.get("UPLOAD_MAX_BYTES") or 0)
    length = request.content_length
    if limit and length is not None and length > limit:
        return _too_large(limit, length)
    refused = ratelimit.refusal()
    if refused is not None:
        return refused
    limiter, who = ratelimit.limiter(), ratelimit.client()
    part = _int_param("part", 0, default=0)
    first_row = _int_param("first_row", 1, required=True)
    first_line = _int_param("first_line", 1)
    params = {k: request.args[k] for k in FORWARDED if k in request.args}
    params.setdefault("format", "csv")
    up = current_app.extensions["sluice_upstream"]
    try:
        rel = _table(name, table)
    except SchemaError as e:
        return refuse(404, "UnknownInputStream", f"{e.message}: upload into one of its tables",
                      {"stream_name": table} | (e.details or {}))
    if not rel.is_table:
        return refuse(400, "NotATable", f"{rel.name!r} is a view: upload into one of the pipeline's tables",
                      {"name": rel.name})
    # Sluice's engine (like Feldera) holds unforced input while paused: the part would wait, silently, at
    # 100 % until someone resumes. Asked for every part (one cheap status call), so a pause mid-upload counts.
    if request.args.get("force") != "true" and up.deployment_status(name) == "Paused":
        return refuse(409, "PipelinePaused", f"the pipeline is paused: the part from file row {first_row} was not "
                      "sent. Tick \"push while paused (force)\" and upload again, or resume the pipeline first",
                      {"part": part, "first_row": first_row, "first_line": first_line})
    if limit:
        request.max_content_length = limit
    # Sent on chunked, never with the browser's Content-Length: if the browser goes away mid-part, the
    # aborted chunked body fails on the server as a whole, where a short body with a Content-Length was
    # seen stored up to the cut by Sluice's engine (gunicorn ends such a body early without an error).
    headers = {"Content-Type": "application/json" if params["format"] == "json" else "text/csv"}
    if request.headers.get("Idempotency-Key"):
        headers["Idempotency-Key"] = request.headers["Idempotency-Key"]
    where = {"part": part, "first_row": first_row, "first_line": first_line}
    try:
        status, answer = up.ingress_stream(name, rel.segment, params,
                                           _body(_input(), length, limit or float("inf"),
                                                 lambda n: limiter.charge(who, n)), headers)
    except RequestEntityTooLarge:
        return _too_large(limit, length)
    except ClientDisconnected:
        return refuse(400, "UploadCut", f"part {part} ended before all of it arrived; nothing of it was stored: "
                      "send the part again", where)
    except httpx.HTTPError as e:
        return refuse(502, "UpstreamUnreachable", f"part {part} could not be passed to the pipeline server "
                      f"({type(e).__name__}: {e}); nothing of it was stored unless the server answered: send it again "
                      "with the same Idempotency-Key, which the server stores once (the upload page does), or check "
                      "the table's count first", where)
    if status >= 400 and answer.get("error_code") != "ParseErrors":
        current_app.logger.info("upload %s/%s part %d -> %d %s", name, table, part, status, answer.get("error_code"))
    return json_answer(*part_answer(status, answer, where))


def part_answer(status: int, answer: dict, where: dict) -> tuple[dict, int]:
    """The answer to one part: 200 with the token and the refused records at their file rows (the engine
    kept the others), or the engine's error envelope with the part named in its message."""
    if status == 200 or (status == 400 and answer.get("error_code") == "ParseErrors"):
        details = answer.get("details") if isinstance(answer.get("details"), dict) else {}
        errors = file_errors(answer, where["first_row"], where["first_line"])
        return where | {"token": answer.get("token") or details.get("token"),
                        "num_errors": details.get("num_errors", len(errors)), "errors": errors,
                        "num_records_kept": details.get("num_records_kept")}, 200
    return {"message": f"part {where['part']} (from file row {where['first_row']}): {answer.get('message')}",
            "error_code": answer.get("error_code"), "details": answer.get("details")}, status


@bp.get("/pipelines/<name>/tables/<table>/upload/status")
def status(name, table):
    token = request.args.get("token")
    if not token:
        return refuse(400, "InvalidParam", "the token parameter is required", {"parameter": "token"})
    st = current_app.extensions["sluice_upstream"].completion(name, token, 1.0)  # long-polls up to 1 s
    return json_answer({"token": token, **st, "status": str(st.get("status", "")).lower()})


TALLY_TRIES = 5  # reads of a table that other input keeps moving, before saying it cannot be counted
TALLY_PAUSE = 0.1  # seconds between them: about a step, so input waiting at the first read is processed


@bp.get("/pipelines/<name>/tables/<table>/upload/tally")
def tally(name, table):
    """What an upload needs to count the rows it replaced in a keyed table, and those the table's LATENESS
    dropped: the table's row count, the records its input endpoints have received, and ``late``, its records
    dropped as late (``inputs.late_records``: null where the server does not say). Taken before and after an insert-only upload:
    ``replaced = kept - (rows_after - rows_before)``, exact when ``records_after - records_before`` equals
    the records the upload kept, i.e. nothing else wrote to the table meanwhile (the page checks, and says
    so when it cannot count). The two figures must describe one state of the table: the count is taken
    between two reads of the records that agree, with none of them waiting for a step; input from another
    writer (as the demo generator's, sent without waiting) can otherwise be received and not yet in the
    count, which made the page show a negative count. Either figure is null, with ``why``, when the server
    cannot give it."""
    up = current_app.extensions["sluice_upstream"]
    try:
        rel = _table(name, table)
    except SchemaError as e:
        return refuse(404, "UnknownInputStream", e.message, {"stream_name": table} | (e.details or {}))
    out: dict = {"rows": None, "records": None, "late": None, "why": None}
    try:
        for attempt in range(TALLY_TRIES):
            if attempt:
                time.sleep(TALLY_PAUSE)
            stats = up.stats(name)
            records, waiting = received(stats, rel.name)
            out["late"] = late_records(stats, rel.name)
            if not rel.materialized:
                out["records"] = records
                out["why"] = f"table {rel.name!r} is not materialized, so its rows cannot be counted"
                break
            try:
                rows = int(up.query_rows(name, f"SELECT COUNT(*) AS n FROM {ident(rel.sql_name)}")[0]["n"])
            except Exception as e:  # the count is an extra: the upload goes on without it, and says why
                out["records"] = records
                out["why"] = f"the table could not be counted ({getattr(e, 'message', None) or e})"
                break
            if not waiting and received(up.stats(name), rel.name)[0] == records:
                out["rows"], out["records"] = rows, records
                break
        else:
            out["why"] = "other writes were reaching the table while it was counted"
    except Exception as e:
        out["why"] = out["why"] or f"the pipeline's statistics could not be read ({getattr(e, 'message', None) or e})"
    return json_answer(out)


__all__ = ["bp", "file_errors", "part_answer"]
