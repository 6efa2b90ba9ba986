"""Every file operation the durable state makes, in one place that tests can make fail.

``SLUICE_FAULTS=/path/rules.json`` names a JSON list of rules, read before each operation:
``{"op": "fsync" | "write" | "open" | "rename" | "any", "errno": "ENOSPC" | "EIO" | "EACCES",
"times": n (optional; omitted = until the file changes), "path": "substring" (optional)}``. A rule with
``times`` is used up as it fires (the count is kept in memory, per rule text).
"""

from __future__ import annotations

import errno as _errno
import os
from pathlib import Path

import orjson

_fired: dict[bytes, int] = {}


def _check(op: str, path: str | os.PathLike = "") -> None:
    rules_file = os.environ.get("SLUICE_FAULTS")
    if not rules_file:
        return
    try:
        raw = Path(rules_file).read_bytes()
        rules = orjson.loads(raw) if raw.strip() else []
    except (OSError, orjson.JSONDecodeError):
        return
    for rule in rules:
        if rule.get("op") not in (op, "any"):
            continue
        if rule.get("path") and rule["path"] not in str(path):
            continue
        key = orjson.dumps(rule, option=orjson.OPT_SORT_KEYS)
        if "times" in rule:
            if _fired.get(key, 0) >= int(rule["times"]):
                continue
            _fired[key] = _fired.get(key, 0) + 1
        code = getattr(_errno, rule.get("errno", "EIO"))
        raise OSError(code, f"{os.strerror(code)} (injected by SLUICE_FAULTS)", str(path))


def open_append(path: Path) -> int:
    _check("open", path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def open_new(path: Path) -> int:
    """Open ``path`` for writing from its start, emptied if it exists."""
    _check("open", path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def write_all(fd: int, data: bytes, path: Path | str = "") -> None:
    _check("write", path)
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def fsync(fd: int, path: Path | str = "") -> None:
    _check("fsync", path)
    os.fsync(fd)


def close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def fsync_dir(path: Path) -> None:
    _check("fsync", path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename(src: Path, dst: Path) -> None:
    _check("rename", dst)
    os.replace(src, dst)


def write_file_atomic(path: Path, data: bytes) -> None:
    """Temporary file, fsync, rename over ``path``, fsync of the directory."""
    tmp = path.with_name(path.name + ".tmp")
    _check("open", tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data, tmp)
        fsync(fd, tmp)
    finally:
        os.close(fd)
    rename(tmp, path)
    fsync_dir(path.parent)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        fsync(fd, path)
    finally:
        os.close(fd)


__all__ = ["open_append", "open_new", "write_all", "fsync", "close", "fsync_dir", "rename", "write_file_atomic", "fsync_file"]
