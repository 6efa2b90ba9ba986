"""The dashboard's JSON answers, built in one place.

``json_answer`` is every JSON body (never cached); ``refuse`` is the error envelope
``{"message", "error_code", "details"}`` with its status; ``upstream_error`` turns an error from the
pipeline server (``webapp.client``'s ``SluiceError``) into the same envelope, keeping its status (502 when
the server answered nonsense, and 502 ``UpstreamUnreachable`` with the transport's text in ``details``
when it could not be reached at all). ``create_app`` registers ``upstream_error`` for the whole app; a
blueprint with more to say registers its own and calls it.
"""

from __future__ import annotations

import orjson
from flask import Response

from flask import current_app

from webapp.client import ApiError, SluiceError, TransportError


def json_answer(obj, status: int = 200, headers: dict | None = None) -> Response:
    resp = Response(orjson.dumps(obj), status=status, mimetype="application/json", headers=headers)
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


__all__ = ["json_answer", "refuse", "upstream_error"]
