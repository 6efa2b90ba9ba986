"""A pipeline: its definition, its compiled program, its stored tables and its lifecycle.

Lifecycle (``deployment_status``, Feldera's names): Stopped → Provisioning → Initializing →
Running | Paused → Stopping → Stopped. Actions return at once and the transition runs on a
background thread, as in Feldera (clients poll ``GET /v0/pipelines/{name}``). Table contents live in
an in-memory DuckDB database kept from the first start until ``clear`` (which ``DELETE`` needs first).
"""

from __future__ import annotations

import copy
import os
import datetime as _dt
import time
from collections import OrderedDict
import logging
import threading
import uuid
from typing import Any

import duckdb

from .definition import restricted_changes
from .describe import describe
from .duckconfig import DUCKDB_CONFIG
from .events import PipelineEvents
from .errors import (
    EngineError, IllegalAction, InvalidParam, NotDeployed, Unavailable, UnknownInputEndpoint, UnknownInputStream,
)
import orjson

from .connectors import record_progress, table_connectors
from .connectors.progress import connector_key
from .ingress import ingest_answer, parse_body
from .logbuf import in_pipeline
from .migrate import carry_tables, insert_columns, widened
from .recovery import batch_record
from .runtime import Runtime, apply_batches, client_left, root_cause
from .sql import Program, SqlError, compile_program, quote
from .table import TableApplier, to_arrow
from .strategy import ViewPlans

log = logging.getLogger("sluice.engine")

IDEMPOTENCY_RETENTION_SECS = 24 * 3600
IDEMPOTENCY_MAX_KEYS = 100_000

INITIALS = ("running", "paused", "standby")
BOOTSTRAP_POLICIES = ("allow", "reject", "await_approval")
PROGRAM_FAILED = ("SqlError", "RustError", "SystemError")
DEFAULT_PROGRAM_CONFIG: dict[str, Any] = {"profile": "optimized", "cache": True, "runtime_version": None}

DEFAULT_RUNTIME_CONFIG: dict[str, Any] = {
    "workers": 1,
    "storage": None,
    "fault_tolerance": {"model": "exactly_once", "checkpoint_interval_secs": 60},
    "cpu_profiler": True,
    "tracing": False,
    "tracing_endpoint_jaeger": "",
    "min_batch_size_records": 0,
    "max_buffering_delay_usecs": 0,
    "resources": {"cpu_cores_min": None, "cpu_cores_max": None, "memory_mb_min": None, "memory_mb_max": None,
                  "storage_mb_max": None, "storage_class": None, "volume_attributes_class": None,
                  "namespace": None},
    "clock_resolution_usecs": 1_000_000,
    "pin_cpus": [],
    "provisioning_timeout_secs": None,
    "max_parallel_connector_init": None,
    "init_containers": None,
    "checkpoint_during_suspend": True,
    "dev_tweaks": {},
    "logging": None,
}

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _merge(base: dict, over: dict | None) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        elif v is not None or k not in out or k == "fault_tolerance":
            out[k] = v
    return out


# What a monitor event reports is derived from these: setting one of them records an event when that
# changes what the pipeline's events would say (events.py). One hook here rather than one per transition.
_MONITORED = frozenset({"status", "desired", "deployment_error", "program_status", "storage_status"})


