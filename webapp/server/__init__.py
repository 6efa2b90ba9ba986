"""The engine's HTTP server: Feldera's ``/v0`` REST API over one ``Engine``.

``create_app(engine)`` builds the Flask application; ``webapp.server.run`` serves it with gunicorn
(one ``gthread`` worker: DuckDB calls block, so no event loop; threads hold long-lived streams).
"""

from __future__ import annotations

from flask import Flask

from .api import bp

__all__ = ["create_app"]

DEFAULTS = {
    "MAX_CONTENT_LENGTH": 256 << 20,  # bytes; larger ingress bodies get 413 before they are read
    "CORS_ORIGINS": [],  # browser origins allowed to call the API
    "ALLOWED_HOSTS": None,  # Host names accepted besides loopback ones; ["*"] accepts any
}


def create_app(engine, config: dict | None = None) -> Flask:
    """The engine's Flask app: defaults, then ``SLUICE_*`` environment, then ``config``."""
    import os
    from . import errors, guard, observe
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    env_origins = [o.strip() for o in os.environ.get("SLUICE_CORS_ORIGINS", "").split(",") if o.strip()]
    app.config["CORS_ORIGINS"] = list(app.config.get("CORS_ORIGINS") or []) + env_origins
    app.extensions["sluice_engine"] = engine
    app.json.sort_keys = False
    errors.init_app(app)
    guard.init_app(app)
    observe.attribute_request_logs(app)
    app.register_blueprint(bp)
    from . import bundle, checkpoints, connectors, platform, transactions, unsupported
    for extra in (observe.root, observe.bp, bundle.bp, checkpoints.bp, transactions.bp, platform.bp,
                  connectors.bp, unsupported.bp):
        app.register_blueprint(extra)
    return app
