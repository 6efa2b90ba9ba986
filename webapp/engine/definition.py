"""A pipeline's definition as Feldera checks it: name, metadata, configurations, required fields.

Every rule is Feldera's (``crates/pipeline-manager/src/db/types/utils.rs`` and the request structs of
``api/endpoints/pipeline_management.rs``), refused with Feldera's error code (400):

- name: not empty (``EmptyName``), at most 100 bytes (``TooLongName``), only ``[a-zA-Z0-9_-]``
  (``NameDoesNotMatchPattern``);
- tags: at most 50 (``TooManyTags``), each 1-50 characters of ASCII letters, digits, space and
  ``. _ / | \\ : = -`` (``InvalidTag``); description: at most 300 characters (``TooLongDescription``);
- ``runtime_config`` / ``program_config``: objects whose known fields have their type
  (``InvalidRuntimeConfig`` / ``InvalidProgramConfig``); fields Sluice does not know are kept and
  reported back as sent, as Feldera keeps them in its stored JSON;
- POST needs ``name`` and ``program_code``, PUT ``program_code`` (``MissingField``; Feldera's JSON
  extractor answers a bare 400 there; its PUT wants ``name`` too, which Sluice takes from the URL).

``restricted_changes`` lists the runtime settings that cannot change while storage holds state
(``EditRestrictedToClearedStorage``), Feldera's list: ``workers``, ``hosts``, ``fault_tolerance`` and
``resources.storage_mb_max``.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidDefinition

MAX_NAME_BYTES = 100
MAX_TAGS = 50
MAX_TAG_CHARS = 50
MAX_DESCRIPTION_CHARS = 300
_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_TAG = re.compile(r"[a-zA-Z0-9 ._/|\\:=-]+")

PROFILES = ("dev", "unoptimized", "optimized", "optimized_symbols")
FT_MODELS = ("at_least_once", "exactly_once", "none")

# runtime_config fields Sluice reads or reports, and the JSON types each accepts (None: null allowed).
_RUNTIME_TYPES: dict[str, tuple] = {
    "workers": (int,), "storage": (dict, bool, type(None)), "fault_tolerance": (dict, type(None)),
    "cpu_profiler": (bool,), "tracing": (bool,), "tracing_endpoint_jaeger": (str,),
    "min_batch_size_records": (int,), "max_buffering_delay_usecs": (int,), "resources": (dict,),
    "clock_resolution_usecs": (int, type(None)), "pin_cpus": (list,), "provisioning_timeout_secs": (int, type(None)),
    "max_parallel_connector_init": (int, type(None)), "checkpoint_during_suspend": (bool,), "dev_tweaks": (dict,),
}
# What Feldera assumes for a restricted setting that is absent (a single host).
_DEFAULT_WHILE_IN_USE = {"hosts": 1}
_RESOURCE_COUNTS = ("cpu_cores_min", "cpu_cores_max", "memory_mb_min", "memory_mb_max", "storage_mb_min",
                    "storage_mb_max")
_RESOURCE_TEXTS = ("storage_class", "volume_attributes_class", "namespace", "memory_min", "memory_max",
                   "storage_min", "storage_max")
# Environment variables Feldera keeps for itself (``crates/pipeline-manager/src/pipeline_env.rs``).
_ENV_RESERVED = ("HOSTNAME", "RUST_LOG", "TOKIO_WORKER_THREADS")
_ENV_RESERVED_PREFIXES = ("FELDERA_", "KUBERNETES_", "TOKIO_")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or name == "":
        raise InvalidDefinition("EmptyName", "Name cannot be empty", {"name": name})
    length = len(name.encode())
    if length > MAX_NAME_BYTES:
        raise InvalidDefinition("TooLongName", f"Name '{name}' is longer ({length}) than maximum allowed "
                                f"({MAX_NAME_BYTES})", {"name": name, "length": length, "maximum": MAX_NAME_BYTES})
    if not _NAME.fullmatch(name):
        raise InvalidDefinition("NameDoesNotMatchPattern",
                                f"Name '{name}' contains characters which are not lowercase (a-z), uppercase (A-Z), "
                                "numbers (0-9), underscores (_) or hyphens (-)", {"name": name})
    return name


def check_description(description: Any) -> str:
    if not isinstance(description, str):
        raise InvalidDefinition("InvalidParam", "'description' must be a string", {"field": "description"})
    n = len(description)
    if n > MAX_DESCRIPTION_CHARS:
        raise InvalidDefinition("TooLongDescription", f"Description is {n} characters long, but the maximum is "
                                f"{MAX_DESCRIPTION_CHARS}", {"length": n, "maximum": MAX_DESCRIPTION_CHARS})
    return description


def check_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidDefinition("InvalidParam", "'tags' must be a list of strings", {"field": "tags"})
    if len(tags) > MAX_TAGS:
        raise InvalidDefinition("TooManyTags", f"A pipeline may carry at most {MAX_TAGS} tags, not {len(tags)}",
                                {"count": len(tags), "maximum": MAX_TAGS})
    for tag in tags:
        if tag == "":
            reason = "it cannot be empty"
        elif len(tag) > MAX_TAG_CHARS:
            reason = f"it is {len(tag)} characters long, but the maximum is {MAX_TAG_CHARS}"
        elif not _TAG.fullmatch(tag):
            reason = ("it may contain only ASCII letters (a-z, A-Z), numbers (0-9), or one of space, "
                      "'.', '_', '/', '|', '\\', ':', '=' and '-'")
        else:
            continue
        raise InvalidDefinition("InvalidTag", f"Tag '{tag}' is not valid: {reason}", {"tag": tag, "reason": reason})
    return list(tags)


def _bad_runtime(field: str, why: str, value: Any) -> InvalidDefinition:
    return InvalidDefinition("InvalidRuntimeConfig", f"'runtime_config.{field}' is not valid: {why}",
                             {"field": f"runtime_config.{field}", "value": value})


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_runtime_config(rc: Any) -> dict:
    if not isinstance(rc, dict):
        raise InvalidDefinition("InvalidRuntimeConfig", "'runtime_config' must be an object", {"value": rc})
    for key, kinds in _RUNTIME_TYPES.items():
        if key not in rc:
            continue
        v = rc[key]
        if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds):
            raise _bad_runtime(key, "wrong type", v)
        if int in kinds and v is not None and not _count(v):
            raise _bad_runtime(key, "must be a non-negative integer", v)
    if "workers" in rc and not 1 <= rc["workers"] <= 65535:
        raise _bad_runtime("workers", "must be between 1 and 65535", rc["workers"])
    for key, v in (rc.get("resources") or {}).items():
        if key in _RESOURCE_COUNTS and v is not None and not (_count(v) or (isinstance(v, float) and v >= 0)):
            raise _bad_runtime(f"resources.{key}", "must be a non-negative number or null", v)
        if key in _RESOURCE_TEXTS and v is not None and not isinstance(v, str):
            raise _bad_runtime(f"resources.{key}", "must be a string or null", v)
    env = rc.get("env")
    if env is not None:
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise _bad_runtime("env", "must be an object of strings", env)
        reserved = sorted(k for k in env if k in _ENV_RESERVED or k.startswith(_ENV_RESERVED_PREFIXES))
        if reserved:
            raise _bad_runtime("env", "the following environment variable(s) are reserved and cannot be "
                               f"overridden: {', '.join(reserved)}", reserved)
    ft = rc.get("fault_tolerance")
    if isinstance(ft, dict):
        model = ft.get("model", "exactly_once")
        if model is not None and model not in FT_MODELS:  # null, like "none", turns fault tolerance off
            raise _bad_runtime("fault_tolerance.model", f"must be one of {', '.join(FT_MODELS)} (or null)", model)
        secs = ft.get("checkpoint_interval_secs")
        if secs is not None and not _count(secs):
            raise _bad_runtime("fault_tolerance.checkpoint_interval_secs", "must be a non-negative integer", secs)
    return rc


def check_program_config(pc: Any) -> dict:
    if not isinstance(pc, dict):
        raise InvalidDefinition("InvalidProgramConfig", "'program_config' must be an object", {"value": pc})
    if pc.get("profile") is not None and pc["profile"] not in PROFILES:
        raise InvalidDefinition("InvalidProgramConfig", f"'program_config.profile' must be one of {', '.join(PROFILES)}, "
                                f"not {pc['profile']!r}", {"field": "program_config.profile", "value": pc["profile"]})
    if "cache" in pc and not isinstance(pc["cache"], bool):
        raise InvalidDefinition("InvalidProgramConfig", "'program_config.cache' must be true or false",
                                {"field": "program_config.cache", "value": pc["cache"]})
    if pc.get("runtime_version") is not None and not isinstance(pc["runtime_version"], str):
        raise InvalidDefinition("InvalidProgramConfig", "'program_config.runtime_version' must be a string",
                                {"field": "program_config.runtime_version", "value": pc["runtime_version"]})
    return pc


def check_body(body: dict, *, full: bool, named: bool = False) -> dict:
    """The definition fields of a POST/PUT (``full``) or PATCH body, checked; absent ones are left out.
    ``named``: the body must name the pipeline (POST; a PUT's URL names it)."""
    if full:
        for field in ("name", "program_code") if named else ("program_code",):
            if field not in body:
                raise InvalidDefinition("MissingField", f"the request body needs the field '{field}'",
                                        {"field": field})
    out: dict = {}
    for key in ("program_code", "udf_rust", "udf_toml"):
        if body.get(key) is not None:
            if not isinstance(body[key], str):
                raise InvalidDefinition("InvalidParam", f"'{key}' must be a string", {"field": key})
            out[key] = body[key]
    checks = {"description": check_description, "tags": check_tags, "runtime_config": check_runtime_config,
              "program_config": check_program_config}
    for key, check in checks.items():
        if body.get(key) is not None:
            out[key] = check(body[key])
    return out


def restricted_changes(old: dict, new: dict) -> list[str]:
    """The runtime settings ``new`` changes that cannot change while storage is in use, named as Feldera
    names them (its ``update_pipeline``: the worker and host counts and fault tolerance shape the stored
    state, and the storage size must keep holding it; other resources, such as CPU or the namespace, may
    change)."""
    out = [f"`runtime_config.{key}`" for key in ("workers", "hosts", "fault_tolerance")
           if old.get(key, _DEFAULT_WHILE_IN_USE.get(key)) != new.get(key, _DEFAULT_WHILE_IN_USE.get(key))]
    if (old.get("resources") or {}).get("storage_mb_max") != (new.get("resources") or {}).get("storage_mb_max"):
        out.append("`runtime_config.resources.storage_mb_max`")
    return out


__all__ = ["check_body", "check_name", "restricted_changes", "MAX_NAME_BYTES", "MAX_TAGS", "MAX_TAG_CHARS",
           "MAX_DESCRIPTION_CHARS"]
