"""The program editor: a new pipeline, or a pipeline's program, with compile errors at their line and column.

    GET /pipelines/new                       the editor with a name box and the starter program (starter.sql)
    GET /pipelines/<p>/program               the pipeline's program
    GET /api/pipelines/<p>/program           the stored program, its version and storage (asked before a save)
    PUT /api/pipelines/<p>/program           {"program_code", "description", "create", "base_version"}: save
                                             (editors only)

Saving goes through ``webapp.client`` (``Client.create_pipeline`` with ``clear_storage=False``). The
pipeline must be stopped: the page offers Stop rather than stopping it behind the user's back. The answer
says what the server reported: ``program_status``, the compiler's messages (line, column) and, on
Sluice's engine, which tables kept their rows (``program_info.sluice.kept_tables``: tables whose
columns, types, nullability and primary key did not change, or that only gained columns that may be NULL;
the others start empty, views are rebuilt), and ``tables_before``, the tables the pipeline had, so the page
can tell a table that lost rows from a new one. A server that does not report it (Feldera) gets
``kept_tables: null``, and the page says it does not know. The page (editor.js) asks before saving a changed
program of a pipeline that holds stored data (``storage_status`` "InUse"), and before replacing a program
another client saved since the page loaded it. ``base_version``, when sent, is the ``program_version`` the
editor's text was based on (or that the user chose to replace): a stored program at another version is not
overwritten (409 ``ProgramChanged``), so a save between the page's question and its PUT is not lost either.
Without it the endpoint saves what it is sent, as Feldera's PUT does.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, current_app, render_template, request

from webapp.client import CompilationError, NotFoundError, SluiceError

from .pages import _base, _pipeline_data
from .upstream import relations
from .answers import json_answer, refuse

bp = Blueprint("editor", __name__)

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_PROGRAM = 1 << 20
# What a new pipeline starts from: a table and two views that compile as they are (a test saves and starts it).
STARTER = (Path(__file__).parent / "starter.sql").read_text(encoding="utf-8")




def _upstream():
    return current_app.extensions["sluice_upstream"]



def messages(program_error: dict | None) -> list[dict]:
    """The compiler's messages (``sql_compilation.messages``), each with line, column, message, snippet."""
    sql = (program_error or {}).get("sql_compilation") or {}
    out = []
    for m in sql.get("messages") or []:
        if isinstance(m, dict):
            out.append({k: m.get(k) for k in ("start_line_number", "start_column", "end_line_number", "end_column",
                                              "warning", "error_type", "message", "snippet")})
    rust = (program_error or {}).get("rust_compilation") or {}
    if rust.get("exit_code"):
        out.append({"message": "Rust compilation failed: " + str(rust.get("stderr") or rust.get("stdout") or ""),
                    "error_type": "Rust error", "warning": False})
    if (program_error or {}).get("system_error"):
        out.append({"message": str(program_error["system_error"]), "error_type": "System error", "warning": False})
    return out


def _tables(program_info: dict | None) -> list[str]:
    return [r.name for r in relations(program_info) if r.is_table]


@bp.get("/pipelines/new")
def new():
    data = _base() | {"pipeline": None, "program_code": STARTER, "starter": STARTER, "description": "",
                      "status": None, "program_status": None, "errors": [], "tables": [], "error": None}
    return render_template("editor.html", data=data)


@bp.get("/pipelines/<name>/program")
def program(name):
    data, status = _pipeline_data(name)
    data |= {"program_status": None, "errors": [], "tables": [], "description": ""}
    if status == 200 and data.get("status"):
        try:
            st = _upstream().describe(name)
            data |= {"program_status": st.get("program_status"), "errors": messages(st.get("program_error")),
                     "tables": _tables(st.get("program_info")), "description": st.get("description") or "",
                     "storage_status": st.get("storage_status")}
        except SluiceError as e:
            data["error"] = e.message
    return render_template("editor.html", data=data), status  # relations: the editor completes their names


@bp.get("/api/pipelines/<name>/program")
def stored(name):
    st = _upstream().describe(name)
    return json_answer({"pipeline": name, "program_code": st.get("program_code") or "",
                        "program_version": st.get("program_version"), "storage_status": st.get("storage_status"),
                        "tables": _tables(st.get("program_info"))})


@bp.put("/api/pipelines/<name>/program")
def save(name):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("program_code"), str):
        return refuse(400, "InvalidParam", "send {\"program_code\": \"...\"} as JSON", {"field": "program_code"})
    base = body.get("base_version")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool)):
        return refuse(400, "InvalidParam", "base_version is the program_version the text was based on: an integer",
                      {"field": "base_version"})
    code = body["program_code"]
    if len(code) > MAX_PROGRAM:
        return refuse(413, "PayloadTooLarge", f"a program may have at most {MAX_PROGRAM} characters")
    if not NAME_RE.match(name):
        return refuse(400, "InvalidParam", "a pipeline name is 1 to 100 letters, digits, '_' or '-'", {"name": name})
    up = _upstream()
    try:
        before = up.describe(name)
    except NotFoundError:
        before = None
    if before is not None and body.get("create"):
        return refuse(409, "DuplicateName", f"a pipeline named '{name}' exists already: pick another name, or "
                       f"edit it at /pipelines/{name}/program", {"name": name})
    if before is not None and before.get("deployment_status") != "Stopped":
        return refuse(409, "UpdateRestrictedToStopped", f"pipeline '{name}' is {before.get('deployment_status')}: "
                       "stop it first (a program changes only while the pipeline is stopped)",
                       {"status": before.get("deployment_status")})
    if base is not None and before is not None and before.get("program_version") != base:
        return refuse(409, "ProgramChanged", f"the program of '{name}' was changed by another client (version {base} "
                      f"-> {before.get('program_version')}): load it, or save again to replace it",
                      {"base_version": base, "program_version": before.get("program_version")})
    description = body.get("description")
    if not isinstance(description, str):
        description = (before or {}).get("description") or ""
    try:
        up.save_program(name, code, description)
    except CompilationError:
        pass  # saved with errors: the answer below carries them
    after = up.describe(name)
    info = after.get("program_info") or {}
    kept = (info.get("sluice") or {}).get("kept_tables") if "sluice" in info else None
    return json_answer({"pipeline": name, "created": before is None, "program_status": after.get("program_status"),
                  "errors": messages(after.get("program_error")), "tables": _tables(after.get("program_info")),
                  "kept_tables": kept, "tables_before": _tables((before or {}).get("program_info")),
                  "unchanged": bool(before) and before.get("program_code") == code,
                  "had_data": bool(before) and before.get("storage_status") == "InUse",
                  "storage_status": after.get("storage_status"), "deployment_status": after.get("deployment_status"),
                  "program_version": after.get("program_version")})


__all__ = ["bp", "messages", "STARTER"]
