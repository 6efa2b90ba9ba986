"""The engine server's one error boundary: every failure leaves as Feldera's error body.

    {"message": str, "error_code": "CamelCase", "details": <JSON or null>}

``init_app`` registers the handlers that map exception classes to a status and a code:

- ``EngineError`` (and its tree in ``webapp.engine.errors``): the exception's own status and code;
- Werkzeug's ``HTTPException`` (no route, wrong method, body over the limit): ``NotFound``,
  ``MethodNotAllowed``, ``PayloadTooLarge``, else ``BadRequest``;
- anything else: 500 ``Unknown``.

Refusals are logged at INFO (the client's mistake, one line); 5xx at ERROR with the traceback. The
exceptions: ``Unavailable`` (503: the pipeline is not running, paused, its buffer full), an expected
state a client retries, and ``NotImplementedHere`` (501: an endpoint Sluice does not serve), where a
traceback would only bury real failures; they are logged at WARNING.

Code that answers before a route runs (the Host/Origin guard) calls ``respond``; the connection guard,
which writes raw bytes to a socket without Flask, calls ``raw_http``. Nothing else in the server builds
an error body.
"""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from ..engine.catalog import json_default
from ..engine.errors import EngineError, NotImplementedHere, Unavailable

log = logging.getLogger("sluice.server")

_HTTP_CODES = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}


def body(message: str, error_code: str, details=None) -> dict:
    return {"message": message, "error_code": error_code, "details": details}


def _log(status: int, error_code: str, message: str, exc: BaseException | None = None) -> None:
    where = f"{request.method} {request.path}" if request else "-"
    if status < 500:
        # With its message: a request about a pipeline logs into that pipeline's log too (observe.py), where
        # an operator reads why a producer's records or a client's call were refused.
        log.info("%s -> %d %s: %s", where, status, error_code, message[:500])
    elif exc is not None and isinstance(exc, (Unavailable, NotImplementedHere)):
        log.warning("%s -> %d %s: %s", where, status, error_code, message)
    else:
        log.error("%s -> %d %s: %s", where, status, error_code, message, exc_info=exc)


def respond(status: int, error_code: str, message: str, details=None, exc: BaseException | None = None) -> Response:
    """The error response (logged by its status)."""
    _log(status, error_code, message, exc)
    return Response(orjson.dumps(body(message, error_code, details), default=json_default), status=status,
                    mimetype="application/json")


def answer(status: int, payload: dict) -> Response:
    """A reply the engine composed itself (ingress answers are remembered for idempotent retries, so
    the engine builds them): errors among them are logged here like any other."""
    if status >= 400:
        _log(status, payload.get("error_code", "Unknown"), payload.get("message", ""))
    return Response(orjson.dumps(payload, default=json_default), status=status, mimetype="application/json")


def raw_http(status_line: str, error_code: str, message: str, details=None) -> bytes:
    """A whole HTTP/1.1 error response, for code that writes to a socket outside any request."""
    data = orjson.dumps(body(message, error_code, details))
    return (f"HTTP/1.1 {status_line}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n").encode() + data


def _http_error(e: HTTPException) -> Response:
    code = _HTTP_CODES.get(e.code, "BadRequest")
    msg, details = f"{request.method} {request.path}: {e.description}", None
    if e.code == 404:
        msg = f"no endpoint {request.method} {request.path}; see docs/api.md for the API"
    elif e.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        msg = (f"the request body is larger than the limit of {limit} bytes; send it in smaller parts "
               "(cut at record boundaries) or raise --max-body-mb")
        details = {"limit": limit}
    return respond(e.code or 400, code, msg, details)


def _engine_error(e: EngineError) -> Response:
    return respond(e.status, e.error_code, e.message, e.details, exc=e)


def _internal_error(e: Exception) -> Response:
    return respond(500, "Unknown", f"internal error: {type(e).__name__}: {e}", None, exc=e)


def init_app(app: Flask) -> None:
    app.register_error_handler(EngineError, _engine_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)


__all__ = ["answer", "body", "init_app", "raw_http", "respond"]
