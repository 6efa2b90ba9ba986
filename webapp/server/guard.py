"""Host and Origin checks, CORS and body limits for the engine's API.

- ``Host`` must be one of the allowed names (loopback names and the bound address by default), so a
  DNS-rebinding page cannot reach a local engine through a name it controls.
- A request carrying an ``Origin`` that is neither the engine's own nor listed in ``CORS_ORIGINS`` may
  not change state (any method but GET/HEAD/OPTIONS) and gets no CORS headers, so browsers keep its
  responses from foreign pages. Listed origins get ``Access-Control-Allow-Origin`` and preflights.
- ``MAX_CONTENT_LENGTH`` makes Werkzeug answer 413 before reading an oversized body.
- ``API_KEYS``: when set, every call but ``GET /v0/config`` and ``GET /healthz`` needs ``Authorization: Bearer <key>``
  (as Feldera's API keys); anything else gets 401 with the error envelope.
"""

from __future__ import annotations

import hmac

from flask import Flask, Response, request

from webapp._serving import LOOPBACK_NAMES, hostname

from .errors import respond

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
OPEN_PATHS = ("/v0/config", "/healthz")  # answered without a key (a liveness probe has none, as in Feldera)


def init_app(app: Flask) -> None:
    cors = set(app.config.get("CORS_ORIGINS") or ())
    hosts = app.config.get("ALLOWED_HOSTS")  # None: loopback + bound address; ["*"]: any
    allow_any_host = hosts is not None and "*" in hosts
    host_set = set(LOOPBACK_NAMES) | set(hosts or ())
    keys = [k.encode() for k in (app.config.get("API_KEYS") or ()) if k]

    def _authorized() -> bool:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return False
        given = auth[7:].strip().encode()
        return any(hmac.compare_digest(given, k) for k in keys)

    @app.before_request
    def _guard():
        host = hostname(request.host or "")
        if not allow_any_host and host not in host_set:
            return respond(403, "HostNotAllowed",
                           f"requests for host '{host}' are refused; start the engine with --allowed-host {host} "
                           "to accept it", {"host": host})
        origin = request.headers.get("Origin")
        if origin and origin != f"{request.scheme}://{request.host}" and origin not in cors and "*" not in cors:
            if request.method not in SAFE_METHODS or request.path.endswith("/egress") or "/egress/" in request.path:
                return respond(403, "OriginNotAllowed",
                               f"requests from origin '{origin}' are refused; start the engine with "
                               f"--cors-origin {origin} to allow it", {"origin": origin})
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if limit and (request.content_length or 0) > limit:
            return respond(413, "PayloadTooLarge",
                           f"the request body ({request.content_length} bytes) is larger than the limit of {limit} "
                           "bytes; send it in smaller parts (cut at record boundaries) or raise --max-body-mb",
                           {"limit": limit, "content_length": request.content_length})
        if keys and request.method != "OPTIONS" and not (request.method == "GET" and request.path in OPEN_PATHS) \
                and not _authorized():
            return respond(401, "Unauthorized",
                           "this engine needs an API key: send 'Authorization: Bearer <key>' (the Feldera client's "
                           "api_key, or SLUICE_API_KEY for Sluice's tools)", None)
        if request.method == "OPTIONS" and origin:
            resp = Response(status=204)
            resp.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            resp.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "Content-Type, Authorization, Idempotency-Key")
            resp.headers["Access-Control-Max-Age"] = "600"
            return resp
        return None

    @app.after_request
    def _cors(resp: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and (origin in cors or "*" in cors):
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Vary"] = "Origin"
        return resp
