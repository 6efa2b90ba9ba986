"""Egress over real HTTP: JSON and CSV change streams (POST and GET), snapshot + changes, keepalive,
and slow readers with backpressure on and off (a raw socket with a tiny receive buffer that stops reading)."""

from __future__ import annotations

import orjson
import pytest
from sluice_support import (
    assert_error,
    completion,
    data_events,
    push,
    stats_outputs,
    wait_until,
)

SQL = """
CREATE TABLE t (id INT, v VARCHAR, n INT);
CREATE MATERIALIZED VIEW big AS SELECT id, v FROM t WHERE n > 10;
CREATE MATERIALIZED VIEW totals AS SELECT v, COUNT(*) AS c, MAX(n) AS m FROM t GROUP BY v;
"""

WIDE = """
CREATE TABLE w (id INT, s VARCHAR);
CREATE VIEW wv AS SELECT * FROM w;
"""


def _done(http, name, token, timeout=15.0) -> dict:
    return wait_until(lambda: (c := completion(http, name, token))["status"] == "complete" and c,
                      timeout, what=f"token {token} to complete")


def _check_seq(chunks):
    seqs = [c["sequence_number"] for c in chunks]
    assert seqs == list(range(len(seqs))), seqs


def _check_chunk_shape(c):
    assert isinstance(c["sequence_number"], int) and isinstance(c["snapshot"], bool), c
    assert sum(k in c for k in ("json_data", "text_data", "bin_data")) <= 1, c


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_json_changes(http, make_pipeline, egress, method):
    name = make_pipeline(SQL)
    rd = egress(name, "big", method=method, format="json")
    assert rd.status == 200
    assert rd.headers["content-type"].split(";")[0] == "application/json"
    _done(http, name, push(http, name, "t", [{"insert": {"id": 1, "v": "a", "n": 50}},
                                             {"insert": {"id": 2, "v": "b", "n": 5}},
                                             {"insert": {"id": 3, "v": "c", "n": 11}}], array="true"))
    ev = rd.wait_events(2)
    assert sorted(ev, key=lambda e: e[1]["id"]) == [("insert", {"id": 1, "v": "a"}), ("insert", {"id": 3, "v": "c"})]
    _done(http, name, push(http, name, "t", [{"delete": {"id": 1, "v": "a", "n": 50}},
                                             {"insert": {"id": 4, "v": "d", "n": 99}}], array="true"))
    ev = rd.wait_events(4)
    assert ev[2:] == [("delete", {"id": 1, "v": "a"}), ("insert", {"id": 4, "v": "d"})]
    for c in rd.chunks:
        _check_chunk_shape(c)
        assert c["snapshot"] is False
        assert "text_data" not in c
    _check_seq(rd.chunks)
    # every chunk is one line ending in CRLF (checked on the raw lines the reader split)
    assert all(orjson.loads(line) for line in rd.raw_lines)


def test_aggregate_update_is_delete_then_insert(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "totals")
    _done(http, name, push(http, name, "t", [{"insert": {"id": 1, "v": "a", "n": 1}}], array="true"))
    assert rd.wait_events(1) == [("insert", {"v": "a", "c": 1, "m": 1})]
    _done(http, name, push(http, name, "t", [{"insert": {"id": 2, "v": "a", "n": 2}}], array="true"))
    ev = rd.wait_events(3)
    assert sorted(ev[1:], key=lambda e: e[0]) == [("delete", {"v": "a", "c": 1, "m": 1}),
                                                  ("insert", {"v": "a", "c": 2, "m": 2})]


