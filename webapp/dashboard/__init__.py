"""The browser dashboard: live view tables over WebSocket, fed by one upstream stream per view.

    gunicorn -k gevent -w 1 'webapp.dashboard:create_app()'      # or: sluice dashboard --upstream URL

It never imports the engine: every upstream call goes through ``webapp.client`` to any
Feldera-compatible server (``upstream.py``). Modules:

    settings.py   the settings registry (defaults, SLUICE_* environment, config)
    upstream.py   the calls to the pipeline server
    state.py      a view's rows, the replay ring, per-subscription filters
    chunks.py     egress chunks -> snapshot and whole steps (no I/O)
    feed.py       one upstream egress stream per (pipeline, view)
    hub.py        the feeds of a process; session.py  one connection's subscriptions, pulling frames
    history.py    the statistics history and health events (SQLite in STATE_DIR), sampler.py  what fills it
    observe.py    the logs and history pages and their endpoints (logs proxied from the pipeline server)
    ws.py         /ws (flask-sock), stream.py  /stream (NDJSON fallback)
    pages.py      the HTML pages, api.py  their JSON endpoints, security.py  CSP, CSRF, Origin and Host
    answers.py    every JSON answer and the error envelope, built in one place
    query.py      ad-hoc SQL and exports (export.py writes CSV), editor.py  the program editor
    auth.py       users file, sign-in, session cookie, roles (when USERS_FILE is set)
    entry.py      data entry into a table (page and endpoints), validate.py  the rules every row is checked by
    upload.py     file upload into a table, streamed part by part to the engine's ingress
    keys.py       which typed keys a table already holds, ratelimit.py  INGRESS_RATE per client
    demo_data.py  the demo generator, serve.py  gunicorn, launcher.py  `sluice up`, testing.py  for tests
    worker.py     the gevent worker that closes, never drains, a connection whose body was left unread
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from . import settings as _settings

__all__ = ["create_app"]

_HERE = Path(__file__).resolve().parent  # templates/ and static/ ship inside the package


def create_app(config: dict | None = None) -> Flask:
    """The dashboard app: defaults, then ``SLUICE_*`` environment, then ``config`` (see ``settings.py``).

    Nothing starts here (no thread, no connection): feeds start on the first subscription and the
    demo generator on the first request, so both run in the serving worker after gunicorn forks."""
    from . import api, auth, pages, security, stream, upload, ws
    from . import editor, query
    from . import entry, observe
    from webapp.client import SluiceError

    from werkzeug.exceptions import RequestEntityTooLarge

    from .answers import JSONProvider, too_large, upstream_error
    from .demo_data import DemoGenerator
    from .history import History
    from .sampler import Sampler
    from .hub import Hub
    from .upstream import Upstream

    app = Flask(__name__, template_folder=str(_HERE / "templates"), static_folder=str(_HERE / "static"),
                static_url_path="/static")
    app.config.update(_settings.load(config))
    app.json = JSONProvider(app)
    app.config.setdefault("SEND_FILE_MAX_AGE_DEFAULT", 0)
    upstream = app.config.get("UPSTREAM_CLIENT") or Upstream(app.config["UPSTREAM"], app.config.get("API_KEY"),
                                                                  status_timeout=float(app.config["STATUS_TIMEOUT"]))
    app.extensions["sluice_upstream"] = upstream
    app.extensions["sluice_hub"] = Hub(upstream, app.config)
    history = History.in_dir(app.config.get("STATE_DIR"), app.config["HISTORY_MAX_SAMPLES"])
    app.extensions["sluice_history"] = history
    # Started by serve.py in the gunicorn worker (after the fork), never by a test's app by itself.
    app.extensions["sluice_sampler"] = Sampler(upstream, history, app.config["HISTORY_INTERVAL"],
                                               app.config.get("STATE_DIR"))
    if app.config.get("DEMO_PIPELINE"):
        demo = DemoGenerator(upstream, app.config["DEMO_PIPELINE"], app.config["DEMO_RATE"],
                             bool(app.config["DEMO_DATA"]))
        app.extensions["sluice_demo"] = demo
        app.before_request(demo.ensure_started)
    app.register_error_handler(SluiceError, upstream_error)  # a blueprint may say more (entry, query)
    # Every body is read whole by Flask (JSON, the sign-in form) except an upload's, which raises its own
    # limit: without a bound one request could make the worker read gigabytes into memory.
    app.config["MAX_CONTENT_LENGTH"] = int(app.config.get("FORM_MAX_BYTES") or 1 << 20)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    security.init_app(app)
    auth.init_app(app)  # after security: Host, Origin and CSRF are checked first
    ws.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(stream.bp)
    app.register_blueprint(entry.bp)  # data entry: the table page and its endpoints
    app.register_blueprint(query.bp)  # queries and exports
    app.register_blueprint(editor.bp)  # the program editor
    app.register_blueprint(upload.bp)
    app.register_blueprint(observe.bp)  # logs and history

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    return app
