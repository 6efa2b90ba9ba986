"""Serving the dashboard with gunicorn: one ``gevent`` worker (see ``docs/dashboard.md`` for the numbers).

Each WebSocket holds its handler, a sender and simple-websocket's reader: three greenlets under gevent,
three OS threads under ``gthread``. The hub keeps one upstream stream per view *per process*, so one
worker is also what keeps "one upstream per view" true; run replicas for more.
"""

from __future__ import annotations

import sys

from gunicorn.app.base import BaseApplication

from webapp._serving import browse_url, listening_url

# gunicorn's gevent worker, except that it never drains a request body the dashboard left unread
# (``worker.py``); ``gthread`` bounds its drain itself.
WORKER_CLASSES = {"gevent": "webapp.dashboard.worker.DashboardWorker"}


class DashboardApplication(BaseApplication):
    def __init__(self, host: str, port: int, config: dict | None = None, *, worker_class: str = "gevent",
                 workers: int = 1, threads: int = 64, log_level: str = "info", on_ready=None):
        self.host, self.port = host, port
        self.config = dict(config or {})
        self.worker_class, self.workers, self.threads = worker_class, workers, threads
        self.log_level = log_level
        self.on_ready = on_ready
        super().__init__()

    def load_config(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        for k, v in {
            "bind": f"{host}:{self.port}",
            "workers": self.workers,
            "worker_class": WORKER_CLASSES.get(self.worker_class, self.worker_class),
            "threads": self.threads,
            "worker_connections": 2000,
            "timeout": 30,
            "graceful_timeout": 3,
            "keepalive": 5,
            "loglevel": self.log_level,
            "accesslog": None,
            "when_ready": self._when_ready,
            "proc_name": "sluice-dashboard",
            "control_socket_disable": True,
        }.items():
            self.cfg.set(k, v)

    def _when_ready(self, server):
        from .settings import load
        url, note = browse_url(listening_url(server), load(self.config)["ALLOWED_HOSTS"])
        print(f"Sluice dashboard listening on {url}/  (upstream {self.config.get('UPSTREAM', '?')}"
              f"{'; ' + note if note else ''})", flush=True)
        if self.on_ready:
            self.on_ready(url)

    def load(self):
        from . import create_app
        app = create_app(self.config)
        demo = app.extensions.get("sluice_demo")
        if demo is not None:
            demo.ensure_started()  # in the worker, after the fork and gevent's patching
        app.extensions["sluice_sampler"].ensure_started()  # one samples: the others wait on its lock
        return app


def serve(host: str, port: int, config: dict | None = None, **kw) -> None:
    """Run until SIGTERM/SIGINT."""
    DashboardApplication(host, port, config, **kw).run()
    sys.exit(0)


__all__ = ["DashboardApplication", "serve"]
