"""Monitor events. Pipeline events (Feldera's ``GET /v0/pipelines/{name}/events``): the pipeline's status as it
changes, newest first, the oldest dropped beyond a bound (Feldera keeps 720 per pipeline).

Feldera's monitor samples the pipeline and stores a row when it looks; Sluice knows each change when it
happens, so an event is recorded whenever one of the statuses an event reports changes (deployment
resources and runtime, their desired statuses, whether there is an error, program, storage). Events live
in memory: they end with the pipeline or the engine process, as its log does.
"""

from __future__ import annotations

import datetime as _dt
import threading
import uuid
from collections import deque

from .errors import NotFound

# The fields of ``selector=status``; ``selector=all`` adds the details and the error.
STATUS_FIELDS = ("deployment_resources_status", "deployment_resources_desired_status", "deployment_runtime_status",
                 "deployment_runtime_desired_status", "deployment_has_error", "program_status", "storage_status")


class UnknownPipelineMonitorEvent(NotFound):
    error_code = "UnknownPipelineMonitorEvent"


def resources_status(status: str) -> str:
    """Feldera's resources status for a deployment status."""
    if status in ("Running", "Paused", "Initializing"):
        return "Provisioned"
    return status if status in ("Stopped", "Provisioning", "Stopping") else "Stopping"


def _status_of(p) -> dict:
    provisioned = resources_status(p.status) == "Provisioned"
    deployed = p.desired != "Stopped"
    return {
        "deployment_resources_status": resources_status(p.status),
        "deployment_resources_desired_status": "Provisioned" if deployed else "Stopped",
        "deployment_runtime_status": p.status if provisioned else None,
        "deployment_runtime_desired_status": p.desired if deployed else None,
        "deployment_has_error": p.deployment_error is not None,
        "program_status": p.program_status,
        "storage_status": p.storage_status,
    }


class PipelineEvents:
    """One pipeline's retained events, oldest first."""

    def __init__(self, capacity: int):
        self._events: deque[dict] = deque(maxlen=max(1, capacity))
        self._lock = threading.Lock()

    def observe(self, p) -> None:
        """Record an event if the statuses an event reports differ from the latest one's."""
        status = _status_of(p)
        with self._lock:
            if self._events and all(self._events[-1][k] == v for k, v in status.items()):
                return
            provisioned = status["deployment_runtime_status"] is not None
            self._events.append(dict(
                {"event_id": str(uuid.uuid4()),
                 "recorded_at": _now()},
                **status,
                deployment_resources_status_details=None,
                deployment_runtime_status_details={"status": p.status, "incarnation_uuid": p.deployment_id}
                if provisioned else None,
                deployment_error=p.deployment_error,
                storage_status_details=None))

    def list(self, selector: str) -> list[dict]:
        with self._lock:
            events = list(reversed(self._events))
        return [_select(e, selector) for e in events]

    def get(self, event_id: str, selector: str) -> dict:
        with self._lock:
            found = self._events[-1] if event_id == "latest" and self._events else \
                next((e for e in self._events if e["event_id"] == event_id), None)
        if found is None:
            raise UnknownPipelineMonitorEvent(f"Unknown pipeline monitor event '{event_id}'",
                                              {"event_id": event_id})
        return _select(found, selector)


class UnknownClusterMonitorEvent(NotFound):
    error_code = "UnknownClusterMonitorEvent"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ClusterEvents:
    """Feldera's cluster monitor events (``GET /v0/cluster/events``). Feldera checks its API server, compiler
    and runner, three services, and records their health as it changes; in Sluice the three are one process,
    healthy whenever it answers, so there is one event, recorded when the engine started."""

    _SELF = {"api": "the engine's HTTP server", "compiler": "the engine's SQL compiler",
             "runner": "the engine's pipeline runner"}

    def __init__(self, pid: int):
        self.event = {"id": str(uuid.uuid4()), "recorded_at": _now(), "all_healthy": True}
        for svc, what in self._SELF.items():
            self.event[f"{svc}_status"] = "Healthy"
            self.event[f"{svc}_self_info"] = f"{what}, in the engine process (pid {pid}): healthy while it answers"
            self.event[f"{svc}_resources_info"] = "no Kubernetes resources: the engine is one local process"

    def list(self, selector: str) -> list[dict]:
        return [self._select(selector)]

    def get(self, event_id: str, selector: str) -> dict:
        if event_id not in ("latest", self.event["id"]):
            raise UnknownClusterMonitorEvent(f"Unknown cluster monitor event '{event_id}'", {"event_id": event_id})
        return self._select(selector)

    def _select(self, selector: str) -> dict:
        if selector == "all":
            return dict(self.event)
        return {k: v for k, v in self.event.items() if not k.endswith(("_self_info", "_resources_info"))}


def _select(event: dict, selector: str) -> dict:
    if selector == "all":
        return dict(event)
    return {k: event[k] for k in ("event_id", "recorded_at", *STATUS_FIELDS)}


__all__ = ["ClusterEvents", "PipelineEvents", "STATUS_FIELDS", "UnknownClusterMonitorEvent",
           "UnknownPipelineMonitorEvent", "resources_status"]
