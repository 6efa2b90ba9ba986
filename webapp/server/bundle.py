"""``GET /v0/pipelines/{name}/support_bundle``: a zip laid out as Feldera's.

At the root, ``metadata.json`` (and ``metadata.txt`` for people) describes the bundle; each collection
sits in a directory named by its time. Feldera also keeps collections made periodically; Sluice makes
one when asked (``collect=true``, the default) and stores none, so ``collect=false`` gives a bundle
with no collection, as Feldera's does for a pipeline that has none stored.
"""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
from flask import Blueprint, current_app, request

from ..engine import errors as E
from ..engine.profile import profile
from .helpers import current_engine, query_flag
from .metrics import families, render_text
from .observe import attachment, profile_zip, zip_files

bp = Blueprint("v0_bundle", __name__, url_prefix="/v0")

METADATA_VERSION = 1
DATA_VERSION = 1

# Feldera's switches and the file each one gives. Those without a Sluice counterpart are listed as
# failed (with why) when asked for, so a reader is never left guessing.
FILES = {"circuit_profile": "circuit_profile.zip", "heap_profile": "heap_profile.pb.gz", "metrics": "metrics.txt",
         "logs": "logs.txt", "stats": "stats.json", "pipeline_config": "pipeline_config.json",
         "system_config": "system_config.json", "dataflow_graph": "dataflow_graph.json",
         "pipeline_events": "pipeline_events.json"}
UNAVAILABLE = {"heap_profile": "Sluice has no heap profiler (it is a Python process, not Rust with jemalloc)",
               "dataflow_graph": "Sluice compiles no DBSP dataflow; circuit_profile.zip holds its relation graph"}
_NEEDS_RUNTIME = ("circuit_profile", "metrics", "stats")


def _pretty(obj) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2)


def _collect(eng, p, wanted: dict[str, bool]) -> tuple[dict[str, bytes], dict]:
    """One collection: its files and its summary ``{collected, failed: [{file, reason}], skipped}``."""
    rt = p.runtime if p.status in ("Running", "Paused") else None
    files: dict[str, bytes] = {}
    summary: dict = {"collected": [], "failed": [], "skipped": []}
    for part, fname in FILES.items():
        if not wanted[part]:
            summary["skipped"].append(fname)
            continue
        if part in UNAVAILABLE:
            summary["failed"].append({"file": fname, "reason": UNAVAILABLE[part]})
            continue
        if part in _NEEDS_RUNTIME and rt is None:
            summary["failed"].append({"file": fname, "reason": f"the pipeline is {p.status}; only a running or "
                                                             f"paused one has {part.replace('_', ' ')}"})
            continue
        if part == "circuit_profile":
            prof = profile(rt)
            files[fname] = profile_zip(prof)
            files["json_circuit_profile.zip"] = zip_files({"profile.json": _pretty(prof)})
        elif part == "metrics":
            files[fname] = render_text(families([p])).encode()
        elif part == "stats":
            files[fname] = _pretty(rt.stats())
        elif part == "logs":
            ring = eng.logs.ring(p.name)
            lines, _ = ring.read_after(ring.position(None)[0], 0)
            files[fname] = "".join(line + "\n" for line in lines).encode()
        elif part == "pipeline_events":
            files[fname] = _pretty(p.events.list("all"))
        elif part == "pipeline_config":
            files[fname] = _pretty(p.to_json("all"))
        elif part == "system_config":
            files[fname] = _pretty({"config": eng.config(), "settings": vars(eng.settings),
                                    "server": {k: current_app.config.get(k)
                                               for k in ("MAX_CONTENT_LENGTH", "CORS_ORIGINS", "ALLOWED_HOSTS")}})
    summary["collected"] = list(files)
    return files, summary


@bp.get("/pipelines/<name>/support_bundle")
def support_bundle(name):
    eng = current_engine()
    p = eng.get(name)
    limit = request.args.get("limit")
    if limit not in (None, "") and not (limit.isdigit() and int(limit) >= 1):
        raise E.BadRequest("limit must be at least 1 when provided; omit it to return all retained collections",
                           {"parameter": "limit", "value": limit}, error_code="InvalidSupportBundleParameter")
    wanted = {part: query_flag(part, True) for part in FILES}
    now = datetime.now(timezone.utc)
    files: dict[str, bytes] = {}
    collections = []
    if query_flag("collect", True):
        directory = now.strftime("%Y-%m-%dT%H-%M-%S.%fZ")
        got, summary = _collect(eng, p, wanted)
        files.update({f"{directory}/{fname}": data for fname, data in got.items()})
        collections.append(dict({"directory": directory, "time": now.isoformat(), "data_version": DATA_VERSION},
                                **summary))
    with p.lock:
        status, since, desired = p.status, p.status_since, p.desired
    pipeline = {"name": name, "status": status, "status_since": since}
    if desired != status:
        pipeline["desired_status"] = desired
    meta = {"metadata_version": METADATA_VERSION, "requested_at": now.isoformat(), "pipeline": pipeline,
            "collections": collections}
    files["metadata.txt"] = _metadata_text(meta).encode()
    files["metadata.json"] = _pretty(meta)
    return attachment(zip_files(files), f"{name}-support-bundle.zip")


def _metadata_text(meta: dict) -> str:
    p = meta["pipeline"]
    out = ["", "# Support Bundle Table of Contents", "", f"Pipeline: {p['name']}", f"Requested at: {meta['requested_at']}",
           f"Pipeline Status: {p['status']} (since {p['status_since']})"]
    if "desired_status" in p:
        out.append(f"Pipeline Desired Status: {p['desired_status']}")
    for i, c in enumerate(meta["collections"]):
        out += ["", f"## Collection {i} ({c['time']})", f"Directory: {c['directory']}/"]
        if c["collected"]:
            out += ["", "Successfully Collected:"] + [f"  ✓ {f}" for f in c["collected"]]
        if c["failed"]:
            out += ["", "Failed To Collect:"] + [f"  ✗ {f['file']}: {f['reason']}" for f in c["failed"]]
        if c["skipped"]:
            out += ["", "Skipped (by request):"] + [f"  ⚠ {f}" for f in c["skipped"]]
    return "\n".join(out) + "\n"
