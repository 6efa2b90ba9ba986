"""Ad-hoc SQL from the dashboard: the query page, its results, and exports.

    GET  /pipelines/<p>/query                       the page: an SQL box, a paged table, exports
    GET  /api/pipelines/<p>/query?sql=&format=      a read-only query; format json (NDJSON), csv or parquet;
                                                    download=1 makes it a file download
    POST /api/pipelines/<p>/query   {"sql"}         any statement the server accepts (INSERT): editors only

Reads and writes are split by method, not by a role check inside one GET handler: a write over GET
could be started by any page the user visits (a link or an image carries no CSRF token), so writes
go through POST, where ``security.py`` checks the CSRF token and ``auth.py`` refuses viewers (403).
The GET handler refuses any statement that may change data, for every role. That test is lexical and
deliberately blunt (``may_write``): a write keyword anywhere, even in a string or comment, or a first
word that is not a read, sends the statement to POST. The server still decides what runs; the engine
refuses files, the network and its internals for everyone, and that refusal comes back as it is.
"""

from __future__ import annotations

import logging
import re

import orjson
from flask import Blueprint, Response, current_app, g, render_template, request, stream_with_context

from webapp.client import SluiceError

from . import export
from .auth import current_role
from .pages import _pipeline_data
from .answers import json_answer, refuse, upstream_error
from .hangup import ClientGone, unless_client_leaves

bp = Blueprint("query", __name__)

READ_STARTS = ("SELECT", "WITH", "VALUES", "EXPLAIN", "FROM", "TABLE", "SHOW", "DESCRIBE", "SUMMARIZE")
# Words that can make a statement that begins like a read write anyway (WITH ... INSERT, SELECT ... INTO);
# statements that begin with any other word are caught by READ_STARTS.
WRITE_WORDS = ("INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "INTO", "CREATE", "DROP", "ALTER", "COPY",
               "ATTACH", "DETACH", "TRUNCATE")
_WRITE_RE = re.compile(r"\b(" + "|".join(WRITE_WORDS) + r")\b", re.IGNORECASE)
_LEAD_RE = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/|\()*", re.DOTALL)
MAX_SQL = 100_000
MAX_POST_ROWS = 10_000
CHUNK = 1 << 16


def may_write(sql: str) -> str | None:
    """Why ``sql`` may change data ("it contains INSERT", "it begins with PRAGMA"), or None when it is a read:
    its first word is SELECT, WITH, ... and no write keyword appears anywhere in it (strings and comments
    included, on purpose)."""
    m = _WRITE_RE.search(sql)
    if m:
        return f"it contains {m.group(1).upper()}"
    first = re.match(r"[A-Za-z_]+", sql[_LEAD_RE.match(sql).end():])
    if not first:
        return "it does not begin with a word"
    if first.group(0).upper() not in READ_STARTS:
        return f"it begins with {first.group(0).upper()}"
    return None




def _upstream():
    return current_app.extensions["sluice_upstream"]


def _where(details: dict | None, message: str, sql: str) -> dict | None:
    """The server's details, with ``line`` and ``column`` when it said or when the message names the
    token (``syntax error at or near "x"``, a quoted name): then the first place ``x`` appears."""
    details = dict(details) if isinstance(details, dict) else {}
    if "line" not in details:
        m = re.search(r'at or near "([^"]+)"', message) or re.search(r'"([^"\n]+)"', message)
        at = _find_word(sql, m.group(1)) if m else -1
        if at >= 0:
            before = sql[:at]
            details |= {"line": before.count("\n") + 1, "column": at - (before.rfind("\n") + 1) + 1,
                        "guessed": True}
    return details or None


def _find_word(sql: str, word: str) -> int:
    m = re.search(r"(?<![\w\"])" + re.escape(word) + r"(?![\w\"])", sql, re.IGNORECASE)
    return m.start() if m else -1


@bp.errorhandler(SluiceError)
def _upstream_error(e: SluiceError):
    sql = request.values.get("sql") or (request.get_json(silent=True) or {}).get("sql") or ""
    # a refusal (a mistyped query) is shown on the page: one line in the log, no traceback
    status = getattr(e, "status", None) or 502
    current_app.logger.log(logging.INFO if status < 500 else logging.WARNING, "query of %s -> %d %s: %s",
                           (request.view_args or {}).get("name"), status, e.error_code,
                           (e.message or "").splitlines()[0] if e.message else "")
    return upstream_error(e, _where(e.details, e.message, sql) if e.error_code == "AdHocQueryError" else None)


