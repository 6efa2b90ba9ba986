"""The write-ahead log's batch records, both ways: how an accepted batch is written (``batch_record``) and how
the log is replayed into the pipelines' tables when the engine starts (``replay``). The record layout is in
``WAL.md``; the framing (segments, checksums, fsync) is ``wal.py``'s.

Neither function imports the pipeline or the engine: callers hand over the values and objects they need, so
``pipeline.py`` (which writes records) and ``engine.py`` (which replays them) both depend on this module
without a circle through it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Iterable

import orjson

from .catalog import json_default
from .checkpoint import load_latest
from .connectors import record_progress
from .ingress import encode_ops, parse_body, parse_json_body
from .runtime import Batch, apply_batches
from .table import TableApplier
from .wal import T_BATCH, scan, truncate_to_clean_prefix

log = logging.getLogger("sluice.engine")

# Consecutive records for one table are applied together, up to this many at a time.
REPLAY_RUN = 200


def batch_record(pipeline_id: str, storage_epoch: int, table, batch, seq: int, key: str | None, answer,
                 raw: tuple[bytes, dict] | None, source: dict | None) -> bytes:
    """The payload of a batch record: a JSON head line, then the body as it came (``"f": "raw"``, when it
    parsed cleanly: its bytes and the parameters that parse it again) or as the operations kept from it
    (``"f": "ops"``). ``key``/``answer`` bring an idempotency key back; ``source`` is a connector's progress."""
    head = {"p": pipeline_id, "e": storage_epoch, "t": table.name, "s": seq, "k": key, "a": answer}
    if source is not None:
        head["c"] = source
    if raw is not None:
        head.update(f="raw", q=raw[1])
        tail = raw[0]
    else:
        head["f"] = "ops"
        tail = encode_ops(table, batch.ops)
    return orjson.dumps(head, default=json_default) + b"\n" + tail


def replay(wal_dir: Path, pipelines: Iterable, checkpoint_dir: Callable) -> int:
    """Tables from each pipeline's checkpoint, then every logged batch after it, exactly once; returns the
    log's last sequence number. Raises WalCorruption (refusing to start rather than lose acknowledged data);
    a torn tail, never acknowledged, is cut off."""
    t0 = time.perf_counter()
    wal_dir.mkdir(parents=True, exist_ok=True)
    res = scan(wal_dir)
    if res.torn is not None:
        path, off = res.torn
        log.warning("write-ahead log ends in an incomplete record at %s byte %d (never acknowledged); "
                    "cutting it off", path, off)
        truncate_to_clean_prefix(wal_dir)
    pipelines = list(pipelines)
    by_id = {p.id: p for p in pipelines}
    for p in pipelines:
        if p.storage_status == "InUse" and p.storage_program is not None:
            loaded = load_latest(checkpoint_dir(p))
            if loaded and loaded[0].get("epoch") != p.storage_epoch:
                loaded = None
            p.restore(*(loaded or (None, None)))
    replayed = 0
    pending: list = []  # consecutive ops for one (pipeline, table)
    cur_key = None

    def flush():
        nonlocal pending, cur_key
        if pending:
            p, table = cur_key
            apply_batches(p.db, TableApplier(table), pending, want_delta=False)
        pending, cur_key = [], None

    for e in res.entries:
        if e.type != T_BATCH or e.seq in res.aborted:
            continue
        head_raw, _, tail = e.payload.partition(b"\n")
        head = orjson.loads(head_raw)
        p = by_id.get(head["p"])
        if p is None or p.db is None or head["e"] != p.storage_epoch or e.seq <= p.ckpt_seq:
            continue
        table = p.storage_program.table(f'"{head["t"]}"')
        if table is None:
            continue
        if head["f"] == "raw":
            batch = parse_body(tail, table, head["q"])
        else:
            batch = parse_json_body(tail, table, update_format="insert_delete")
        if cur_key != (p, table) or len(pending) > REPLAY_RUN:
            flush()
            cur_key = (p, table)
        pending.append(Batch(0, table.name, batch._ops if batch.arrow is None else None, batch.num_records,
                             0, arrow=batch.arrow))
        replayed += batch.num_records
        p.applied_wal_seq = e.seq
        p.batch_seq = max(p.batch_seq, int(head.get("s", 0)))
        p.note_logged(e.seq)
        if head.get("c"):
            record_progress(p.conn_progress, head["c"])
        if head.get("k"):
            status, answer = head["a"]
            p.remember(head["k"], status, answer)
    flush()
    if res.entries:
        log.info("recovered %d logged records in %.2f s", replayed, time.perf_counter() - t0)
    return res.last_seq


__all__ = ["batch_record", "replay"]
