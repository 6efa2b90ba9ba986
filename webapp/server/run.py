"""Serving the engine with gunicorn: one process tree, one ``gthread`` worker holding the engine.

The master takes the data directory's lock before forking (the worker inherits it), prints the
URL once listening, and forwards SIGTERM/SIGINT; the worker stops every pipeline (processing what
was acknowledged and ending egress streams) before it exits.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from gunicorn.app.base import BaseApplication

from webapp._serving import browse_url, die_with_parent, listening_url

from ..engine import Engine, Settings
from ..engine.dirlock import lock_data_dir
from .connections import GuardedThreadWorker
from .footprint import arrow_on_the_c_heap, keep_pandas_out

_engine: Engine | None = None


class EngineWorker(GuardedThreadWorker):
    """A gthread worker that ends the engine's streams when asked to stop, so shutdown is prompt; dies with
    its master, since it holds the data directory's lock, which a restart needs at once; and, from its base,
    bounds how long a request head or body may trickle in and how many connections one address holds."""

    def init_process(self):
        die_with_parent(parent=self.ppid)
        super().init_process()

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)
        if _engine is not None:
            threading.Thread(target=_engine.shutdown, daemon=True).start()

    handle_int = handle_exit


class EngineApplication(BaseApplication):
    def __init__(self, data_dir: str, settings: Settings, host: str, port: int, threads: int,
                 on_ready=None, log_level: str = "info", bootstrap=None, server_config: dict | None = None):
        self.bootstrap = bootstrap
        self.server_config = dict(server_config or {})
        self.data_dir, self.settings = data_dir, settings
        self.host, self.port, self.threads = host, port, threads
        self.on_ready = on_ready
        self.log_level = log_level
        super().__init__()

    def load_config(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        for k, v in {
            "bind": f"{host}:{self.port}",
            "workers": 1,
            "worker_class": "webapp.server.run.EngineWorker",
            "threads": self.threads,
            "worker_connections": max(1000, self.threads * 2),
            "timeout": 0,
            "graceful_timeout": 10,
            "keepalive": 5,
            "loglevel": self.log_level,
            "accesslog": None,
            "when_ready": self._when_ready,
            "worker_exit": _worker_exit,
            "proc_name": "sluice-engine",
            "control_socket_disable": True,
        }.items():
            self.cfg.set(k, v)

    def _when_ready(self, server):
        url, note = browse_url(listening_url(server), self.server_config.get("ALLOWED_HOSTS"))
        print(f"Sluice engine listening on {url}  (data in {self.data_dir}{'; ' + note if note else ''})", flush=True)
        if self.on_ready:
            self.on_ready(url)

    def load(self):
        global _engine
        from . import create_app
        from ..engine.wal import WalCorruption
        try:
            _engine = Engine(self.data_dir, self.settings, lock=False)
        except WalCorruption as e:
            print(f"sluice engine: {e}", file=sys.stderr, flush=True)
            import os
            os._exit(4)  # gunicorn's "app load error": the master stops instead of respawning
        if self.bootstrap is not None:
            threading.Thread(target=self.bootstrap, args=(_engine,), daemon=True).start()
        cfg = dict(self.server_config)
        if self.host not in ("0.0.0.0", "::", ""):
            cfg.setdefault("ALLOWED_HOSTS", [])
            cfg["ALLOWED_HOSTS"] = list(cfg["ALLOWED_HOSTS"] or []) + [self.host, f"[{self.host}]"]
        return create_app(_engine, cfg)


def _worker_exit(server, worker):
    if _engine is not None:
        _engine.shutdown()


def serve(data_dir: str, settings: Settings, host: str = "127.0.0.1", port: int = 8080, threads: int = 256,
          on_ready=None, bootstrap=None, server_config: dict | None = None) -> None:
    """Run until SIGTERM/SIGINT. Raises DataDirLocked if another engine has ``data_dir``."""
    def say(message: str) -> None:
        print(f"sluice engine: {message}", file=sys.stderr, flush=True)
    keep_pandas_out()  # before the worker forks: it inherits both
    arrow_on_the_c_heap()
    lock_fd = lock_data_dir(Path(data_dir), say=say)  # held for the master's lifetime (and its worker's)
    try:
        EngineApplication(data_dir, settings, host, port, threads, on_ready, bootstrap=bootstrap,
                          server_config=server_config).run()
    finally:
        import os
        os.close(lock_fd)
    sys.exit(0)