class Pipeline:
    def __setattr__(self, key, value) -> None:
        object.__setattr__(self, key, value)
        if key in _MONITORED and self.__dict__.get("events") is not None:
            self.events.observe(self)

    def __init__(self, engine, name: str, program_code: str = "", *, description: str = "", tags=None,
                 runtime_config: dict | None = None, program_config: dict | None = None,
                 udf_rust: str = "", udf_toml: str = "", pid: str | None = None, created_at: str | None = None,
                 stored: dict | None = None, compile: bool = True):
        self.engine = engine
        self.name = name
        self.id = pid or str(uuid.uuid4())
        self.created_at = created_at or _now()
        self.lock = threading.RLock()
        self._ckpt_lock = threading.Lock()
        self.ckpt_started_at: str | None = None  # when the checkpoint being written began
        self.description = description
        self.tags = list(tags or [])
        self.runtime_config = _merge(DEFAULT_RUNTIME_CONFIG, runtime_config)
        self.program_config = _merge(DEFAULT_PROGRAM_CONFIG, program_config)
        self.udf_rust, self.udf_toml = udf_rust or "", udf_toml or ""
        stored = stored or {}
        # Feldera's three counters: ``version`` moves on every edit of a core field, ``program_version``
        # on edits of the program's fields, ``refresh_version`` on those edits and on each program status
        # a compilation ends in (SqlCompiled, Success, SqlError, RustError), so a client can tell when
        # to read the pipeline again. Description and tags are metadata and move none of them.
        self.version = int(stored.get("version", 1))
        self.program_version = int(stored.get("program_version", 1))
        self.refresh_version = int(stored.get("refresh_version", 1))
        self.bootstrap_policy: str | None = None
        self.program_code = ""
        self.program: Program | None = None
        self.program_status = "Pending"
        self.program_status_since = _now()
        self.program_error: dict = {"sql_compilation": None, "rust_compilation": None, "system_error": None}
        self.status = "Stopped"
        self.status_since = _now()
        self.desired = "Stopped"
        self.desired_since = _now()
        self.deployment_error: dict | None = None
        self.deployment_id: str | None = None
        self.deployment_initial: str | None = None
        self.storage_status = "Cleared"
        self.db = None
        self.runtime: Runtime | None = None
        # Acknowledged batches a failed run did not apply (``Runtime.leftover``): the next run applies
        # them first, as an engine restart replays them from the log.
        self.unapplied: list = []
        # Nonzero when the tables lack acknowledged rows that later batches in them came after (a failed
        # runtime could not insert rows it had held back, ``stepdb``; they are in ``unapplied``): no
        # checkpoint may be written until a run has processed batches up to this one; the log keeps them.
        self.incomplete_upto = 0
        self.kept_tables: list[str] = []
        # Durable state bookkeeping (see WAL.md).
        self.storage_epoch = int(stored.get("epoch", 0))
        self.batch_seq = 0          # last batch number handed out (tokens)
        self.applied_wal_seq = 0    # last log record the tables hold
        self.ckpt_seq = 0           # log position the last checkpoint covers
        self.ckpt_batch_seq = 0     # batch number the last checkpoint covers (0: none written)
        self.last_logged_seq = 0
        self.idem: "OrderedDict[str, tuple[int, bytes, float]]" = OrderedDict()
        self.idem_pending: dict[str, threading.Event] = {}
        self.conn_progress: dict = {}  # rows each connector delivered (connectors/progress.py)
        self._set_program(program_code)
        if compile:  # a new pipeline compiles after its creation is answered, as in Feldera (Engine.create)
            self.compile(bump=not stored)
        self.storage_program: Program | None = self.program  # the program the stored tables were made by
        if stored.get("storage_code") not in (None, program_code):
            try:
                self.storage_program = compile_program(stored["storage_code"])
            except SqlError:
                self.storage_program = None
        if stored.get("storage") == "InUse" and self.storage_program is not None:
            self.storage_status = "InUse"
        self.recover_desired = stored.get("desired", "Stopped")
        self.events = PipelineEvents(engine.settings.pipeline_events)
        self.events.observe(self)

    # -- definition ----------------------------------------------------------------------------
    def _set_program(self, code: str) -> None:
        """Record a new program; it is Pending until ``compile``."""
        self.program_code = code
        self.program = None
        self.plans: ViewPlans | None = None
        self.program_status = "Pending"
        self.program_status_since = _now()
        self.program_error = {"sql_compilation": None, "rust_compilation": None, "system_error": None}

    def compile(self, bump: bool = True) -> None:
        """Compile the recorded program. Sluice has no Rust step: a program with Rust UDFs ends in
        RustError, named, rather than running without them."""
        steps, self.program_status_since = 1, _now()
        try:
            program = compile_program(self.program_code)
            plans = ViewPlans(program)  # once: every run of the pipeline builds its views from these
            inputs = {f"{t.name}.{c.name}": dict(c.raw, stream=t.name)
                      for t in program.tables for c in table_connectors(t)}
        except SqlError as e:
            self.program_status = "SqlError"
            self.program_error = {"sql_compilation": {"exit_code": 1, "messages": [e.to_json()]},
                                  "rust_compilation": None, "system_error": None}
        else:
            steps = 2  # SqlCompiled, then Success or RustError
            sql = {"exit_code": 0, "messages": []}
            if self.udf_rust.strip() or self.udf_toml.strip():
                self.program_status = "RustError"
                self.program_error = {"sql_compilation": sql, "rust_compilation": {
                    "exit_code": 1, "stdout": "", "stderr": "Sluice evaluates SQL only and cannot build Rust UDFs: "
                    "remove udf_rust and udf_toml (and the functions declared for them)"}, "system_error": None}
            else:
                self.program, self.plans, self._input_connectors = program, plans, inputs
                self.program_status = "Success"
                self.program_error = {"sql_compilation": sql, "system_error": None,
                                      "rust_compilation": {"exit_code": 0, "stdout": "", "stderr": ""}}
        if bump:
            self.refresh_version += steps

    def update_runtime(self) -> dict:
        """Feldera's ``/update_runtime``: recompile with the platform's current runtime, only while stopped.
        Sluice has one runtime, the engine, and every program is compiled by the engine that runs it: the
        pipeline is always on the current version, the case Feldera documents as a no-op."""
        with self.lock:
            if self.status != "Stopped" or self.desired != "Stopped":
                raise IllegalAction("UpdateRestrictedToStopped",
                                    "Pipeline can only be updated while stopped. Stop it first by invoking '/stop'.",
                                    {"status": self.status})
            return describe(self)

    def update(self, fields: dict) -> dict:
        """Apply checked definition ``fields`` (``definition.check_body``); returns the pipeline as it
        stands right after the edit, before a changed program compiles (what Feldera answers)."""
        with self.lock:
            if "description" in fields:
                self.description = fields["description"]
            if "tags" in fields:
                self.tags = list(fields["tags"])
            new = {"program_code": fields.get("program_code", self.program_code),
                   "udf_rust": fields.get("udf_rust", self.udf_rust), "udf_toml": fields.get("udf_toml", self.udf_toml),
                   "runtime_config": _merge(DEFAULT_RUNTIME_CONFIG, fields["runtime_config"])
                   if "runtime_config" in fields else self.runtime_config,
                   "program_config": _merge(DEFAULT_PROGRAM_CONFIG, fields["program_config"])
                   if "program_config" in fields else self.program_config}
            changed = {k for k, v in new.items() if v != getattr(self, k)}
            if not changed:
                return describe(self)
            if self.status != "Stopped" or self.desired != "Stopped":
                raise IllegalAction("UpdateRestrictedToStopped",
                                    "Pipeline can only be updated while stopped. Stop it first by invoking '/stop'.",
                                    {"status": self.status, "changed": sorted(changed)})
            if "runtime_config" in changed and self.storage_status != "Cleared":
                not_allowed = restricted_changes(self.runtime_config, new["runtime_config"])
                if not_allowed:
                    raise IllegalAction("EditRestrictedToClearedStorage",
                                        "The following pipeline edits are not allowed while storage is not cleared: "
                                        + ", ".join(not_allowed) + ". Clear storage first using `/clear`.",
                                        {"not_allowed": not_allowed})
            for k in changed:
                setattr(self, k, new[k])
            self.version += 1
            self.refresh_version += 1
            if not changed & {"program_code", "udf_rust", "udf_toml", "program_config"}:
                return describe(self)
            old = self.program
            self.program_version += 1
            self._set_program(self.program_code)
            answer = describe(self)
            self.compile()
            self._migrate_storage(old)
            if self.db is not None and self.program is not None:
                self.storage_program = self.program
                # Log records before now were accepted under the old program: cover them all.
                self.applied_wal_seq = self.engine.wal.last_seq if self.engine.wal else self.applied_wal_seq
                self.checkpoint()
            elif self.storage_status == "Cleared":
                self.engine.forget_storage(self)
            return answer

    def _migrate_storage(self, old: Program | None) -> None:
        """Keep the data of the tables the new program keeps (``migrate``); drop everything else."""
        self.kept_tables = []
        if self.db is None:
            return
        if self.program is None:
            return  # the new program has errors: keep the data until a program compiles
        old = self.storage_program or old
        olddb, self.db = self.db, None
        if old is None:
            olddb.close()
            self._drop_unapplied("the program changed")
            self.storage_status = "Cleared"
            self.storage_epoch += 1
            self.batch_seq = self.applied_wal_seq = self.ckpt_seq = self.ckpt_batch_seq = 0
            self.conn_progress = {}
            return
        self.db = self._new_db(self.program)
        self.kept_tables, same = carry_tables(old, olddb, self.program, self.db)
        olddb.close()
        emptied = [t.name for t in self.program.tables if old.relation(t.name) is not None
                   and old.relation(t.name).kind == "table" and t.name not in self.kept_tables]
        if emptied:
            log.warning("the program change emptied table(s) %s: a column was dropped, narrowed or made NOT NULL, "
                        "the key changed, or a table with connectors changed; tables kept: %s", ", ".join(emptied),
                        ", ".join(self.kept_tables) or "none", extra={"pipeline": self.name})
        # Input a failed run left unapplied goes into the tables kept (the checkpoint that follows covers
        # it; read for the old columns, it gets the new ones as NULL where a table gained some); a table
        # that changed starts empty, and its input goes with its data.
        kept_input = [b if b.table in same else widened(old.relation(b.table), self.program.relation(b.table), b)
                      for b in self.unapplied if b.table in self.kept_tables]
        self.unapplied = [b for b in self.unapplied if b.table not in self.kept_tables]
        self._drop_unapplied("their tables changed with the program")
        self._apply_carried(kept_input)
        # A connector goes on only where its table's data was kept (keys name the table's definition, so
        # a table that gained columns has its connectors start over).
        kept = {connector_key(self.program.table_ddl(t), t.name, conn)
                for t in self.program.tables if t.name in same for conn in table_connectors(t)}
        self.conn_progress = {k: v for k, v in self.conn_progress.items() if k in kept}

    def _apply_carried(self, batches: list) -> None:
        """Put ``batches`` (a failed run's input) into the new tables in one transaction, as a step would: if
        one does not fit, none is in the tables and all stay ``unapplied``, for the next start to apply first
        (where a failure is a failed step's, which keeps its input again), and the error says so."""
        if not batches:
            return
        where = ""
        self.db.execute("BEGIN TRANSACTION")
        try:
            for t in self.program.tables:
                bs = [b for b in batches if b.table == t.name]
                if bs:
                    where = t.name
                    apply_batches(self.db, TableApplier(t), bs, want_delta=False)
            self.db.execute("COMMIT")
        except Exception as e:  # whatever failed, the tables must not hold part of the input
            self.db.execute("ROLLBACK")
            self.unapplied = batches
            message = (f"the input a failed run left unapplied ({sum(b.records for b in batches)} records, "
                       f"acknowledged) could not be put into table '{where}', kept by the program change: "
                       f"{root_cause(e)}. None of it is in the tables; it is kept and applied first when the "
                       "pipeline starts: change the program so that it fits, or clear the pipeline's storage to "
                       "drop it")
            log.error("%s", message, extra={"pipeline": self.name})
            self.deployment_error = EngineError(message, error_code="RuntimeError.WorkerPanic").to_dict()
            return
        for b in batches:
            if b.source is not None:  # in the table now: its connector must not make these rows again
                record_progress(self.conn_progress, b.source)

    def _drop_unapplied(self, why: str) -> None:
        if self.unapplied:
            log.warning("%d acknowledged records that a failed step left unapplied are dropped: %s",
                        sum(b.records for b in self.unapplied), why, extra={"pipeline": self.name})
        self.unapplied = []
        self.incomplete_upto = 0

    @staticmethod
    def _new_db(program: Program):
        db = duckdb.connect(":memory:", config=dict(DUCKDB_CONFIG))
        for t in program.tables:
            db.execute(program.table_ddl(t))
        for v in program.views:
            db.execute(program.view_ddl(v))
        db.execute("SET lock_configuration = true")
        return db

    # -- lifecycle -----------------------------------------------------------------------------
    def _set_status(self, status: str) -> None:
        if status != self.status:  # the pipeline's own log (GET .../logs) shows every transition
            log.info("deployment status %s -> %s", self.status, status, extra={"pipeline": self.name})
        self.status = status
        self.status_since = _now()

    def _set_desired(self, desired: str) -> None:
        self.desired = desired
        self.desired_since = _now()

    def start(self, initial: str = "running", bootstrap_policy: str | None = None,
              dismiss_error: bool = True) -> str:
        """Feldera's ``/start``: from Stopped it deploys; while deployed, asking again with the same
        ``initial`` (and bootstrap policy) is a no-op and with another one a refusal."""
        if initial not in INITIALS:
            raise InvalidParam(f"initial must be one of {', '.join(INITIALS)}, not '{initial}'",
                               {"parameter": "initial", "value": initial})
        if bootstrap_policy not in (None, *BOOTSTRAP_POLICIES):
            raise InvalidParam(f"bootstrap_policy must be one of {', '.join(BOOTSTRAP_POLICIES)}, not "
                               f"'{bootstrap_policy}'", {"parameter": "bootstrap_policy", "value": bootstrap_policy})
        if initial == "standby":
            # Standby follows a leader's checkpoints in shared storage, which Sluice does not have.
            raise IllegalAction("InitialStandbyNotAllowed",
                                "Initial desired runtime status can only be set to Standby if: (1) "
                                "`runtime_config.storage.backend.name` is set to `file`, and (2) "
                                "`runtime_config.storage.backend.config.sync` is configured (Sluice has no "
                                "shared storage to stand by on)", {"initial": initial})
        with self.lock:
            if self.desired != "Stopped":
                if initial != self.deployment_initial:
                    raise IllegalAction("InitialImmutableUnlessStopped",
                                        "Initial desired runtime status cannot be changed unless the pipeline is "
                                        f"desired to become Stopped (it was started '{self.deployment_initial}')",
                                        {"initial": self.deployment_initial, "requested": initial})
                if bootstrap_policy is not None and bootstrap_policy != self.bootstrap_policy:
                    raise IllegalAction("BootstrapPolicyImmutableUnlessStopped",
                                        "Bootstrap policy cannot be changed unless the pipeline is desired to become "
                                        f"Stopped (it was started with '{self.bootstrap_policy}')",
                                        {"bootstrap_policy": self.bootstrap_policy, "requested": bootstrap_policy})
                return f"Pipeline is already {self.desired.lower()}"
            if self.status != "Stopped":
                raise IllegalAction("IllegalPipelineAction",
                                    f"Deployment status (current: '{self.status}', desired: 'Stopped') cannot have "
                                    "desired changed to 'Provisioned'. Cannot restart the pipeline while it is "
                                    "stopping. Wait until it is stopped before starting the pipeline again.",
                                    {"status": self.status, "desired_status": self.desired})
            if self.program_status != "Success":
                code = "CannotStartWithCompilationError" if self.program_status in PROGRAM_FAILED else \
                    "TransitionRequiresCompiledProgram"
                raise IllegalAction(code, "Cannot process `/start` if the `program_status` is `SqlError`, `RustError` "
                                    "or `SystemError`. Make changes to fix the error, which will trigger "
                                    "recompilation.", {"program_status": self.program_status,
                                                       "program_error": self.program_error})
            if self.deployment_error is not None and not dismiss_error:
                raise IllegalAction("CannotStartWithUndismissedError",
                                    "Cannot process `/start?dismiss_error=false` if the `deployment_error` is set. You "
                                    "can dismiss the error by calling `/start?dismiss_error=true`, or alternatively "
                                    "first call `/dismiss_error`.", {"deployment_error": self.deployment_error})
            self.deployment_error = None
            self.deployment_initial = initial
            self.bootstrap_policy = bootstrap_policy or "allow"
            self.deployment_id = str(uuid.uuid4())
            self._set_desired("Paused" if initial == "paused" else "Running")
            self._set_status("Provisioning")
        # Recorded now, not when the deploy ends: an engine stopped in between restarts the pipeline.
        self.engine.save()
        # Bound to the pipeline: what the deploy logs (a view planned to be recomputed, ...) says whose it is.
        threading.Thread(target=in_pipeline(self.name, self._deploy), args=(initial,), daemon=True).start()
        return "Pipeline is starting"

    def _deploy(self, initial: str) -> None:
        try:
            with self.lock:
                self._set_status("Initializing")
                if self.db is None:
                    self.db = self._new_db(self.program)
                    self.storage_program = self.program
                    self.storage_status = "InUse"
                if self.desired == "Stopped":
                    raise RuntimeError("stopped while starting")
                # A pause or resume asked for while starting decides the state it starts in.
                paused = self.desired == "Paused"
                # Not kept in a local: this thread goes on to save, and a runtime stopped meanwhile
                # must be freeable once the pipeline says Stopped.
                self.runtime = Runtime(self, self.db, self.program, self.plans, paused=paused,
                                       settings=self.engine.settings, carried=self.unapplied)
                self.unapplied = []
                self._set_status("Paused" if paused else "Running")
        except Exception as e:
            log.exception("pipeline %s failed to start", self.name, extra={"pipeline": self.name})
            with self.lock:
                self.deployment_error = EngineError(f"failed to start: {e}", error_code="StartFailed").to_dict()
                self._set_desired("Stopped")
                self._set_status("Stopped")
                if self.runtime is not None:
                    threading.Thread(target=self.runtime.stop, daemon=True).start()
                    self.runtime = None
        self.engine.save()

    def pause(self) -> str:
        return self._set_running(False)

    def resume(self) -> str:
        return self._set_running(True)

    def _set_running(self, running: bool) -> str:
        want = "Running" if running else "Paused"
        with self.lock:
            if self.desired == "Stopped" or self.status in ("Stopped", "Stopping"):
                action = "resume" if running else "pause"
                raise IllegalAction(f"{action.capitalize()}WhileNotProvisioned",
                                    f"You can only call /{action} when the pipeline is not Stopped, Provisioning or "
                                    f"Stopping (it is {self.status})", {"status": self.status, "action": action})
            prev = self.status
            self._set_desired(want)
            if self.runtime is not None and self.status in ("Running", "Paused"):
                self.runtime.set_paused(not running)
                self._set_status(want)
        self.engine.save()
        return f"Pipeline transitioning from {prev} to {want}"

    def stop(self, force: bool = True) -> str:
        with self.lock:
            if self.status == "Stopped":
                return "Pipeline is already stopped"
            self._set_desired("Stopped")
            self.bootstrap_policy = None  # Feldera reports it only while the pipeline is meant to run
            if self.status == "Stopping":
                return "Pipeline is stopping"
            rt = self.runtime
            self._set_status("Stopping")
        # Handed over in a list the thread empties: a Thread keeps its args until it ends, and a stopped
        # runtime must be freeable as soon as the status says Stopped.
        threading.Thread(target=in_pipeline(self.name, self._finish_stop), args=([rt],), daemon=True).start()
        return "Pipeline is stopping"

    def _finish_stop(self, holder: list) -> None:
        rt = holder.pop()
        self._halt(rt)
        del rt
        with self.lock:
            self._set_status("Stopped")
        self.engine.save()

    def _halt(self, rt: Runtime | None) -> None:
        """Stop the runtime (it processes everything acknowledged) and checkpoint the tables if anything
        was processed since the last checkpoint."""
        if rt is not None:
            rt.stop()
            left = rt.leftover()
            with self.lock:
                self.batch_seq = max(self.batch_seq, rt.next_seq)
                self.applied_wal_seq = max(self.applied_wal_seq, rt.applied_wal_seq)
                self.unapplied = left
                self.runtime = None
                if any(b.wal_seq and b.wal_seq <= rt.applied_wal_seq for b in left):
                    self.incomplete_upto = max(b.seq for b in left)
                    log.error("pipeline %s: its tables lack acknowledged rows the failed run could not insert; "
                              "no checkpoint is written until they are applied again (the log keeps them)",
                              self.name, extra={"pipeline": self.name})
                elif self.incomplete_upto and rt.processed_seq >= self.incomplete_upto:
                    self.incomplete_upto = 0
        # Nothing processed since the last checkpoint (or since storage was cleared): a new one would hold
        # the same state, and storage_status_details would list a checkpoint of nothing new.
        if self.batch_seq == self.ckpt_batch_seq and self.applied_wal_seq <= self.ckpt_seq:
            return
        try:
            self.checkpoint()
        except Exception:
            log.exception("checkpoint of pipeline %s failed; its log is kept", self.name, extra={"pipeline": self.name})

    def _runtime_failed(self, message: str) -> None:
        log.error("pipeline stops after a runtime error: %s", message, extra={"pipeline": self.name})
        with self.lock:
            # Feldera reports a failure while evaluating the program (an overflow, ELEMENT of a longer array,
            # ...) as a panic of a worker thread, under this code; clients and tests match on it.
            self.deployment_error = EngineError(message, error_code="RuntimeError.WorkerPanic").to_dict()
        self.stop()

    def stop_now(self) -> None:
        """Stop synchronously for engine shutdown: the desired state stays, so a restart resumes it."""
        self._halt(self.runtime)

    def clear(self) -> str:
        with self.lock:
            if self.status != "Stopped" or self.desired != "Stopped":
                raise IllegalAction("StorageStatusImmutableUnlessStopped",
                                    f"Cannot transition storage status from '{self.storage_status}' to 'Clearing' "
                                    f"with status '{self.status}' and desired status '{self.desired}'. Storage status "
                                    "cannot be changed unless the pipeline is fully stopped.",
                                    {"status": self.status, "desired_status": self.desired,
                                     "storage_status": self.storage_status})
            if self.db is not None:
                self.db.close()
                self.db = None
            self.storage_status = "Cleared"
            self.storage_epoch += 1  # log records of the old data no longer apply; old tokens answer 410
            self.batch_seq = self.applied_wal_seq = self.ckpt_seq = self.ckpt_batch_seq = 0
            self._drop_unapplied("its storage was cleared")
            self.idem.clear()
            self.conn_progress = {}
        self.engine.forget_storage(self)
        return "Pipeline storage is being cleared"

    def dismiss_error(self) -> str:
        with self.lock:
            if self.deployment_error is not None and (self.status != "Stopped" or self.desired != "Stopped"):
                raise IllegalAction("DismissErrorRestrictedToFullyStopped",
                                    "The pipeline must have both status `Stopped` and desired status `Stopped` to "
                                    "dismiss the `deployment_error` if it is set.", {"status": self.status})
            self.deployment_error = None
        return "Deployment error dismissed"

    # -- interaction ---------------------------------------------------------------------------
    def running(self) -> Runtime:
        rt = self.runtime
        if self.status == "Initializing":
            # Provisioned but not yet serving: Feldera's pipeline answers this itself, and clients retry it.
            raise Unavailable(f"Pipeline '{self.name}' is initializing: retry shortly", {"pipeline_name": self.name},
                              error_code="Initializing")
        if rt is None or self.status not in ("Running", "Paused"):
            # Running or Paused without a runtime: the engine is shutting down (``stop_now`` keeps the status).
            raise NotDeployed(self.name, self.status, self.desired,
                              engine_stopping=self.status in ("Running", "Paused") and self.engine.shutting_down)
        return rt

    @staticmethod
    def _input_table(program, table_name: str):
        """The table ``table_name`` names, or UnknownInputStream (which tells a view's name apart)."""
        table = program.table(table_name)
        if table is None:
            raise UnknownInputStream.in_program(program, table_name)
        return table

    def connector(self, table_name: str, connector_name: str):
        """The running connector ``connector_name`` of a table (``/tables/{t}/connectors/{c}/...``)."""
        rt = self.running()
        table = self._input_table(rt.program, table_name)
        for c in rt.connectors:
            if c.table.name == table.name and c.conn.name == connector_name:
                return c
        raise UnknownInputEndpoint(f"{table.name}.{connector_name}")

    def ingest(self, table_name: str, body, params: dict[str, str], force: bool,
               idempotency_key: str | None = None, gone=None) -> tuple[int, dict]:
        """Parse and queue ``body``; returns the HTTP answer (status, body). Bad records do not raise.

        ``body`` is bytes, or a function returning them: it is then called only once the pipeline can
        take input (not paused, buffer not full), so waiting requests hold no data. ``gone()``: whether
        the client has closed its connection; a request whose client left while it waited is not taken
        (the client saw no answer, and would send it again).
        With an idempotency key, a repeat returns the first answer and applies nothing again."""
        rt = self.running()
        table = self._input_table(rt.program, table_name)
        deadline = None
        if callable(body):
            deadline, waited = rt.admit(table.name, force)
            body = body()
            if waited and gone is not None and gone():
                raise client_left(self.name, table.name)
        key = idempotency_key
        if key is not None:
            if len(key) > 200:
                raise InvalidParam("Idempotency-Key is longer than 200 characters", {"length": len(key)})
            while True:
                with self.lock:
                    hit = self.idem.get(key)
                    if hit is not None:
                        return hit[0], orjson.loads(hit[1])
                    ev = self.idem_pending.get(key)
                    if ev is None:
                        self.idem_pending[key] = threading.Event()
                        break
                ev.wait(60)
        try:
            batch = parse_body(body, table, params)
            raw = None
            if not batch.num_errors:
                raw = (body, {k: v for k, v in params.items() if k in ("format", "update_format", "array", "json_flavor")})
            return self.push_parsed(rt, table, batch, force, key, raw, deadline, gone=gone)
        finally:
            if key is not None:
                with self.lock:
                    ev = self.idem_pending.pop(key, None)
                if ev is not None:
                    ev.set()

    def push_parsed(self, rt: Runtime, table, batch, force: bool, key: str | None = None,
                    raw: tuple[bytes, dict] | None = None, deadline: float | None = None,
                    source: dict | None = None, gone=None) -> tuple[int, dict]:
        """Log (as the raw body when it parsed cleanly, else as the kept operations) and queue a batch.

        ``source`` is a connector's progress tag; it is logged with the batch so recovery knows the rows
        were delivered."""
        def log_payload(seq, k, ans):
            return batch_record(self.id, self.storage_epoch, table, batch, seq, k, ans, raw, source)

        _tok, (status, answer) = rt.push(table, batch, force, key=key, log_payload=log_payload,
                                         answer=lambda tok: ingest_answer(batch, tok), deadline=deadline,
                                         source=source, gone=gone)
        if key is not None and batch.ops:
            self.remember(key, status, answer)
        return status, answer

    def remember(self, key: str, status: int, answer: dict, ts: float | None = None) -> None:
        with self.lock:
            self.idem[key] = (status, orjson.dumps(answer), ts or time.time())
            self.idem.move_to_end(key)
            cutoff = time.time() - IDEMPOTENCY_RETENTION_SECS
            while self.idem and (len(self.idem) > IDEMPOTENCY_MAX_KEYS or next(iter(self.idem.values()))[2] < cutoff):
                self.idem.popitem(last=False)

    # -- durability ----------------------------------------------------------------------------
    @property
    def token_id(self) -> str:
        """Names the pipeline's stored data: tokens stay valid across restarts until a clear."""
        return f"{self.id}.{self.storage_epoch}"

    def logged(self) -> bool:
        ft = self.runtime_config.get("fault_tolerance")
        # As in Feldera, a null fault_tolerance (or model) means none.
        return isinstance(ft, dict) and ft.get("model") not in (None, "none")

    def wal(self):
        return self.engine.wal if self.logged() else None

    def note_logged(self, seq: int) -> None:
        self.last_logged_seq = max(self.last_logged_seq, seq)

    def storage_bytes(self) -> int:
        """Bytes of this pipeline's checkpoints on disk (its tables live in memory between them). The
        write-ahead log is the engine's, shared by every pipeline, and is not counted here."""
        total = 0
        # os.walk passes over a directory that vanishes while it is walked (a checkpoint replaced, an
        # old one removed): the count is of one moment, never an error.
        for root, _, files in os.walk(self.engine.checkpoint_dir(self)):
            for f in files:
                try:
                    total += os.stat(os.path.join(root, f)).st_size
                except OSError:
                    pass
        return total

    def checkpoint(self) -> bool:
        """Write the tables and the log position they cover; True if one was written.

        One at a time: the checkpointer thread, a stop and ``POST .../checkpoint`` may ask at once,
        and two writers of the same log position would share one temporary directory."""
        with self._ckpt_lock:
            self.ckpt_started_at = _now()  # stats' checkpoint_activity reports it in progress
            try:
                return self._checkpoint()
            finally:
                self.ckpt_started_at = None

    def _checkpoint(self) -> bool:
        from .checkpoint import write_checkpoint
        if not self.logged():
            return False
        with self.lock:
            rt, db = self.runtime, self.db
            prog = self.storage_program
            if db is None or prog is None:
                return False
            if self.incomplete_upto:
                if rt is None or rt.processed_seq < self.incomplete_upto:
                    return False
                self.incomplete_upto = 0
        if rt is not None:
            with rt.step_lock:
                if rt.held and not rt.failed:
                    rt.tables_complete()  # the checkpoint's tables hold every step it counts as applied
                if rt.held:  # rows a failed runtime could not insert: they are its leftover, not applied
                    return False
                applied, batch_seq = rt.applied_wal_seq, rt.processed_seq
                cur = db.cursor()
                tables = {t.name: cur.sql(f"SELECT * FROM {quote(t.internal)}").to_arrow_table() for t in prog.tables}
                cur.close()
                progress = copy.deepcopy(self.conn_progress)
        else:
            applied, batch_seq = self.applied_wal_seq, self.batch_seq
            tables = {t.name: db.sql(f"SELECT * FROM {quote(t.internal)}").to_arrow_table() for t in prog.tables}
            progress = copy.deepcopy(self.conn_progress)
        applied = max(applied, self.ckpt_seq)
        with self.lock:
            idem = [[k, v[0], v[1].decode(), v[2]] for k, v in self.idem.items()]
        write_checkpoint(self.engine.checkpoint_dir(self), applied, tables,
                         {"pipeline": self.id, "epoch": self.storage_epoch, "batch_seq": batch_seq, "idem": idem,
                          "connectors": progress})
        self.ckpt_seq, self.ckpt_batch_seq = applied, batch_seq
        log.info("checkpoint written: the tables hold every input up to log record %d", applied,
                 extra={"pipeline": self.name})
        return True

    def restore(self, manifest: dict | None, tables: dict | None) -> None:
        """Build the stored tables from a checkpoint (or empty) before the log is replayed."""
        self.db = self._new_db(self.storage_program)
        if manifest:
            for name, data in (tables or {}).items():
                table = self.storage_program.table(f'"{name}"')  # checkpoints keep the user's names
                if table is None:
                    continue
                # By column name: a program change writes its checkpoint, then the catalog; cut short in
                # between, the checkpoint holds a table's new columns and the catalog the program before.
                cols = [c.internal for c in table.columns if c.internal in data.column_names]
                extra = [c for c in data.column_names if c not in cols]
                if extra:
                    log.warning("the checkpoint of table %s holds columns its program does not declare (%s): a "
                                "program change was cut short before it was saved; they are left out", name,
                                ", ".join(extra), extra={"pipeline": self.name})
                insert_columns(self.db, table, data, cols)
            self.ckpt_seq = self.applied_wal_seq = int(manifest["seq"])
            self.batch_seq = self.ckpt_batch_seq = int(manifest.get("batch_seq", 0))
            for k, status, ans, ts in manifest.get("idem", []):
                self.idem[k] = (status, ans.encode(), ts)
            self.conn_progress = manifest.get("connectors", {})

    # -- JSON ----------------------------------------------------------------------------------
    def to_json(self, selector: str = "all") -> dict:
        return describe(self, selector)

    def definition(self) -> dict:
        """What is persisted about the pipeline (its data is not, yet)."""
        return {"id": self.id, "name": self.name, "program_code": self.program_code, "description": self.description,
                "tags": self.tags, "runtime_config": self.runtime_config, "program_config": self.program_config,
                "udf_rust": self.udf_rust, "udf_toml": self.udf_toml, "version": self.version,
                "program_version": self.program_version, "refresh_version": self.refresh_version,
                "created_at": self.created_at, "storage": self.storage_status, "epoch": self.storage_epoch,
                "desired": self.desired,
                "storage_code": self.storage_program.code if self.storage_program is not None else None}


__all__ = ["Pipeline", "DEFAULT_RUNTIME_CONFIG", "to_arrow"]
