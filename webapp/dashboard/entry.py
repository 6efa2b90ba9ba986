"""Manual data entry into a table: its page and JSON endpoints. Rows are checked by ``validate.py``.

    GET  /pipelines/<p>/tables/<t>                      the page: form grid, JSON editor, live panel
    POST /api/pipelines/<p>/tables/<t>/rows             {"rows": [{col: text|value|null}], "op", "force"}
    POST /api/pipelines/<p>/tables/<t>/json             {"text": rows or insert/delete documents, "force"}
    GET  /api/pipelines/<p>/completion?token=T&wait=1[&table=t]   {"status": "complete"|"inprogress", ...}

``op`` is ``insert``, ``delete`` (by key on a table with a primary key, else the whole row) or ``upsert``
(tables with a primary key: the engine, like Feldera, replaces the row with the same key). Insert never
replaces: on a keyed, materialized table the keys are looked up first (``keys.py``) and any already there
are refused, 409 ``KeyExists``, nothing sent; an unmaterialized table cannot be asked, and the answer's
``note`` says its rows replace any with the same key. The JSON editor's inserts are checked the same way,
except keys deleted earlier in the same text. When any
row is wrong the answer is 400 ``InvalidRows`` with every ``{"row", "where", "field", "message"}`` and
nothing is sent. Otherwise the rows go to the engine's ingress as one JSON array of insert/delete
events (all or nothing there too) and the answer is 202 with the completion ``token``; the engine's
own ``ParseErrors`` come back mapped to the same rows and fields. For a table with a ``LATENESS``, the
answer's ``late_records`` is the table's count of records dropped as late before the rows went out, and
the completion of their token, asked with ``table``, the count once they are processed: the difference is
how many were dropped (``inputs.py``; null where the server does not count them). A body over ``FORM_MAX_BYTES`` gets
413 from its ``Content-Length`` before it is read. Viewers never get here: ``auth.py`` refuses them
every POST.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, render_template, request

from webapp.client import ApiError, NotFoundError, PipelineStateError, SchemaError, SluiceError

from . import ratelimit
from .api import summary
from .inputs import late_records
from .keys import batch_duplicates, existence_queries, key_field, key_of, show_key
from .upstream import Relation, relations, resolve
from .validate import DuplicateName, TooDeep, check_row, loads, parse_documents, rules_for
from .answers import json_answer, refuse, upstream_error

bp = Blueprint("entry", __name__)
OPS = ("insert", "delete", "upsert")
MAX_REPORTED = 200


class EntryError(Exception):
    """Raised inside a handler to answer with the error envelope (``status``, ``code``, ``details``)."""

    def __init__(self, status: int, code: str, message: str, details=None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details




def _upstream():
    return current_app.extensions["sluice_upstream"]


@bp.errorhandler(EntryError)
def _entry_error(e: EntryError):
    return refuse(e.status, e.code, e.message, e.details)


@bp.errorhandler(SluiceError)
def _upstream_error(e: SluiceError):
    if isinstance(e, PipelineStateError) and e.error_code == "PipelinePaused":
        return refuse(409, "PipelinePaused", "the pipeline is paused: nothing was sent. Resume it, or push "
                         "anyway (force): the engine processes forced input while paused", e.details)
    return upstream_error(e)


def _table(pipeline: str, name: str) -> Relation:
    try:
        rel = _upstream().relation(pipeline, name)
    except SchemaError as e:
        raise EntryError(404, "UnknownTable", e.message, e.details) from None
    if not rel.is_table:
        raise EntryError(400, "NotATable", f"{rel.name!r} is a view: rows can only be entered into tables",
                         {"relation": rel.name})
    return rel


def _rules(rel: Relation) -> list[dict]:
    return rules_for(rel.fields, rel.primary_key)


def _body() -> dict:
    """The request's JSON object. Its size is bounded before this is called, as every request's is
    (``FORM_MAX_BYTES``, ``security.py``: 413 from ``Content-Length``, or once a chunked body passes it)."""
    raw = request.get_data(cache=False)
    g.entry_bytes = len(raw)  # charged to the client's INGRESS_RATE when the rows go out
    try:
        body = loads(raw or b"{}")
    except (DuplicateName, TooDeep) as e:
        raise EntryError(400, "InvalidJson", f"the body is not accepted: {e}") from None
    except ValueError as e:
        raise EntryError(400, "InvalidJson", f"the body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise EntryError(400, "InvalidJson", "the body must be a JSON object like {\"rows\": [...], \"op\": \"insert\"}")
    return body


def _events(rules: list[dict], items: list[dict], has_key: bool) -> tuple[list[dict], list[int], list[dict]]:
    """Insert/delete events for checked rows, the item each came from, and every error (``row``: item index)."""
    events, origin, errors = [], [], []
    for i, item in enumerate(items):
        key_only = item["op"] == "delete" and has_key
        row, errs = check_row(rules, item["row"], key_only=key_only)
        for e in errs:
            errors.append({"row": i, "where": item.get("where") or f"row {i + 1}", **e})
        events.append({"delete" if item["op"] == "delete" else "insert": row})
        origin.append(i)
    return events, origin, errors


def _engine_errors(e: ApiError, items: list[dict], origin: list[int]) -> list[dict]:
    """The engine's ``ParseErrors`` (``event_number``: 1-based position in the array) mapped to rows."""
    out = []
    for err in ((e.details or {}).get("errors") or []) if isinstance(e.details, dict) else []:
        n = err.get("event_number")
        row = origin[n - 1] if isinstance(n, int) and 0 < n <= len(origin) else None
        field = err.get("field")
        msg = err.get("description") or "refused by the engine"
        if field and msg.startswith(f"column '{field}': "):
            msg = msg[len(f"column '{field}': "):]
        out.append({"row": row, "where": items[row].get("where") if row is not None else None,
                    "field": field, "message": msg + (f" ({err['suggestion']})" if err.get("suggestion") else "")})
    return out


