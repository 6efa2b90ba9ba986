"""Checkpoints: a pipeline's tables as Parquet plus a manifest, written atomically.

``checkpoints/<pipeline id>/ckpt-<seq:020d>/`` holds ``<n>.parquet`` per table (n = the table's position,
names may hold any character) and ``manifest.json``. It is written to ``.tmp-ckpt-<seq>``, every file and
the directory fsynced, then renamed; older checkpoints are removed afterwards. Writing uses pyarrow, not
DuckDB, whose connection has no file access.
"""

from __future__ import annotations

import shutil
import uuid
import zlib
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from . import fsio


def write_checkpoint(base: Path, seq: int, tables: dict[str, pa.Table], manifest: dict) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    final = base / f"ckpt-{seq:020d}"
    tmp = base / f".tmp-ckpt-{seq:020d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    names = []
    for i, (name, tbl) in enumerate(tables.items()):
        path = tmp / f"{i}.parquet"
        fsio._check("write", path)
        pq.write_table(tbl, path)
        fsio.fsync_file(path)
        names.append(name)
    man = dict(manifest, seq=seq, tables=names)
    mpath = tmp / "manifest.json"
    fd = fsio.open_append(mpath)
    try:
        fsio.write_all(fd, orjson.dumps(man), mpath)
        fsio.fsync(fd, mpath)
    finally:
        fsio.close(fd)
    fsio.fsync_dir(tmp)
    # The only complete checkpoint is never removed before its successor is in place: one of the same
    # seq is set aside first (load_latest reads a set-aside one if a crash comes between the renames).
    aside = base / f"old-ckpt-{seq:020d}"
    if final.exists():
        if aside.exists():
            shutil.rmtree(aside)
        fsio.rename(final, aside)
    fsio.rename(tmp, final)
    fsio.fsync_dir(base)
    for old in list(base.glob("ckpt-*")) + list(base.glob("old-ckpt-*")):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_latest(base: Path) -> tuple[dict, dict[str, pa.Table]] | None:
    """The newest complete checkpoint, or None."""
    if not base.exists():
        return None
    found = list(base.glob("ckpt-*")) + list(base.glob("old-ckpt-*"))
    for d in sorted(found, key=lambda d: (d.name.rsplit("-", 1)[1], d.name.startswith("ckpt-")), reverse=True):
        mpath = d / "manifest.json"
        if not mpath.exists():
            continue
        man = orjson.loads(mpath.read_bytes())
        tables = {name: pq.read_table(d / f"{i}.parquet") for i, name in enumerate(man["tables"])}
        return man, tables
    return None


def list_checkpoints(base: Path, pipeline_id: str, program_code: str) -> list[dict]:
    """The complete checkpoints on disk, oldest first, in Feldera's ``CheckpointMetadata`` shape (what
    ``GET .../checkpoints`` and ``storage_status_details.checkpoints`` list).

    ``uuid`` is derived from the pipeline, its storage epoch and the log position, so it names the same
    checkpoint across engine restarts; ``fingerprint`` is a CRC-32 of the program whose tables it holds;
    ``steps`` and ``processed_records`` are null: Sluice counts them per run, not across runs."""
    out = []
    for d in sorted(base.glob("ckpt-*")) if base.exists() else []:
        try:  # a checkpoint being replaced by a newer one may vanish while it is read
            man = orjson.loads((d / "manifest.json").read_bytes())
            size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
        except (OSError, orjson.JSONDecodeError):
            continue
        out.append({
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sluice:{pipeline_id}:{man.get('epoch')}:{man['seq']}")),
            "identifier": d.name,
            "fingerprint": zlib.crc32(program_code.encode()),
            "size": size,
            "steps": None,
            "processed_records": None,
        })
    return out


def remove_all(base: Path) -> None:
    if base.exists():
        shutil.rmtree(base, ignore_errors=True)


__all__ = ["write_checkpoint", "load_latest", "list_checkpoints", "remove_all"]
