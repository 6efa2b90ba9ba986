"""Checkpoints on request (Feldera's ``checkpoint``, ``checkpoint_status``, ``checkpoints``).

``POST .../checkpoint`` numbers the request (from 1 in each run of the pipeline, its incarnation) and
writes the checkpoint on a background thread, the same checkpoint the engine writes every
``checkpoint_interval_secs`` (webapp/engine/checkpoint.py). ``checkpoint_status`` reports the newest
request that succeeded and the newest that failed, as Feldera does.
"""

from __future__ import annotations

import threading

from flask import Blueprint, current_app, request

from ..engine import errors as E
from .helpers import current_engine, json_response

bp = Blueprint("v0_checkpoints", __name__, url_prefix="/v0")


class _Requests:
    """Checkpoint requests of one run of one pipeline."""

    def __init__(self, incarnation: str):
        self.incarnation = incarnation
        self.last = 0
        self.success: int | None = None
        self.failure: dict | None = None
        self.lock = threading.Lock()


def _requests(name: str, incarnation: str) -> _Requests:
    table = current_app.extensions.setdefault("sluice_checkpoint_requests", {})
    with current_app.extensions.setdefault("sluice_checkpoint_lock", threading.Lock()):
        r = table.get(name)
        if r is None or r.incarnation != incarnation:
            r = table[name] = _Requests(incarnation)
        return r


@bp.post("/pipelines/<name>/checkpoint")
def checkpoint(name):
    p = current_engine().get(name)
    rt = p.running()
    if not p.logged():
        raise E.CheckpointsDisabled(
            f"pipeline '{name}' runs without fault tolerance (runtime_config.fault_tolerance is null), so "
            "there is nothing a checkpoint could resume: set fault_tolerance.model to exactly_once",
            {"pipeline_name": name})
    reqs = _requests(name, rt.incarnation)
    with reqs.lock:
        reqs.last += 1
        seq = reqs.last

    def write():
        try:
            p.checkpoint()
            with reqs.lock:
                reqs.success = max(reqs.success or 0, seq)
        except Exception as e:  # reported through checkpoint_status, as Feldera's failures are
            with reqs.lock:
                reqs.failure = {"sequence_number": seq, "error": str(e)}

    threading.Thread(target=write, name=f"checkpoint-{name}", daemon=True).start()
    return json_response({"checkpoint_sequence_number": seq, "incarnation_uuid": rt.incarnation})


@bp.get("/pipelines/<name>/checkpoint_status")
def checkpoint_status(name):
    rt = current_engine().get(name).running()
    asked = request.args.get("incarnation_uuid")
    if asked and asked != rt.incarnation:
        raise E.IncarnationUuidMismatch(
            f"pipeline '{name}' restarted since that checkpoint was requested: ask for a new one",
            {"incarnation_uuid": asked, "current_incarnation_uuid": rt.incarnation})
    reqs = _requests(name, rt.incarnation)
    with reqs.lock:
        return json_response({"success": reqs.success, "failure": reqs.failure})


@bp.get("/pipelines/<name>/checkpoints")
def checkpoints(name):
    """The checkpoints on disk (Sluice keeps the newest only), in Feldera's ``CheckpointMetadata`` shape."""
    eng = current_engine()
    return json_response(eng.checkpoints(eng.get(name)))