def _existing(pipeline: str, rel: Relation, keys: list[dict], rows: list[dict]) -> list[dict]:
    """The rows of ``rel`` (key columns only) whose key is one of ``rows``' keys."""
    return [r for sql in existence_queries(rel.sql_name, keys, rows) for r in _upstream().query_rows(pipeline, sql)]


def _key_check(pipeline: str, rel: Relation, rules: list[dict], items: list[dict], events: list[dict],
               check_inserts: bool, hint: str) -> dict:
    """Raises 409 ``KeyExists`` when an insert's key is already in the table (not after a delete of it in
    the same batch); returns what the answer says about keys: ``keys_checked``, ``deletes_found``
    (how many deleted keys were in the table) and, for an upsert (``check_inserts`` false), ``updated``
    (how many of its rows replace a row with the same key); None when not asked. Only a materialized
    table can be asked."""
    keys = [r for r in rules if r["key"]]
    if not keys:
        return {"keys_checked": False, "deletes_found": None, "updated": None, "note": None}
    deleted, inserts, deletes = set(), [], []
    for i, ev in enumerate(events):
        op = "delete" if "delete" in ev else "insert"
        k = key_of(keys, ev[op])
        if op == "delete":
            deleted.add(k)
            deletes.append(ev[op])
        elif check_inserts and k not in deleted:
            inserts.append((i, k, ev[op]))
    if not rel.materialized:
        note = (f"table {rel.name!r} is not materialized, so keys were not checked: these rows replace any "
                "with the same key" if inserts else None)
        return {"keys_checked": False, "deletes_found": None, "updated": None, "note": note}
    if inserts:
        found = _existing(pipeline, rel, keys, [row for _, _, row in inserts])
        if found:
            where = {}
            for i, k, _ in inserts:
                where.setdefault(k, []).append(i)
            errors, unmatched = [], []
            for row in found:
                rows = where.get(key_of(keys, row)) or []
                errors += [{"row": i, "where": items[i].get("where") or f"row {i + 1}", "field": key_field(keys),
                            "message": f"key {show_key(keys, row)} is already in the table"} for i in rows]
                if not rows:
                    unmatched.append({"row": None, "where": None, "field": None,
                                      "message": f"key {show_key(keys, row)} is already in the table"})
            errors = sorted(errors, key=lambda e: e["row"]) + unmatched
            raise EntryError(409, "KeyExists", f"{len(found)} key(s) already in table {rel.name!r}: nothing was "
                             f"sent. Insert only adds rows; {hint}",
                             {"errors": errors[:MAX_REPORTED], "existing": found[:MAX_REPORTED],
                              "rows": sorted({e["row"] for e in errors if e["row"] is not None})})
    found_deletes = len(_existing(pipeline, rel, keys, deletes)) if deletes else None
    upserts = [ev["insert"] for ev in events if "insert" in ev] if not check_inserts else []
    updated = len(_existing(pipeline, rel, keys, upserts)) if upserts else None
    return {"keys_checked": bool(inserts), "deletes_found": found_deletes, "updated": updated, "note": None}


def _send(pipeline: str, rel: Relation, items: list[dict], force: bool, check_inserts: bool,
          hint: str = "use Upsert by key to replace them") -> Response:
    if not items:
        raise EntryError(400, "NoRows", "no rows to send: fill in at least one row")
    has_key = bool(rel.primary_key)
    rules = _rules(rel)
    events, origin, errors = _events(rules, items, has_key)
    if not errors:
        errors = batch_duplicates(rules, items, events) if check_inserts else []
    if errors:
        rows = len({e["row"] for e in errors})
        raise EntryError(400, "InvalidRows", f"{rows} of {len(items)} row(s) have errors: nothing was sent. "
                         "Correct the fields marked and send again", {"errors": errors[:MAX_REPORTED],
                                                                     "num_errors": len(errors)})
    refused = ratelimit.refusal()
    if refused is not None:
        return refused
    keys = _key_check(pipeline, rel, rules, items, events, check_inserts, hint)
    late = _late_records(pipeline, rel.name) if rel.lateness() else None
    ratelimit.limiter().charge(ratelimit.client(), getattr(g, "entry_bytes", 0))
    try:
        token = _upstream().push(pipeline, rel.segment, events, force=force)
    except ApiError as e:
        if e.error_code != "ParseErrors":
            raise
        mapped = _engine_errors(e, items, origin)
        raise EntryError(400, "ParseErrors", f"the engine refused {len(mapped) or 'some'} row(s), so it kept none "
                         "of this batch: correct the fields marked and send again",
                         {"errors": mapped, "engine": e.details}) from None
    written = sum(1 for ev in events if "insert" in ev)
    # An upsert whose key was there is an update, not an insert: counted apart when the table could say.
    inserted = written - (keys["updated"] or 0)
    return json_answer({"token": token, "pipeline": pipeline, "table": rel.name, "inserted": inserted,
                  "deleted": len(events) - written, "forced": force, "late_records": late, **keys}, 202)


