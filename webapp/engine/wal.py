"""The write-ahead log: segments of checksummed, numbered records, written with group commit.

The format and its recovery rules are in ``WAL.md`` beside this file. ``Wal.append`` queues a record
and returns a ``Ticket``; one flusher thread writes everything queued with a single ``write`` and a
single ``fsync`` and then, in log order, runs each record's ``on_durable`` callback and wakes its
waiter. A failed write or fsync fails every record of that flush, abandons the segment (its file
descriptor is never trusted again) and writes an *abort* record for their sequence numbers at the
start of a new segment.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import fsio

log = logging.getLogger("sluice.wal")

SEG_MAGIC = b"SLUICEWL"
SEG_VERSION = 1
SEG_HDR = struct.Struct("<8sHHQQ")  # magic, version, reserved, first_seq, created_ms (28 bytes) + crc32
SEG_HDR_SIZE = SEG_HDR.size + 4
REC_MAGIC = 0x534C5752
REC_HDR = struct.Struct("<IIQIB3xI")  # magic, length, seq, count, type, crc32 (28 bytes)
REC_MAGIC_BYTES = struct.pack("<I", REC_MAGIC)
T_BATCH, T_ABORT = 1, 2
SEGMENT_BYTES = 64 << 20
MAX_RECORD = 1 << 31


class WalCorruption(Exception):
    """Raised when the log is damaged before its end: acknowledged records would be lost."""

    def __init__(self, path: Path, offset: int, reason: str, last_good_seq: int):
        super().__init__(f"write-ahead log {path} is damaged at byte {offset}: {reason}. Acknowledged data may "
                         f"follow it, so the engine will not start. To keep the clean prefix (records up to "
                         f"#{last_good_seq}) and drop the rest, run: sluice wal recover --data-dir <DIR>")
        self.path, self.offset, self.reason, self.last_good_seq = path, offset, reason, last_good_seq


class WalUnavailable(Exception):
    """Raised to a writer whose record could not be made durable (disk full, I/O error, permissions)."""


@dataclass
class Entry:
    seq: int
    type: int
    count: int
    payload: bytes


def _crc(hdr_tail: bytes, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(hdr_tail)) & 0xFFFFFFFF


def encode_record(seq: int, rtype: int, count: int, payload: bytes) -> bytes:
    head = struct.pack("<IQIB3x", len(payload), seq, count, rtype)
    crc = _crc(head, payload)
    return REC_HDR.pack(REC_MAGIC, len(payload), seq, count, rtype, crc) + payload


def encode_segment_header(first_seq: int) -> bytes:
    h = SEG_HDR.pack(SEG_MAGIC, SEG_VERSION, 0, first_seq, int(time.time() * 1000))
    return h + struct.pack("<I", zlib.crc32(h) & 0xFFFFFFFF)


def _parse_record(buf: bytes, off: int) -> tuple[Entry, int] | None:
    """The valid record at ``off`` and the offset after it, or None."""
    if off + REC_HDR.size > len(buf):
        return None
    magic, length, seq, count, rtype, crc = REC_HDR.unpack_from(buf, off)
    if magic != REC_MAGIC or length > MAX_RECORD or off + REC_HDR.size + length > len(buf):
        return None
    payload = bytes(buf[off + REC_HDR.size: off + REC_HDR.size + length])
    if _crc(bytes(buf[off + 4: off + 24]), payload) != crc or rtype not in (T_BATCH, T_ABORT):
        return None
    return Entry(seq, rtype, count, payload), off + REC_HDR.size + length


def _valid_record_after(buf: bytes, start: int) -> int | None:
    i = buf.find(REC_MAGIC_BYTES, start)
    while i >= 0:
        if _parse_record(buf, i) is not None:
            return i
        i = buf.find(REC_MAGIC_BYTES, i + 1)
    return None


def segments(wal_dir: Path) -> list[Path]:
    return sorted(wal_dir.glob("*.wal"))


@dataclass
class ScanResult:
    entries: list[Entry]
    last_seq: int
    aborted: set[int]
    torn: tuple[Path, int] | None  # where a torn tail starts, if any


def scan(wal_dir: Path, *, stop_at_damage: bool = False) -> ScanResult:
    """Read every record; raises WalCorruption per the rules in WAL.md (unless ``stop_at_damage``)."""
    segs = segments(wal_dir)
    entries: list[Entry] = []
    aborted: set[int] = set()
    last_seq = 0
    torn = None
    for si, path in enumerate(segs):
        buf = path.read_bytes()
        is_last = si == len(segs) - 1
        if len(buf) < SEG_HDR_SIZE or buf[:8] != SEG_MAGIC or \
                struct.unpack_from("<I", buf, SEG_HDR.size)[0] != zlib.crc32(buf[:SEG_HDR.size]) & 0xFFFFFFFF:
            if is_last and _valid_record_after(buf, 0) is None:
                torn = (path, 0)
                break
            if stop_at_damage:
                torn = (path, 0)
                break
            raise WalCorruption(path, 0, "bad segment header", last_seq)
        off = SEG_HDR_SIZE
        while off < len(buf):
            rec = _parse_record(buf, off)
            if rec is not None:
                e, nxt = rec
                if last_seq and e.seq != last_seq + 1:
                    covered = e.type == T_ABORT and _abort_range(e)[0] <= last_seq + 1
                    if not covered:
                        if stop_at_damage:
                            torn = (path, off)
                            return ScanResult(entries, last_seq, aborted, torn)
                        raise WalCorruption(path, off, f"sequence gap: record #{e.seq} follows #{last_seq}", last_seq)
                entries.append(e)
                last_seq = e.seq
                if e.type == T_ABORT:
                    lo, hi = _abort_range(e)
                    aborted.update(range(lo, hi + 1))
                    last_seq = max(last_seq, hi)
                off = nxt
                continue
            # A damaged record: torn tail or corruption?
            later = _valid_record_after(buf, off + 1)
            if later is None and (is_last or _next_segment_aborts(segs, si, last_seq)):
                if is_last:
                    torn = (path, off)
                break
            if stop_at_damage:
                torn = (path, off)
                return ScanResult(entries, last_seq, aborted, torn)
            reason = "bad record (checksum, length or magic) followed by valid records" if later is not None \
                else "damaged record in a segment that is not the last"
            raise WalCorruption(path, off, reason, last_seq)
        if torn:
            break
    return ScanResult(entries, last_seq, aborted, torn)


def _abort_range(e: Entry) -> tuple[int, int]:
    import orjson
    d = orjson.loads(e.payload)
    return int(d["from"]), int(d["to"])


def _next_segment_aborts(segs: list[Path], si: int, last_seq: int) -> bool:
    """A segment abandoned after a failed fsync ends in damage; the next one starts with an abort record."""
    if si + 1 >= len(segs):
        return False
    buf = segs[si + 1].read_bytes()
    rec = _parse_record(buf, SEG_HDR_SIZE) if len(buf) >= SEG_HDR_SIZE else None
    return rec is not None and rec[0].type == T_ABORT and _abort_range(rec[0])[0] <= last_seq + 1


def truncate_to_clean_prefix(wal_dir: Path) -> dict:
    """Cut the log at its first damaged record; returns what was kept and what was dropped."""
    res = scan(wal_dir, stop_at_damage=True)
    report = {"kept_last_seq": res.last_seq, "cut_at": None, "dropped_segments": [], "dropped_bytes": 0,
              "dropped_records_found": 0}
    if res.torn is None:
        return report
    path, off = res.torn
    report["cut_at"] = {"file": str(path), "offset": off}
    segs = segments(wal_dir)
    idx = segs.index(path)
    buf = path.read_bytes()
    # count valid records we are about to drop, so the loss is stated exactly
    dropped = 0
    for p in segs[idx:]:
        b = buf if p == path else p.read_bytes()
        i = off if p == path else 0
        while True:
            j = _valid_record_after(b, i)
            if j is None:
                break
            dropped += 1
            i = j + 1
    report["dropped_records_found"] = dropped
    report["dropped_bytes"] = len(buf) - off + sum(p.stat().st_size for p in segs[idx + 1:])
    if off <= SEG_HDR_SIZE:
        path.unlink()
        report["dropped_segments"].append(str(path))
    else:
        with open(path, "r+b") as f:
            f.truncate(off)
            f.flush()
            import os
            os.fsync(f.fileno())
    for p in segs[idx + 1:]:
        p.unlink()
        report["dropped_segments"].append(str(p))
    return report


class Ticket:
    __slots__ = ("seq", "event", "error")

    def __init__(self, seq: int):
        self.seq = seq
        self.event = threading.Event()
        self.error: str | None = None

    def wait(self, timeout: float | None = None) -> None:
        if not self.event.wait(timeout):
            raise WalUnavailable("the write-ahead log did not answer in time")
        if self.error:
            raise WalUnavailable(self.error)


class Wal:
    """The appending side. One per engine; records of every pipeline share it."""

    def __init__(self, wal_dir: Path, last_seq: int, *, segment_bytes: int = SEGMENT_BYTES):
        self.dir = wal_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.cv = threading.Condition()
        self.last_seq = last_seq
        self.durable_seq = last_seq
        self._pending: list[tuple[int, bytes, Callable[[], None] | None, Ticket]] = []
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._rotate_requested = False
        self._closing = False
        self.failures = 0
        self.last_error: str | None = None
        self.fsync_times: list[float] = []
        self._thread = threading.Thread(target=self._flusher, name="wal-flusher", daemon=True)
        self._thread.start()

    # -- writer API ----------------------------------------------------------------------------
    def append(self, rtype: int, payload: bytes, count: int, on_durable: Callable[[], None] | None = None) -> Ticket:
        """Queue a record; its ``on_durable`` runs on the flusher thread, in log order, once fsynced."""
        with self.cv:
            if self._closing:
                raise WalUnavailable("the engine is shutting down")
            self.last_seq += 1
            seq = self.last_seq
            t = Ticket(seq)
            self._pending.append((seq, encode_record(seq, rtype, count, payload), on_durable, t))
            self.cv.notify_all()
            return t

    def rotate(self) -> None:
        """Start a new segment at the next flush (after a checkpoint, so old ones can be dropped)."""
        with self.cv:
            self._rotate_requested = True

    def delete_segments_upto(self, seq: int) -> list[Path]:
        """Delete closed segments whose records all have sequence numbers <= ``seq``."""
        with self.cv:
            current = self._path
        segs = segments(self.dir)
        removed = []
        for i, p in enumerate(segs[:-1]):
            if p == current:
                break
            next_first = int(segs[i + 1].stem)
            if next_first - 1 <= seq:
                p.unlink()
                removed.append(p)
        if removed:
            fsio.fsync_dir(self.dir)
        return removed

    def close(self) -> None:
        with self.cv:
            self._closing = True
            self.cv.notify_all()
        self._thread.join(timeout=10)
        if self._fd is not None:
            fsio.close(self._fd)
            self._fd = None

    # -- flusher -------------------------------------------------------------------------------
    def _open_segment(self, first_seq: int) -> None:
        path = self.dir / f"{first_seq:020d}.wal"
        # Emptied if it exists: a process killed after writing a segment's header and before its
        # first record leaves the file holding just that (start-up cuts a torn record off), and the
        # next one, numbering on from the same record, opens the same name; appending would put a
        # second header where the scan expects a record, and the log would no longer open. No
        # record it could hold was acknowledged: start-up read every valid one, and this segment
        # begins after the last of them.
        fd = fsio.open_new(path)
        try:
            fsio.write_all(fd, encode_segment_header(first_seq), path)
            fsio.fsync(fd, path)
            fsio.fsync_dir(self.dir)
        except OSError:
            fsio.close(fd)
            try:
                path.unlink()
            except OSError:
                pass
            raise
        self._fd, self._path, self._size = fd, path, SEG_HDR_SIZE
        self._rotate_requested = False

    def _flusher(self) -> None:
        aborted: list[int] = []  # sequence numbers written to an abandoned segment, not yet covered by an abort
        while True:
            with self.cv:
                while not self._pending and not self._closing:
                    self.cv.wait()
                if not self._pending and self._closing:
                    return
                batch, self._pending = self._pending, []
            try:
                if self._fd is None or self._rotate_requested or self._size > self.segment_bytes:
                    if self._fd is not None:
                        fsio.close(self._fd)
                        self._fd = None
                    self._open_segment(batch[0][0] if not aborted else aborted[0])
                    if aborted:
                        self._write_abort(aborted[0], batch[0][0] - 1)
                        aborted = []
                elif aborted:  # pragma: no cover - a failure always drops the descriptor
                    raise OSError("unreachable")
                data = b"".join(rec for _, rec, _, _ in batch)
                fsio.write_all(self._fd, data, self._path)
                self._size += len(data)
                t0 = time.perf_counter()
                fsio.fsync(self._fd, self._path)
                self.fsync_times.append(time.perf_counter() - t0)
                if len(self.fsync_times) > 1000:
                    del self.fsync_times[:500]
            except OSError as e:
                self.failures += 1
                self.last_error = f"{e.strerror or e} ({e.filename or self.dir})"
                log.error("write-ahead log write failed: %s; %d records not acknowledged", self.last_error, len(batch))
                if self._fd is not None:
                    fsio.close(self._fd)  # never trust this descriptor again
                    self._fd = None
                    if self._size <= SEG_HDR_SIZE and self._path is not None:
                        # nothing of this segment was ever acknowledged: remove it, so that the
                        # abandoned segment before it is followed by the abort record, not by damage
                        try:
                            self._path.unlink()
                        except OSError:
                            pass
                if not aborted:
                    aborted = [batch[0][0]]
                for _, _, _, t in batch:
                    t.error = f"could not make the input durable: {self.last_error}"
                    t.event.set()
                continue
            with self.cv:
                self.durable_seq = batch[-1][0]
            for _, _, cb, t in batch:
                if cb is not None:
                    try:
                        cb()
                    except Exception:
                        log.exception("on_durable callback failed")
                t.event.set()

    def _write_abort(self, lo: int, hi: int) -> None:
        """Record that ``lo..hi`` were never acknowledged. The record takes number ``lo`` itself: the
        numbers after ``hi`` are already handed out, and a reader continues after ``hi``."""
        import orjson
        rec = encode_record(lo, T_ABORT, 0, orjson.dumps({"from": lo, "to": hi}))
        fsio.write_all(self._fd, rec, self._path)
        fsio.fsync(self._fd, self._path)
        self._size += len(rec)


__all__ = ["Wal", "Ticket", "WalCorruption", "WalUnavailable", "scan", "truncate_to_clean_prefix", "Entry",
           "T_BATCH", "T_ABORT"]