@bp.errorhandler(ClientGone)
def _client_gone(_e: ClientGone):
    # nobody reads this answer: the browser cancelled; the engine's query was stopped with the connection
    return refuse(400, "QueryCancelled", "the browser left before the query answered: it was stopped")


def _ask(name: str, sql: str, fmt: str):
    """The engine's answer to ``sql``, unread; given up (and the query stopped) if the browser leaves first."""
    up = _upstream()
    return unless_client_leaves(lambda: up.query(name, sql, fmt), lambda resp: resp.close())


def _sql_from(source) -> str | Response:
    sql = (source.get("sql") or "").strip() if source else ""
    if not sql:
        return refuse(400, "InvalidParam", "write a SQL statement first", {"parameter": "sql"})
    if len(sql) > MAX_SQL:
        return refuse(413, "PayloadTooLarge", f"a statement may have at most {MAX_SQL} characters")
    return sql.rstrip(";").rstrip()


@bp.get("/pipelines/<name>/query")
def page(name):
    data, status = _pipeline_data(name)
    data.pop("program_code", None)
    data["sql"] = request.args.get("sql", "")
    data["max_post_rows"] = MAX_POST_ROWS
    data["user"] = getattr(g, "user", None)  # the browser keeps a query history per user
    return render_template("query.html", data=data, read_starts=", ".join(READ_STARTS)), status


@bp.get("/api/pipelines/<name>/query")
def read(name):
    sql = _sql_from(request.args)
    if isinstance(sql, Response):
        return sql
    fmt = request.args.get("format", "json")
    if fmt not in export.EXTENSIONS:
        return refuse(400, "InvalidParam", f"unknown export format '{fmt}': use json, csv or parquet",
                       {"parameter": "format", "value": fmt})
    why = may_write(sql)
    if why:
        if current_role() != "editor":
            return refuse(403, "Forbidden", f"a viewer may only run read-only queries (beginning with "
                           f"{', '.join(READ_STARTS[:-1])} or {READ_STARTS[-1]}, with no INSERT, UPDATE, DELETE, ... "
                           f"anywhere, not even in a string or comment); this one may change data: {why}", {"role": current_role(), "needs": "editor",
                                                                           "reason": why})
        return refuse(400, "NotReadOnly", f"this statement may change data ({why}): send it with POST and the "
                       "CSRF token, as the query page's Run button does", {"reason": why})
    download = bool(request.args.get("download"))
    upstream_fmt = {"csv": "arrow_ipc"}.get(fmt, fmt)
    resp = _ask(name, sql, upstream_fmt)  # raises before the first row: the error handler answers

    def body():
        try:
            chunks = resp.iter_bytes(CHUNK)
            if fmt == "csv":
                yield from export.csv_from_arrow(chunks)
            elif fmt == "json" and download:  # a file must not end in an error line: cut the download instead
                yield from export.ndjson_passthrough(chunks)
            else:
                yield from chunks
        except export.ExportError as e:
            current_app.logger.info("query of %s cut short: %s", name, e)
            raise
        finally:
            resp.close()

    out = Response(stream_with_context(body()), mimetype=export.MEDIA_TYPES[fmt])
    out.headers["Cache-Control"] = "no-store"
    out.headers["X-Accel-Buffering"] = "no"
    if download:
        what = request.args.get("what") or "query"
        out.headers["Content-Disposition"] = f'attachment; filename="{export.filename(name, what, fmt)}"'
    return out


@bp.post("/api/pipelines/<name>/query")
def write(name):
    sql = _sql_from(request.get_json(silent=True))
    if isinstance(sql, Response):
        return sql
    resp = _ask(name, sql, "json")
    rows, truncated = [], False
    try:
        for line in export.ndjson_passthrough(resp.iter_bytes(CHUNK)):
            for part in line.splitlines():
                if part.strip():
                    if len(rows) >= MAX_POST_ROWS:
                        truncated = True
                        break
                    rows.append(orjson.loads(part))
            if truncated:
                break
    except export.ExportError as e:
        return refuse(400, "AdHocQueryError", str(e), {"rows_before_error": len(rows)})
    finally:
        resp.close()
    return json_answer({"rows": rows, "truncated": truncated})


__all__ = ["bp", "may_write", "READ_STARTS", "WRITE_WORDS"]