def test_csv_changes(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "big", format="csv")
    assert rd.status == 200
    _done(http, name, push(http, name, "t", [{"insert": {"id": 1, "v": "x,y", "n": 50}}], array="true"))
    _done(http, name, push(http, name, "t", [{"delete": {"id": 1, "v": "x,y", "n": 50}}], array="true"))
    texts = rd.wait(lambda ch: (t := [c["text_data"] for c in ch if "text_data" in c]) and len(t) >= 2 and t,
                    what="two CSV chunks")
    assert texts[:2] == ['1,"x,y",1\n', '1,"x,y",-1\n']
    # NULL is an empty field, the empty string "" (as CSV ingress reads them back)
    _done(http, name, push(http, name, "t", [{"insert": {"id": 2, "v": None, "n": 60}},
                                              {"insert": {"id": 3, "v": "", "n": 70}}], array="true"))
    texts = rd.wait(lambda ch: (t := [c["text_data"] for c in ch if "text_data" in c]) and len(t) >= 3 and t,
                    what="a third CSV chunk")
    assert sorted(texts[2].splitlines()) == ['2,,1', '3,"",1']
    for c in rd.chunks:
        _check_chunk_shape(c)
        assert "json_data" not in c
    _check_seq(rd.chunks)


def test_default_egress_format_is_csv(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "big", format=None)
    _done(http, name, push(http, name, "t", [{"insert": {"id": 5, "v": "q", "n": 50}}], array="true"))
    texts = rd.wait(lambda ch: [c["text_data"] for c in ch if "text_data" in c], what="a CSV chunk")
    assert texts[0] == "5,q,1\n"


