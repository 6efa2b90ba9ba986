"""What the ``/v0`` blueprints share: this app's engine, JSON answers, boolean query flags, JSON bodies,
and whether the client of a request is still there.

Every blueprint imports these from here rather than from one another, so no blueprint module depends on
another's private names and adding one never closes an import circle.
"""

from __future__ import annotations

import orjson
from flask import Response, current_app, request

from .._serving import peer_closed
from ..engine import errors as E
from ..engine.catalog import json_default

__all__ = ["body_json", "client_gone", "current_engine", "json_response", "query_flag"]


def current_engine():
    """The ``Engine`` this application serves (``create_app`` puts it in ``app.extensions``)."""
    return current_app.extensions["sluice_engine"]


def json_response(obj, status: int = 200) -> Response:
    return Response(orjson.dumps(obj, default=json_default), status=status, mimetype="application/json")


def event_selector() -> str:
    """The ``selector`` of Feldera's monitor-event endpoints: ``status`` (the default) or ``all``."""
    sel = request.args.get("selector", "status")
    if sel not in ("status", "all"):
        raise E.InvalidParam(f"unknown selector '{sel}': use status or all", {"parameter": "selector", "value": sel})
    return sel


def query_flag(name: str, default: bool = False) -> bool:
    """A ``true``/``false`` query parameter; raises InvalidParam for any other spelling (as Feldera does)."""
    v = request.args.get(name)
    if v is None or v == "":
        return default
    if v in ("true", "false"):
        return v == "true"
    raise E.InvalidParam(f"parameter '{name}' must be true or false (lower case), not '{v}'",
                         {"parameter": name, "value": v})


def body_json() -> dict:
    """The request body as a JSON object (an empty or ``null`` body is ``{}``); raises InvalidParam otherwise."""
    raw = request.get_data()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise E.InvalidParam(f"the request body is not valid JSON: {e}", None) from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise E.InvalidParam("the request body must be a JSON object", None)
    return body


def client_gone():
    """A check that the client of this request has closed its connection (gunicorn's socket reads
    as ended), or None when the server does not say which socket it is."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None:
        return None
    return lambda: peer_closed(sock)
