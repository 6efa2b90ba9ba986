"""The engine's HTTP server: Feldera's ``/v0`` REST API over one ``Engine``.

``create_app(engine)`` builds the Flask application; ``webapp.server.run`` serves it with gunicorn
(one ``gthread`` worker: DuckDB calls block, so no event loop; threads hold long-lived streams).
"""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from .api import bp

__all__ = ["create_app"]

log = logging.getLogger("sluice.server")


DEFAULTS = {
    "MAX_CONTENT_LENGTH": 256 << 20,  # bytes; larger ingress bodies get 413 before they are read
    "CORS_ORIGINS": [],  # browser origins allowed to call the API
    "ALLOWED_HOSTS": None,  # Host names accepted besides loopback ones; ["*"] accepts any
}


def create_app(engine, config: dict | None = None) -> Flask:
    """The engine's Flask app: defaults, then ``SLUICE_*`` environment, then ``config``."""
    import os
    from . import guard
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    env_origins = [o.strip() for o in os.environ.get("SLUICE_CORS_ORIGINS", "").split(",") if o.strip()]
    app.config["CORS_ORIGINS"] = list(app.config.get("CORS_ORIGINS") or []) + env_origins
    app.extensions["sluice_engine"] = engine
    app.json.sort_keys = False
    guard.init_app(app)
    app.register_blueprint(bp)
    from . import bundle, checkpoints, connectors, observe, platform, transactions, unsupported
    for extra in (observe.root, observe.bp, bundle.bp, checkpoints.bp, transactions.bp, platform.bp,
                  connectors.bp, unsupported.bp):
        app.register_blueprint(extra)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        code = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}.get(e.code, "BadRequest")
        msg = f"{request.method} {request.path}: {e.description}"
        if e.code == 404:
            msg = f"no endpoint {request.method} {request.path}; see docs/api.md for the API"
        elif e.code == 413:
            limit = current_app.config.get("MAX_CONTENT_LENGTH")
            msg = (f"the request body is larger than the limit of {limit} bytes; send it in smaller parts "
                   "(cut at record boundaries) or raise --max-body-mb")
        body = {"message": msg, "error_code": code, "details": None}
        return Response(orjson.dumps(body), status=e.code, mimetype="application/json")

    @app.errorhandler(Exception)
    def internal_error(e: Exception):
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=e)
        body = {"message": f"internal error: {type(e).__name__}: {e}", "error_code": "Unknown", "details": None}
        return Response(orjson.dumps(body), status=500, mimetype="application/json")

    return app
