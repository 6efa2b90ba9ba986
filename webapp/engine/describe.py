"""A pipeline as Feldera's ``GET /v0/pipelines/{name}`` reports it (``PipelineSelectedInfo``).

``describe(p, "all")`` has every field; ``describe(p, "status")`` the status fields only (no program
text, runtime config or program error), as Feldera's ``selector=status``. The field sets follow
Feldera's platform tests (``python/tests/platform/test_pipeline_crud.py``).

Status fields Sluice derives from its one process:

- resources status: Stopped / Provisioning / Provisioned / Stopping, from the deployment status;
- runtime status (and its details) only while provisioned: Initializing, Running, Paused;
- ``storage_status_details``: ``null`` while storage is cleared, else ``{"checkpoints": [...]}``, the
  checkpoints on disk as ``GET .../checkpoints`` lists them (Sluice keeps the newest only). A checkpoint
  is written on request, every ``checkpoint_interval_secs`` with new input, at a program change that keeps
  data, and at a stop when anything was processed since the last one; so a pipeline that has processed
  nothing lists none, as Feldera's does;
- ``bootstrap_policy``, ``silent_bootstrap``, ``concurrent_bootstrap``: what ``/start`` was given, while
  the pipeline is meant to run; ``null`` once it is asked to stop.
"""

from __future__ import annotations

from typing import Any

from .events import resources_status
from .lateness import annotate_schema


def program_schema(program) -> dict:
    """A compiled program's schema as Feldera's compiler writes it (its LATENESS columns too), for a
    pipeline's program_info and for /validate_program alike."""
    return annotate_schema(program.schema_json(), program.lateness)


def _program_info(p) -> dict | None:
    if p.program is None:
        return None
    return {
        "schema": program_schema(p.program),
        "main_rust": "", "udf_stubs": "", "dataflow": None, "input_connectors": p._input_connectors,
        "output_connectors": {},
        "sluice": {
            "views": {v.name: {"strategy": p.plans.strategy(v.name), "materialized": v.materialized,
                               "local": v.kind == "local_view",
                               "unique_keys": p.plans.unique_keys(v.name)}
                      for v in p.program.views},
            "kept_tables": p.kept_tables,
        },
    }


def describe(p, selector: str = "all") -> dict:
    # Read from disk before taking the lock: a slow disk must not hold up the pipeline's state changes.
    checkpoints = p.engine.checkpoints(p) if p.storage_status != "Cleared" else []
    with p.lock:
        provisioned = resources_status(p.status) == "Provisioned"
        deployed = p.desired != "Stopped"
        runtime_status = p.status if provisioned else None
        d: dict[str, Any] = {
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "tags": p.tags,
            "created_at": p.created_at,
            "version": p.version,
            "platform_version": p.engine.platform_version,
            "program_config": p.program_config,
            "program_version": p.program_version,
            "program_status": p.program_status,
            "program_status_since": p.program_status_since,
            "refresh_version": p.refresh_version,
            "storage_status": p.storage_status,
            "storage_status_details": None if p.storage_status == "Cleared" else {"checkpoints": checkpoints},
            "deployment_id": p.deployment_id,
            "deployment_initial": p.deployment_initial,
            "deployment_status": p.status,
            "deployment_status_since": p.status_since,
            "deployment_desired_status": p.desired,
            "deployment_desired_status_since": p.desired_since,
            "deployment_error": p.deployment_error,
            "deployment_resources_status": resources_status(p.status),
            "deployment_resources_status_since": p.status_since,
            "deployment_resources_desired_status": "Provisioned" if deployed else "Stopped",
            "deployment_resources_desired_status_since": p.desired_since,
            "deployment_runtime_status": runtime_status,
            "deployment_runtime_status_since": p.status_since if provisioned else None,
            "deployment_runtime_status_details": {"status": runtime_status, "incarnation_uuid": p.deployment_id}
            if provisioned else None,
            "deployment_runtime_desired_status": p.desired if deployed else None,
            "deployment_runtime_desired_status_since": p.desired_since if deployed else None,
            "bootstrap_policy": p.bootstrap_policy,
            "silent_bootstrap": False if p.bootstrap_policy is not None else None,
            "concurrent_bootstrap": False if p.bootstrap_policy is not None else None,
        }
        if selector == "all":
            d.update({
                "program_code": p.program_code,
                "udf_rust": p.udf_rust,
                "udf_toml": p.udf_toml,
                "runtime_config": p.runtime_config,
                "program_info": _program_info(p),
                "program_error": p.program_error,
                "deployment_resources_status_details": None,
            })
        return d


__all__ = ["describe", "program_schema"]
