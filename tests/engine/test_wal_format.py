"""Each recovery rule of the write-ahead log format (webapp/engine/WAL.md), by damaging files at exact offsets."""

from __future__ import annotations

import struct

import orjson
import pytest

from webapp.engine.wal import (
    REC_HDR, SEG_HDR_SIZE, T_BATCH, Wal, WalCorruption, encode_record, encode_segment_header, scan,
    truncate_to_clean_prefix,
)


def write_log(wal_dir, n: int, payload_size: int = 40) -> list[int]:
    """Append ``n`` records through the real writer; returns each record's start offset in the segment."""
    wal = Wal(wal_dir, 0)
    tickets = [wal.append(T_BATCH, orjson.dumps({"i": i, "pad": "x" * payload_size}), 1) for i in range(n)]
    for t in tickets:
        t.wait(10)
    wal.close()
    (seg,) = list(wal_dir.glob("*.wal"))
    buf = seg.read_bytes()
    offsets, off = [], SEG_HDR_SIZE
    while off < len(buf):
        offsets.append(off)
        length = struct.unpack_from("<I", buf, off + 4)[0]
        off += REC_HDR.size + length
    assert len(offsets) == n
    return offsets


def seg(wal_dir):
    return next(wal_dir.glob("*.wal"))


def test_clean_log_reads_every_record(tmp_path):
    write_log(tmp_path, 5)
    res = scan(tmp_path)
    assert [e.seq for e in res.entries] == [1, 2, 3, 4, 5]
    assert [orjson.loads(e.payload)["i"] for e in res.entries] == [0, 1, 2, 3, 4]
    assert res.torn is None


def test_empty_log(tmp_path):
    assert scan(tmp_path).entries == []
    # a segment holding only its header is empty too
    (tmp_path / f"{1:020d}.wal").write_bytes(encode_segment_header(1))
    res = scan(tmp_path)
    assert res.entries == [] and res.torn is None and res.last_seq == 0


def test_torn_tail_is_the_end_of_the_log(tmp_path):
    offs = write_log(tmp_path, 5)
    p = seg(tmp_path)
    data = p.read_bytes()
    p.write_bytes(data[: offs[4] + 10])  # the last record stops half-way
    res = scan(tmp_path)
    assert [e.seq for e in res.entries] == [1, 2, 3, 4]
    assert res.torn == (p, offs[4])


def test_garbage_after_the_last_record_is_the_end_of_the_log(tmp_path):
    write_log(tmp_path, 3)
    p = seg(tmp_path)
    size = p.stat().st_size
    p.write_bytes(p.read_bytes() + b"\x52\x57\x4c\x53" + b"\xff" * 100)  # even a record magic, then junk
    res = scan(tmp_path)
    assert [e.seq for e in res.entries] == [1, 2, 3]
    assert res.torn == (p, size)


def test_bad_checksum_before_the_end_is_corruption(tmp_path):
    offs = write_log(tmp_path, 5)
    p = seg(tmp_path)
    data = bytearray(p.read_bytes())
    data[offs[2] + REC_HDR.size + 5] ^= 0xFF  # one payload byte of record #3
    p.write_bytes(bytes(data))
    with pytest.raises(WalCorruption) as ei:
        scan(tmp_path)
    assert ei.value.path == p and ei.value.offset == offs[2] and ei.value.last_good_seq == 2
    assert "sluice wal recover" in str(ei.value)


def test_corrupted_length_in_the_middle_cannot_pass_for_a_torn_tail(tmp_path):
    offs = write_log(tmp_path, 5)
    p = seg(tmp_path)
    data = bytearray(p.read_bytes())
    struct.pack_into("<I", data, offs[1] + 4, 10**6)  # record #2 claims to run past the end of the file
    p.write_bytes(bytes(data))
    with pytest.raises(WalCorruption) as ei:
        scan(tmp_path)
    assert ei.value.offset == offs[1]


def test_gap_in_sequence_numbers_is_corruption(tmp_path):
    p = tmp_path / f"{1:020d}.wal"
    recs = [encode_record(s, T_BATCH, 1, b"{}") for s in (1, 2, 4)]
    p.write_bytes(encode_segment_header(1) + b"".join(recs))
    with pytest.raises(WalCorruption) as ei:
        scan(tmp_path)
    assert "gap" in ei.value.reason and ei.value.offset == SEG_HDR_SIZE + 2 * len(recs[0])


def test_damage_in_a_segment_that_is_not_the_last_is_corruption(tmp_path):
    a = tmp_path / f"{1:020d}.wal"
    b = tmp_path / f"{3:020d}.wal"
    a.write_bytes(encode_segment_header(1) + encode_record(1, T_BATCH, 1, b"{}") + encode_record(2, T_BATCH, 1, b"{}")[:9])
    b.write_bytes(encode_segment_header(3) + encode_record(3, T_BATCH, 1, b"{}"))
    with pytest.raises(WalCorruption):
        scan(tmp_path)


def test_recover_keeps_the_clean_prefix_and_says_what_was_cut(tmp_path):
    offs = write_log(tmp_path, 6)
    p = seg(tmp_path)
    data = bytearray(p.read_bytes())
    data[offs[3] + REC_HDR.size] ^= 0x01  # damage record #4: #5 and #6 are intact but after it
    p.write_bytes(bytes(data))
    report = truncate_to_clean_prefix(tmp_path)
    assert report["kept_last_seq"] == 3
    assert report["cut_at"] == {"file": str(p), "offset": offs[3]}
    assert report["dropped_records_found"] == 2  # #5 and #6, stated exactly
    res = scan(tmp_path)
    assert [e.seq for e in res.entries] == [1, 2, 3] and res.torn is None


def test_writer_continues_numbering_in_a_new_segment(tmp_path):
    write_log(tmp_path, 3)
    wal = Wal(tmp_path, 3)
    wal.append(T_BATCH, b"{}", 1).wait(10)
    wal.close()
    assert len(list(tmp_path.glob("*.wal"))) == 2
    assert [e.seq for e in scan(tmp_path).entries] == [1, 2, 3, 4]


def test_group_commit_shares_fsyncs(tmp_path):
    import threading
    wal = Wal(tmp_path, 0)
    tickets = []
    lock = threading.Lock()

    def writer(k):
        for i in range(50):
            t = wal.append(T_BATCH, orjson.dumps({"w": k, "i": i}), 1)
            with lock:
                tickets.append(t)
            t.wait(10)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fsyncs = len(wal.fsync_times)
    wal.close()
    assert len(scan(tmp_path).entries) == 400
    assert fsyncs < 400  # concurrent writers were acknowledged by shared fsyncs


def test_a_segment_left_with_only_its_header_is_started_again_not_appended_to(tmp_path):
    # What a process killed between creating a segment and writing its first record leaves; the
    # next process, with no record before, begins a segment of the same name.
    (tmp_path / f"{1:020d}.wal").write_bytes(encode_segment_header(1))
    wal = Wal(tmp_path, 0)
    wal.append(T_BATCH, b'{"a": 1}', 1).wait(10)
    wal.close()
    res = scan(tmp_path)
    assert [e.seq for e in res.entries] == [1] and res.torn is None