def test_only_changes_after_attach_without_snapshot(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    _done(http, name, push(http, name, "t", [{"insert": {"id": 1, "v": "old", "n": 50}}], array="true"))
    rd = egress(name, "big")
    _done(http, name, push(http, name, "t", [{"insert": {"id": 2, "v": "new", "n": 50}}], array="true"))
    assert rd.wait_events(1) == [("insert", {"id": 2, "v": "new"})]
    assert not any(c["snapshot"] for c in rd.chunks)


@pytest.mark.parametrize("initial", ["running", "paused"])
def test_snapshot_then_changes(http, make_pipeline, egress, initial):
    name = make_pipeline(SQL, initial=initial)
    rows = [{"insert": {"id": i, "v": f"r{i}", "n": 20 + i}} for i in range(5)] + \
        [{"insert": {"id": 100, "v": "small", "n": 1}}]
    _done(http, name, push(http, name, "t", rows, array="true", force="true"))
    rd = egress(name, "big", send_snapshot="true")
    snap = rd.wait_events(5, snapshot=True)
    assert sorted(r["id"] for k, r in snap) == [0, 1, 2, 3, 4]
    assert all(k == "insert" for k, _ in snap)
    _done(http, name, push(http, name, "t", [{"delete": {"id": 0, "v": "r0", "n": 20}},
                                             {"insert": {"id": 7, "v": "r7", "n": 70}}], array="true", force="true"))
    changes = rd.wait_events(2, snapshot=False)
    assert changes == [("delete", {"id": 0, "v": "r0"}), ("insert", {"id": 7, "v": "r7"})]
    # every snapshot chunk comes before every change chunk
    flags = [c["snapshot"] for c in rd.chunks if "json_data" in c]
    assert flags == sorted(flags, reverse=True) and flags[0] is True and flags[-1] is False
    _check_seq(rd.chunks)


def test_snapshot_of_empty_view(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "big", send_snapshot="true")
    _done(http, name, push(http, name, "t", [{"insert": {"id": 1, "v": "a", "n": 50}}], array="true"))
    assert rd.wait_events(1) == [("insert", {"id": 1, "v": "a"})]
    assert not any(c["snapshot"] and c.get("json_data") for c in rd.chunks)


def test_keepalive_on_idle_stream(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "big")
    n0 = len(rd.chunks)
    chunks = rd.wait(lambda ch: len(ch) > n0 and ch, timeout=10, what="a keepalive chunk")
    ka = chunks[n0]
    assert ka["sequence_number"] == n0
    assert ka["snapshot"] is False
    assert "json_data" not in ka and "text_data" not in ka and "bin_data" not in ka
    # the stream is still open and still delivers data afterwards
    _done(http, name, push(http, name, "t", [{"insert": {"id": 1, "v": "a", "n": 50}}], array="true"))
    assert rd.wait_events(1) == [("insert", {"id": 1, "v": "a"})]
    _check_seq(rd.chunks)


def test_stream_registered_in_stats(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "big")
    _done(http, name, push(http, name, "t", [{"insert": {"id": 1, "v": "a", "n": 50}}], array="true"))
    rd.wait_events(1)
    outs = stats_outputs(http, name, "big")
    assert len(outs) == 1
    assert outs[0]["endpoint_name"].startswith("big.api-")
    wait_until(lambda: stats_outputs(http, name, "big")[0]["metrics"]["transmitted_records"] == 1,
               what="transmitted_records == 1")


# -- slow readers ---------------------------------------------------------------------------------

BIG_ROWS = 8000      # rows of ~1 KB: ~8 MB in one chunk, more than the socket buffers hold
ROW_BYTES = 1000


def _fill_socket(http, name):
    """A step whose output (one ~8 MB chunk) the stuck reader can never take in, then a step deleting
    those rows again (one more chunk) so that later steps stay cheap."""
    rows = [{"id": i, "s": "x" * ROW_BYTES} for i in range(BIG_ROWS)]
    push(http, name, "w", b"\n".join(orjson.dumps(r) for r in rows), update_format="raw")
    return push(http, name, "w", b"\n".join(orjson.dumps({"delete": r}) for r in rows))


def _small(http, name, i):
    return push(http, name, "w", orjson.dumps({"id": 1_000_000 + i, "s": "small"}), update_format="raw")


def test_backpressure_on_slow_reader_stalls_pipeline(http, make_pipeline, raw_egress):
    name = make_pipeline(WIDE)
    rd = raw_egress(name, "wv", format="json", backpressure="true")
    assert rd.status == 200
    # The reader now reads nothing more. Fill its socket, then add one-chunk steps until one is held up
    # (a backpressure stream queues at most 4 chunks; then the step thread waits for the reader).
    _fill_socket(http, name)
    blocked_tok = None
    for i in range(12):
        tok = _small(http, name, i)

        def settled(tok=tok):
            if completion(http, name, tok)["status"] == "complete":
                return "complete"
            outs = stats_outputs(http, name, "wv")
            if outs and outs[0]["metrics"]["queued_batches"] >= 4:
                return "full"
            return None
        state = wait_until(settled, 10, what="the token to complete or the stream queue to fill")
        if state == "full" and completion(http, name, tok)["status"] == "inprogress":
            blocked_tok = tok
            break
    assert blocked_tok is not None, "the pipeline never waited for the stuck backpressure reader"
    # the stuck reader holds the pipeline back: later input is not processed either
    later = _small(http, name, 100)
    assert completion(http, name, later)["status"] == "inprogress"
    assert completion(http, name, blocked_tok)["status"] == "inprogress"

    # after the stall timeout (3 s) the stream is closed and the pipeline carries on
    _done(http, name, blocked_tok, timeout=20)
    _done(http, name, later, timeout=20)
    chunks = rd.read_to_end(timeout=30)  # the server ends the stream (whole chunks only are kept)
    seqs = [c["sequence_number"] for c in chunks]
    assert seqs == list(range(len(seqs))), "backpressure must never drop chunks"

    # /stats reports the stall on the stream's output endpoint
    r = http.get(f"/pipelines/{name}/stats")
    outs = [o for o in r.json()["outputs"] if o["config"]["stream"] == "wv"]
    assert outs, f"/stats has no output entry for the stalled stream: {r.json()['outputs']}"
    assert outs[0]["metrics"]["stalls"] >= 1, outs


def test_no_backpressure_drops_chunks_for_slow_reader(http, make_pipeline, raw_egress):
    name = make_pipeline(WIDE)
    rd = raw_egress(name, "wv", format="json", backpressure="false")
    assert rd.status == 200
    _done(http, name, _fill_socket(http, name))
    # Many one-chunk steps: the queue (100 chunks) overflows; the pipeline never waits for the reader.
    n_small = 115  # with the delete step: more one-chunk steps than the 100 chunks the queue holds
    for i in range(n_small):
        tok = _small(http, name, i)
        wait_until(lambda tok=tok: completion(http, name, tok)["status"] == "complete", 10, interval=0.002,
                   what="a token to complete while the reader is stuck")
    outs = stats_outputs(http, name, "wv")
    assert len(outs) == 1, outs
    m = outs[0]["metrics"]
    assert m["dropped_chunks"] > 0, m
    assert m.get("stalls", 0) == 0, m
    dropped = m["dropped_chunks"]

    # Now read: everything queued arrives; one more step shows how many sequence numbers were skipped.
    # chunks so far: the opening one, the big insert, the delete, n_small small ones; minus the dropped
    expected = 3 + n_small - dropped
    n_seen = len(rd.read_chunks_until(lambda ch: len(ch) >= expected, 60))
    assert n_seen == expected
    _done(http, name, _small(http, name, 999))
    chunks = rd.read_chunks_until(lambda ch: any(r["id"] == 1_000_999 for _, r in data_events(ch)), 30)
    assert len(chunks) > n_seen
    seqs = [c["sequence_number"] for c in chunks]
    assert seqs == sorted(set(seqs)), "sequence numbers must increase"
    missing = sorted(set(range(seqs[-1] + 1)) - set(seqs))
    assert missing, "a slow reader without backpressure must see gaps in sequence_number"
    assert len(missing) == dropped, (len(missing), dropped)
    ids = [r["id"] for _, r in data_events(chunks)]
    assert set(range(BIG_ROWS)) <= set(ids)  # the chunk in flight was delivered whole
    small_got = {i for i in ids if 1_000_000 <= i < 1_000_000 + n_small}
    assert 0 < len(small_got) < n_small
    assert len(small_got) == n_small - dropped
    outs = stats_outputs(http, name, "wv")
    assert outs[0]["metrics"]["dropped_chunks"] == dropped


def test_egress_errors(http, make_pipeline):
    name = make_pipeline(SQL)
    assert_error(http.post(f"/pipelines/{name}/egress/nope", params={"format": "json"}), 404, "UnknownOutputStream")
    assert_error(http.post(f"/pipelines/{name}/egress/big", params={"format": "xml"}), 400, "InvalidParam")
    assert_error(http.post(f"/pipelines/{name}/egress/big", params={"format": "json", "backpressure": "yes"}),
                 400, "InvalidParam")


def test_snapshot_of_floating_point_aggregate_after_many_steps(http, make_pipeline, egress):
    """A DOUBLE aggregate nothing else reads keeps its changes in memory between snapshots; a
    snapshot taken later holds exactly what a stream that watched every step holds."""
    name = make_pipeline("""
    CREATE TABLE f (id INT NOT NULL PRIMARY KEY, k INT, x DOUBLE);
    CREATE VIEW avgs AS SELECT k, AVG(x) AS a, SUM(x) AS s, COUNT(*) AS c FROM f GROUP BY k;
    """)
    watcher = egress(name, "avgs")
    for step in range(12):
        rows = [{"insert": {"id": i, "k": i % 4, "x": (i * 7 + step) / 3}} for i in range(step, step + 6)]
        rows += [{"delete": {"id": step - 1}}] if step else []
        _done(http, name, push(http, name, "f", rows, array="true"))
    # A last step of its own: once its change arrives, every earlier change has arrived too.
    _done(http, name, push(http, name, "f", [{"insert": {"id": 1000, "k": 99, "x": 0.5}}], array="true"))
    watcher.wait(lambda ch: any(r["k"] == 99 for _, r in data_events(ch)), what="the last step's change")
    held: dict[int, dict] = {}
    for kind, row in data_events(watcher.chunks):
        if kind == "insert":
            held[row["k"]] = row
        else:
            assert held.pop(row["k"]) == row, "a delete names the row the stream holds"
    assert len(held) == 5
    snap = egress(name, "avgs", send_snapshot="true").wait_events(5, snapshot=True)
    assert sorted((r["k"], r["a"], r["s"], r["c"]) for _, r in snap) == \
        sorted((r["k"], r["a"], r["s"], r["c"]) for r in held.values())
