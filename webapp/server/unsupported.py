"""Feldera endpoints Sluice answers without implementing: the HTTP-driven clock, and those answered 501
(docs/api.md says why for each)."""

from __future__ import annotations

from flask import Blueprint

from ..engine import errors as E
from .helpers import current_engine

bp = Blueprint("v0_unsupported", __name__, url_prefix="/v0")

_P = "/pipelines/<name>"


@bp.post(f"{_P}/clock/advance")
def clock_advance(name):
    current_engine().get(name).running()
    raise E.BadRequest(
        "the clock of this pipeline is not HTTP-driven: Sluice's NOW() is the wall clock, and "
        "dev_tweaks.now_http_driven is not supported", {"pipeline_name": name}, error_code="NotSupported")


# Enterprise-only in Feldera: its open-source edition answers 501 EnterpriseFeature, and so does Sluice.
_ENTERPRISE = {
    ("POST", f"{_P}/activate"): "standby and activation",
    ("POST", f"{_P}/checkpoint/sync"): "checkpoint synchronization to object storage",
    ("GET", f"{_P}/checkpoint/sync_status"): "checkpoint synchronization to object storage",
    ("GET", f"{_P}/checkpoints/remote"): "checkpoints in object storage",
}

# Not implemented by Sluice (501 NotImplemented), each with the reason given in the answer.
_ABSENT = {
    ("POST", f"{_P}/approve"): "Sluice does not bootstrap from a changed program awaiting approval",
    ("POST", f"{_P}/rebalance"): "Sluice runs one worker per pipeline: there is nothing to rebalance",
    ("POST", f"{_P}/start_compaction"): "Sluice keeps its state in DuckDB, which has no compaction to start",
    ("POST", f"{_P}/samply_profile"): "Sluice has no samply CPU profiler; circuit_json_profile has per-view time",
    ("GET", f"{_P}/samply_profile"): "Sluice has no samply CPU profiler; circuit_json_profile has per-view time",
    ("GET", f"{_P}/heap_profile"): "Sluice has no heap profiler (a Python process, not Rust with jemalloc)",
    ("GET", f"{_P}/dataflow_graph"): "Sluice compiles no DBSP dataflow; circuit_profile draws its relation graph",
    ("POST", f"{_P}/diff"): "Sluice does not compute program diffs yet",
    ("POST", f"{_P}/testing"): "Feldera's testing hooks have no Sluice counterpart",
}


def _register() -> None:
    for (method, path), feature in _ENTERPRISE.items():
        def enterprise(feature=feature, **_):
            raise E.EnterpriseFeature(feature)
        bp.add_url_rule(path, f"enterprise_{method}_{path}", enterprise, methods=[method])
    for (method, path), why in _ABSENT.items():
        def absent(why=why, **_):
            raise E.NotImplementedHere(why, None)
        bp.add_url_rule(path, f"absent_{method}_{path}", absent, methods=[method])


_register()
