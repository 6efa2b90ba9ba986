"""The dashboard's JSON answers, built in one place.

``json_answer`` is every JSON body (never cached); ``refuse`` is the error envelope
``{"message", "error_code", "details"}`` with its status; ``upstream_error`` turns an error from the
pipeline server (``webapp.client``'s ``SluiceError``) into the same envelope, keeping its status (502 when
the server answered nonsense, and 502 ``UpstreamUnreachable`` with the transport's text in ``details``
when it could not be reached at all). ``create_app`` registers ``upstream_error`` for the whole app; a
blueprint with more to say registers its own and calls it. ``too_large`` answers a body over its limit
(``RequestEntityTooLarge``, also registered app-wide).
"""

from __future__ import annotations

from decimal import Decimal

import orjson
from flask import Response, current_app, request
from flask.json.provider import DefaultJSONProvider

from webapp.client import ApiError, SluiceError, TransportError


def _exact(v):
    # Rows read from the engine (a KeyExists answer's keys) hold a DECIMAL as the Decimal webapp.client reads
    # it: written as its exact text, which a float would round.
    if isinstance(v, Decimal):
        return format(v, "f")
    raise TypeError(f"cannot encode {type(v).__name__}")


def json_answer(obj, status: int = 200, headers: dict | None = None) -> Response:
    resp = Response(orjson.dumps(obj, default=_exact), status=status, mimetype="application/json", headers=headers)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def refuse(status: int, code: str, message: str, details=None, headers: dict | None = None) -> Response:
    return json_answer({"message": message, "error_code": code, "details": details}, status, headers)


def upstream_error(e: SluiceError, details=None) -> Response:
    if isinstance(e, TransportError):  # no answer at all: say so in words, keep the transport's text
        url = current_app.config.get("UPSTREAM", "")
        return refuse(502, "UpstreamUnreachable", f"the pipeline server at {url} is not answering",
                      {"upstream": url, "error": e.message} if details is None else details)
    status = e.status if isinstance(e, ApiError) and e.status else 502
    return refuse(status, e.error_code or "UpstreamError", e.message, e.details if details is None else details)


def too_large(_e=None) -> Response:
    """A body over the request's limit (``FORM_MAX_BYTES``; uploads have their own), found from its
    ``Content-Length`` before reading or while a chunked body is read: the connection closes after this
    answer, the rest of the body unread (``worker.py``)."""
    limit = request.max_content_length
    return refuse(413, "PayloadTooLarge", f"the request body is larger than {limit} bytes (FORM_MAX_BYTES); "
                  "send less at a time, or a file through the upload page", {"limit": limit})


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a body nested too deeply to read is invalid JSON (``get_json`` then
    answers as for any bad body) rather than a ``RecursionError`` and a 500."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("arrays and objects are nested too deeply to read") from None


__all__ = ["json_answer", "refuse", "too_large", "upstream_error", "JSONProvider"]
