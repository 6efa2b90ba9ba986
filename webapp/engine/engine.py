"""The engine: every pipeline of one data directory, run with one ``Settings`` (``settings.py``).

``Engine(data_dir)`` takes an exclusive lock on the directory (two engines never share one) and
loads the pipeline definitions saved there. Definitions are written atomically (temporary file,
fsync, rename, fsync of the directory). Pipelines come back Stopped.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import orjson

from .. import FELDERA_API_VERSION, __version__
from .definition import check_body, check_name
from .errors import DuplicateName, IllegalAction, InvalidDefinition, UnknownPipeline
from . import fsio
from .checkpoint import list_checkpoints, remove_all
from .dirlock import DataDirLocked, lock_data_dir
from .events import ClusterEvents
from .logbuf import PipelineLogs
from .pipeline import Pipeline
from .recovery import replay
from .settings import Settings
from .wal import Wal

log = logging.getLogger("sluice.engine")


def atomic_write(path: Path, data: bytes) -> None:
    fsio.write_file_atomic(path, data)


class Engine:
    platform_version = FELDERA_API_VERSION

    def __init__(self, data_dir: str | os.PathLike, settings: Settings | None = None, *, lock: bool = True):
        self.data_dir = Path(data_dir)
        self.settings = settings or Settings()
        self._lock_fd = lock_data_dir(self.data_dir) if lock else None
        self.lock = threading.RLock()
        self.pipelines: dict[str, Pipeline] = {}
        self.logs = PipelineLogs(self.settings.log_lines, known=self.pipelines.__contains__).attach()
        self.cluster_events = ClusterEvents(os.getpid())
        self._catalog = self.data_dir / "pipelines.json"
        self.wal: Wal | None = None
        self._stop = threading.Event()
        self._stopped = threading.Event()  # set once shutdown() has finished
        self._shutdown_lock = threading.Lock()
        self._load()
        self._recover()
        # Numbering continues above everything a checkpoint covers, even if the log was cut back since.
        last = max([self._recovered_seq] + [p.ckpt_seq for p in self.pipelines.values()])
        self.wal = Wal(self.data_dir / "wal", last, segment_bytes=self.settings.wal_segment_bytes)
        self._ckpt_thread = threading.Thread(target=self._checkpoint_loop, name="checkpointer", daemon=True)
        self._ckpt_thread.start()
        for p in self.list():
            if p.recover_desired in ("Running", "Paused") and p.program_status == "Success":
                log.info("the engine restarted: pipeline resumes as %s from its checkpoint and log "
                         "(tables hold every input up to log record %d)", p.recover_desired, p.applied_wal_seq,
                         extra={"pipeline": p.name})
                try:
                    p.start("paused" if p.recover_desired == "Paused" else "running")
                except Exception:
                    log.exception("could not restart pipeline %s", p.name, extra={"pipeline": p.name})

    # -- persistence ---------------------------------------------------------------------------
    def _load(self) -> None:
        if not self._catalog.exists():
            return
        for d in orjson.loads(self._catalog.read_bytes()):
            p = Pipeline(self, d["name"], d.get("program_code", ""), description=d.get("description", ""),
                         tags=d.get("tags"), runtime_config=d.get("runtime_config"),
                         program_config=d.get("program_config"), udf_rust=d.get("udf_rust", ""),
                         udf_toml=d.get("udf_toml", ""), pid=d.get("id"), created_at=d.get("created_at"), stored=d)
            self.pipelines[p.name] = p

    def _recover(self) -> None:
        """Tables from each pipeline's checkpoint, then every logged batch after it (``recovery.py``)."""
        self._recovered_seq = replay(self.data_dir / "wal", self.pipelines.values(), self.checkpoint_dir)

    def checkpoint_dir(self, p: Pipeline) -> Path:
        return self.data_dir / "checkpoints" / p.id

    def checkpoints(self, p: Pipeline) -> list[dict]:
        """The pipeline's checkpoints on disk, in Feldera's ``CheckpointMetadata`` shape."""
        prog = p.storage_program
        return list_checkpoints(self.checkpoint_dir(p), p.id, prog.code if prog is not None else "")

    def forget_storage(self, p: Pipeline) -> None:
        """Remove a pipeline's checkpoints (its log records are skipped by their storage epoch)."""
        remove_all(self.checkpoint_dir(p))
        self.save()

    def checkpoint_all(self) -> None:
        """Checkpoint every pipeline with new logged data, then drop log segments nobody needs."""
        for p in list(self.pipelines.values()):
            try:
                rt = p.runtime
                applied = rt.applied_wal_seq if rt is not None else p.applied_wal_seq
                if p.db is not None and applied > p.ckpt_seq:
                    p.checkpoint()
            except Exception:
                log.exception("checkpoint of pipeline %s failed; its log is kept", p.name, extra={"pipeline": p.name})
        if self.wal is None:
            return
        need = [p.ckpt_seq + 1 for p in self.pipelines.values()
                if p.db is not None and p.logged() and p.last_logged_seq > p.ckpt_seq]
        upto = (min(need) - 1) if need else self.wal.durable_seq
        self.wal.rotate()
        self.wal.delete_segments_upto(upto)

    def _checkpoint_loop(self) -> None:
        while not self._stop.is_set():
            intervals = [int((p.runtime_config.get("fault_tolerance") or {}).get("checkpoint_interval_secs") or 60)
                         for p in self.pipelines.values()] or [60]
            if self._stop.wait(max(1, min(intervals))):
                return
            self.checkpoint_all()

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

    def put(self, name: str, body: dict) -> tuple[dict, bool]:
        """Create or fully replace (omitted optional fields become empty, as in Feldera); returns the
        pipeline as it stands right after the write (before its program compiles) and whether it is new."""
        if name not in self.pipelines:
            check_name(name)  # the URL's name first: the most useful answer to a request that cannot create
        fields = check_body(body, full=True)
        if body.get("name", name) != name:
            raise InvalidDefinition("CannotRenameNonExistingPipeline" if name not in self.pipelines else "InvalidParam",
                                    f"the body names pipeline '{body['name']}' but the URL names '{name}': Sluice "
                                    "does not rename pipelines", {"name": body["name"]})
        with self.lock:
            p = self.pipelines.get(name)
            if p is None:
                return self._create(name, fields), True
            full = {"description": "", "tags": [], "udf_rust": "", "udf_toml": "", "runtime_config": {},
                    "program_config": {}} | fields
            answer = p.update(full)
            self.save()
            return answer, False

    def create(self, body: dict) -> dict:
        fields = check_body(body, full=True, named=True)
        with self.lock:
            if body["name"] in self.pipelines:
                raise DuplicateName("An entity with this name already exists", {"name": body["name"]})
            return self._create(body["name"], fields)

    def _create(self, name, fields: dict) -> dict:
        check_name(name)
        p = Pipeline(self, name, fields["program_code"], description=fields.get("description", ""),
                     tags=fields.get("tags"), runtime_config=fields.get("runtime_config"),
                     program_config=fields.get("program_config"), udf_rust=fields.get("udf_rust", ""),
                     udf_toml=fields.get("udf_toml", ""), compile=False)
        answer = p.to_json()  # Feldera answers with the new row: program Pending, refresh_version 1
        p.compile()
        self.pipelines[name] = p
        self.save()
        return answer

    def patch(self, name: str, body: dict) -> dict:
        fields = check_body(body, full=False)
        if "name" in body and body["name"] != name:
            raise InvalidDefinition("InvalidParam", f"PATCH cannot rename pipeline '{name}' to '{body['name']}'",
                                    {"name": body["name"]})
        p = self.get(name)
        with self.lock:
            answer = p.update(fields)
            self.save()
        return answer

    def delete(self, name: str) -> None:
        """Delete a stopped pipeline whose storage is cleared, as Feldera does: its data goes only through
        an explicit ``/clear``, so a delete never drops data the caller did not ask to drop."""
        with self.lock:
            p = self.get(name)
            if p.status != "Stopped" or p.desired != "Stopped":
                raise IllegalAction("DeleteRestrictedToFullyStopped",
                                    "Cannot delete a pipeline which is not fully stopped. Stop the pipeline first "
                                    f"fully by invoking the '/stop' endpoint (it is {p.status}).",
                                    {"status": p.status, "desired_status": p.desired})
            if p.storage_status != "Cleared":
                raise IllegalAction("DeleteRestrictedToClearedStorage",
                                    "Cannot delete pipeline unless its storage is cleared. Clear storage first "
                                    "using `/clear`.", None)
            del self.pipelines[name]
            self.logs.forget(name)
            remove_all(self.checkpoint_dir(p))
            self.save()

    @property
    def shutting_down(self) -> bool:
        """Whether ``shutdown`` has begun (pipelines keep their status through it, so restarts resume them)."""
        return self._stop.is_set()

    def shutdown(self) -> None:
        """Stop every pipeline (processing what was acknowledged), checkpoint, release the directory.

        A second caller waits for the first to finish: the server's worker calls this from its signal
        handler's thread and again as it exits, and must not exit (ending threads that are inside DuckDB,
        which aborts the process) while the first call is still checkpointing."""
        with self._shutdown_lock:
            first = not self._stop.is_set()
            self._stop.set()
        if not first:
            self._stopped.wait()
            return
        try:
            for p in list(self.pipelines.values()):
                try:
                    p.stop_now()
                except Exception:
                    log.exception("error stopping pipeline %s", p.name)
            if self.wal is not None:
                self.wal.close()
            self.logs.detach()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
        finally:
            self._stopped.set()

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
