"""The engine: every pipeline of one data directory, and the settings they run with.

``Engine(data_dir)`` takes an exclusive lock on the directory (two engines never share one) and
loads the pipeline definitions saved there. Definitions are written atomically (temporary file,
fsync, rename, fsync of the directory). Pipelines come back Stopped.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import orjson

from .. import FELDERA_API_VERSION, __version__
from .errors import DuplicateName, InvalidParam, InvalidStorageStatusTransition, UnknownPipeline
from .pipeline import Pipeline

log = logging.getLogger("sluice.engine")


@dataclass
class Settings:
    """Engine-wide knobs; every one is also a ``sluice engine`` flag."""

    max_buffered_records: int = 100_000
    ingress_wait_secs: float = 30.0
    egress_stall_secs: float = 60.0
    egress_max_chunks: int = 100
    keepalive_secs: float = 3.0


class DataDirLocked(Exception):
    """Raised when another engine holds the data directory."""


def lock_data_dir(path: Path) -> int:
    """Take the directory's exclusive lock; the returned fd holds it (also across fork)."""
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / "sluice.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLocked(f"data directory {path} is in use by another Sluice engine") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def valid_name(name: str) -> bool:
    return bool(name) and len(name) <= 100 and all(c.isalnum() or c in "_-" for c in name)


class Engine:
    platform_version = FELDERA_API_VERSION

    def __init__(self, data_dir: str | os.PathLike, settings: Settings | None = None, *, lock: bool = True):
        self.data_dir = Path(data_dir)
        self.settings = settings or Settings()
        self._lock_fd = lock_data_dir(self.data_dir) if lock else None
        self.lock = threading.RLock()
        self.pipelines: dict[str, Pipeline] = {}
        self._catalog = self.data_dir / "pipelines.json"
        self._load()

    # -- persistence ---------------------------------------------------------------------------
    def _load(self) -> None:
        if not self._catalog.exists():
            return
        for d in orjson.loads(self._catalog.read_bytes()):
            p = Pipeline(self, d["name"], d.get("program_code", ""), description=d.get("description", ""),
                         tags=d.get("tags"), runtime_config=d.get("runtime_config"),
                         program_config=d.get("program_config"), pid=d.get("id"), created_at=d.get("created_at"))
            self.pipelines[p.name] = p

    def save(self) -> None:
        with self.lock:
            data = orjson.dumps([p.definition() for p in self.pipelines.values()], option=orjson.OPT_INDENT_2)
            atomic_write(self._catalog, data)

    # -- pipelines -----------------------------------------------------------------------------
    def get(self, name: str) -> Pipeline:
        p = self.pipelines.get(name)
        if p is None:
            raise UnknownPipeline(name)
        return p

    def list(self) -> list[Pipeline]:
        return sorted(self.pipelines.values(), key=lambda p: p.name)

    def put(self, name: str, body: dict) -> tuple[Pipeline, bool]:
        """Create or replace; returns (pipeline, created)."""
        if body.get("name") not in (None, name):
            raise InvalidParam(f"the body names pipeline '{body.get('name')}' but the URL names '{name}'",
                               {"name": body.get("name")})
        with self.lock:
            p = self.pipelines.get(name)
            if p is None:
                p = self._create(name, body)
                return p, True
            p.update(program_code=body.get("program_code", ""), description=body.get("description", ""),
                     tags=body.get("tags") or [], runtime_config=body.get("runtime_config"),
                     program_config=body.get("program_config"))
            self.save()
            return p, False

    def create(self, body: dict) -> Pipeline:
        name = body.get("name")
        with self.lock:
            if name in self.pipelines:
                raise DuplicateName(f"a pipeline named '{name}' already exists", {"name": name})
            return self._create(name, body)

    def _create(self, name, body: dict) -> Pipeline:
        if not isinstance(name, str) or not valid_name(name):
            raise InvalidParam("pipeline names use letters, digits, '_' and '-' (at most 100 characters)",
                               {"name": name})
        code = body.get("program_code", "")
        if not isinstance(code, str):
            raise InvalidParam("program_code must be a string", {"field": "program_code"})
        p = Pipeline(self, name, code, description=body.get("description") or "", tags=body.get("tags"),
                     runtime_config=body.get("runtime_config"), program_config=body.get("program_config"))
        self.pipelines[name] = p
        self.save()
        return p

    def patch(self, name: str, body: dict) -> Pipeline:
        p = self.get(name)
        with self.lock:
            p.update(program_code=body.get("program_code"), description=body.get("description"),
                     tags=body.get("tags"), runtime_config=body.get("runtime_config"),
                     program_config=body.get("program_config"))
            self.save()
        return p

    def delete(self, name: str) -> None:
        with self.lock:
            p = self.get(name)
            if p.status != "Stopped":
                raise InvalidStorageStatusTransition(
                    f"pipeline '{name}' can only be deleted while stopped (it is {p.status}): stop it first",
                    {"status": p.status})
            p.clear()
            del self.pipelines[name]
            self.save()

    def shutdown(self) -> None:
        """Stop every pipeline (processing what was acknowledged) and release the directory."""
        for p in list(self.pipelines.values()):
            try:
                p.stop_now()
            except Exception:
                log.exception("error stopping pipeline %s", p.name)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def config(self) -> dict:
        return {
            "edition": "Open source",
            "version": FELDERA_API_VERSION,
            "revision": f"sluice-{__version__}",
            "runtime_revision": f"sluice-{__version__}",
            "changelog_url": "",
            "telemetry": "",
            "update_info": None,
            "license_validity": None,
            "sluice_version": __version__,
        }


__all__ = ["Engine", "Settings", "DataDirLocked", "lock_data_dir", "atomic_write"]
