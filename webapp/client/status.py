"""``PipelineStatus``: the official client's enum of ``deployment_status`` values, comparable to strings."""

from __future__ import annotations

from enum import Enum


class PipelineStatus(str, Enum):
    """A pipeline's ``deployment_status``. Members equal Feldera's strings: ``PipelineStatus.RUNNING == "Running"``."""

    NOT_FOUND = "NotFound"
    STOPPED = "Stopped"
    PROVISIONING = "Provisioning"
    UNAVAILABLE = "Unavailable"
    COORDINATION = "Coordination"
    STANDBY = "Standby"
    AWAITINGAPPROVAL = "AwaitingApproval"
    INITIALIZING = "Initializing"
    BOOTSTRAPPING = "Bootstrapping"
    REPLAYING = "Replaying"
    PAUSED = "Paused"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    STOPPING = "Stopping"
    CONCURRENTBOOTSTRAPPING = "ConcurrentBootstrapping"
    SYNCHRONIZING = "Synchronizing"

    @classmethod
    def from_str(cls, value: str) -> "PipelineStatus":
        """Parse a status case-insensitively, by value (``"Running"``) or name (``"RUNNING"``)."""
        v = str(value).replace("_", "").lower()
        for m in cls:
            if m.value.lower() == v or m.name.replace("_", "").lower() == v:
                return m
        raise ValueError(f"unknown pipeline status {value!r}")

    def __str__(self) -> str:
        return self.value


# Statuses in which ingress, egress and queries work (the official client's list).
INTERACTIVE = {PipelineStatus.RUNNING, PipelineStatus.PAUSED, PipelineStatus.CONCURRENTBOOTSTRAPPING,
               PipelineStatus.SYNCHRONIZING}

__all__ = ["PipelineStatus", "INTERACTIVE"]
