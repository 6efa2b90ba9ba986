"""Platform endpoints around the pipelines: API keys and ``validate_program`` (Feldera's paths and shapes).

API keys. Sluice's engine takes its keys from ``--api-key-file`` or ``SLUICE_API_KEY`` at start (see
docs/security.md); it keeps no key store, so keys are listed (without their secret) but not created or
deleted over HTTP: those answer 501 and say how keys are managed here.
"""

from __future__ import annotations

import hashlib
import uuid

from flask import Blueprint, current_app

from ..engine import errors as E
from ..engine.describe import program_schema
from ..engine.sql import SqlError, compile_program
from ..engine.strategy import ViewPlans
from .helpers import body_json, json_response

bp = Blueprint("v0_platform", __name__, url_prefix="/v0")


def _key_descriptions() -> list[dict]:
    """Feldera's ``ApiKeyDescr`` for each configured key: named by a digest, never by the key itself."""
    out = []
    for key in current_app.config.get("API_KEYS") or ():
        digest = hashlib.sha256(key.encode()).hexdigest()
        out.append({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sluice-api-key:{digest}")),
                    "name": f"key-{digest[:12]}", "scopes": ["Read", "Write"]})
    return out


@bp.get("/api_keys")
def list_api_keys():
    return json_response(_key_descriptions())


@bp.get("/api_keys/<key_name>")
def get_api_key(key_name):
    for d in _key_descriptions():
        if d["name"] == key_name:
            return json_response(d)
    raise E.NotFound(f"Unknown API key '{key_name}'", {"name": key_name}, error_code="UnknownApiKey")


@bp.post("/api_keys")
@bp.delete("/api_keys/<key_name>")
def manage_api_keys(key_name=None):
    raise E.NotImplementedHere(
        "Sluice's engine keeps no key store: its API keys come from --api-key-file or SLUICE_API_KEY when it "
        "starts. Add or remove the key there and restart the engine (docs/security.md)", None)


@bp.post("/validate_program")
def validate_program():
    """Compile without creating a pipeline: ``{"Success": {...}}`` or ``{"SqlError": {...}}``, as Feldera's."""
    body = body_json()
    code = body.get("program_code")
    if not isinstance(code, str):
        raise E.InvalidParam("program_code is required and must be a string", {"field": "program_code"})
    if body.get("runtime_version") is not None:
        raise E.InvalidParam("Sluice has one runtime: runtime_version must be null or absent",
                             {"field": "runtime_version", "value": body.get("runtime_version")})
    ir = body.get("ir", False)
    if not isinstance(ir, bool):
        raise E.InvalidParam("ir must be true or false", {"field": "ir", "value": ir})
    try:
        program = compile_program(code)
    except SqlError as e:
        return json_response({"SqlError": {"exit_code": 1, "messages": [e.to_json()]}})
    answer = {"schema": program_schema(program), "warnings": [], "input_connectors": {}, "output_connectors": {}}
    if ir:
        # Sluice has no DBSP IR; what it plans instead is one maintenance strategy per view.
        plans = ViewPlans(program)
        answer["dataflow"] = {"sluice": {"views": {v.name: {"strategy": plans.strategy(v.name),
                                                            "depends_on": sorted(v.depends_on)}
                                                   for v in program.views}}}
    return json_response({"Success": answer})