def _late_records(pipeline: str, table: str) -> int | None:
    """The table's records dropped as late so far (``inputs.late_records``), or None when it cannot be read:
    the count is an extra, and the rows go out without it."""
    try:
        return late_records(_upstream().stats(pipeline), table)
    except SluiceError:
        return None


@bp.post("/api/pipelines/<pipeline>/tables/<table>/rows")
def rows(pipeline, table):
    body = _body()
    op = body.get("op", "insert")
    if op not in OPS:
        raise EntryError(400, "UnknownOp", f"op must be one of {', '.join(OPS)}, not {op!r}", {"ops": list(OPS)})
    given = body.get("rows")
    if not isinstance(given, list):
        raise EntryError(400, "InvalidJson", "\"rows\" must be a list of rows (objects of column: value)")
    rel = _table(pipeline, table)
    if op == "upsert" and not rel.primary_key:
        raise EntryError(400, "NoPrimaryKey", f"table {rel.name!r} has no primary key, so rows cannot be upserted "
                         "by key: use insert and delete")
    items = [{"op": "delete" if op == "delete" else "insert", "row": r, "where": f"row {i + 1}"}
             for i, r in enumerate(given)]
    return _send(pipeline, rel, items, bool(body.get("force")), op == "insert")


@bp.post("/api/pipelines/<pipeline>/tables/<table>/json")
def json_text(pipeline, table):
    body = _body()
    text = body.get("text")
    if not isinstance(text, str):
        raise EntryError(400, "InvalidJson", "\"text\" must hold the editor's text (JSON rows or documents)")
    rel = _table(pipeline, table)
    if not text.strip():
        raise EntryError(400, "NoRows", "nothing to send: type rows or documents")
    items, errors = parse_documents(text)
    if errors:
        raise EntryError(400, "InvalidJson", f"the text is not valid JSON ({errors[0]['where']}): nothing was sent",
                         {"errors": [{"row": None, "field": None, **e} for e in errors]})
    if not items:
        raise EntryError(400, "NoRows", "no rows in the JSON: nothing was sent")
    return _send(pipeline, rel, items, bool(body.get("force")), True,
                 'delete them first in the same text ({"delete": row} before the insert), or use Upsert by key '
                 "in the form")


@bp.get("/api/pipelines/<pipeline>/completion")
def completion(pipeline):
    token = request.args.get("token")
    if not token:
        raise EntryError(400, "InvalidParam", "the token parameter is required (the one a push answered with)")
    try:
        wait = min(max(float(request.args.get("wait", 0)), 0.0), 2.0)
    except ValueError:
        raise EntryError(400, "InvalidParam", "wait must be a number of seconds (at most 2)") from None
    st = _upstream().completion(pipeline, token, wait)
    out = {"token": token, **st, "status": str(st.get("status", "")).lower()}
    table = request.args.get("table")
    if table and out["status"] == "complete":  # the input is processed: its late records are counted
        out["late_records"] = _late_records(pipeline, table)
    return json_answer(out)


@bp.get("/pipelines/<pipeline>/tables/<table>")
def page(pipeline, table):
    data = {"upstream": current_app.config["UPSTREAM"], "pipeline": pipeline, "table": None, "rules": [],
            "relations": [], "status": None, "error": None,
            "entry_timeout": float(current_app.config["ENTRY_TIMEOUT"])}
    status = 200
    try:
        st = _upstream().describe(pipeline)
        data["status"] = summary(st)
        rels = relations(st.get("program_info"))
        data["relations"] = [r.describe() for r in rels]
        found = resolve([r.name for r in rels], table)
        rel = next((r for r in rels if r.name == found), None)
        if rel is None or not rel.is_table:
            data["error"] = (f"{table!r} is a view: rows can only be entered into tables" if rel else
                             f"pipeline {pipeline!r} has no table named {table!r}")
            status = 404
        else:
            data["table"] = rel.describe()
            data["rules"] = _rules(rel)
    except NotFoundError as e:
        data["error"], status = e.message, 404
    except SluiceError as e:
        data["error"], status = e.message, 502
    return render_template("table.html", data=data), status


__all__ = ["bp", "OPS"]
