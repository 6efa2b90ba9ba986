"""A real engine reports each view's maintenance strategy and unique keys in ``program_info``, and
an incremental view's changes reach an egress stream."""

from __future__ import annotations

import json
import time

import httpx

from webapp.engine.testing import query_rows, wait_processed, wait_until

PROGRAM = """
CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, k INT, v DOUBLE);
CREATE VIEW totals AS SELECT k, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k;
CREATE VIEW ranked AS SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS r FROM t;
CREATE LOCAL VIEW big AS SELECT id, k FROM t WHERE v > 1;
CREATE VIEW onbig AS SELECT big.id, totals.n FROM big JOIN totals ON big.k = totals.k;
"""


def test_program_info_reports_strategy_and_unique_keys(http, make_pipeline):
    name = make_pipeline(PROGRAM)
    views = http.get(f"/pipelines/{name}").json()["program_info"]["sluice"]["views"]
    assert views["totals"]["strategy"] == "incremental"
    assert views["totals"]["unique_keys"] == [["k"]]
    assert views["ranked"]["strategy"] == "recompute"
    assert views["big"]["strategy"] == "incremental" and views["big"]["local"]
    assert views["onbig"]["strategy"] == "incremental"
    assert ["id"] in views["onbig"]["unique_keys"]


def test_incremental_changes_reach_egress(engine, http, make_pipeline):
    name = make_pipeline(PROGRAM)
    url = f"{engine.url}/v0/pipelines/{name}/egress/totals"
    with httpx.stream("POST", url, params={"format": "json"}, timeout=30) as resp:
        lines = resp.iter_lines()
        body = "\n".join(json.dumps({"insert": r}) for r in (
            {"id": 1, "k": 1, "v": 2.5}, {"id": 2, "k": 1, "v": 0.5}, {"id": 3, "k": 2, "v": 1.0}))
        tok = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"}, content=body).json()["token"]
        wait_processed(http, name, tok, 20)
        got = []
        for line in lines:
            if not line.strip():
                continue
            chunk = json.loads(line)
            got += (chunk.get("json_data") or [])
            if len(got) >= 2:
                break
    assert sorted((d["insert"]["k"], d["insert"]["n"], d["insert"]["s"]) for d in got) == [(1, 2, 3.0), (2, 1, 1.0)]


def test_steps_skip_the_key_delete_only_for_ids_surely_new(http, make_pipeline):
    """A step looks for old rows only for ids within the ranges of stored ids (``keyranges``): a bulk
    step of raw JSON parts of new ids inserts without looking; ids that are stored, also ones stored
    by a small insert_delete step in between, still replace their rows, in bulk and small steps."""
    name = make_pipeline("CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, v INT);\n"
                         "CREATE VIEW s AS SELECT COUNT(*) AS n, SUM(v) AS sv FROM t;")
    model: dict[int, int] = {}

    def raw(parts: list[range], v: int) -> None:
        """Every part in one step: sent while paused, processed on resume."""
        assert http.post(f"/pipelines/{name}/pause").status_code == 202
        wait_until(lambda: http.get(f"/pipelines/{name}").json()["deployment_status"] == "Paused", 20, "paused")
        for ids in parts:
            body = "\n".join(json.dumps({"id": i, "v": v}) for i in ids)
            r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw",
                                                                   "force": "true"}, content=body)
            assert r.status_code == 200, r.text
            model.update({i: v for i in ids})
        assert http.post(f"/pipelines/{name}/resume").status_code == 202
        wait_processed(http, name, r.json()["token"], 20)

    # Parts of 1,000 rows: above ``ingress.FAST_MIN_BYTES``, so that they are parsed into Arrow.
    raw([range(0, 1000), range(1000, 2000)], 1)  # new ids: no delete
    tok = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"},
                    content=json.dumps({"insert": {"id": 50_000, "v": 7}})).json()["token"]
    model[50_000] = 7
    wait_processed(http, name, tok, 20)
    raw([range(2000, 3000), range(49_500, 50_500)], 2)  # 50,000 is stored (by the small step): replaced
    raw([range(60_000, 61_000)], 3)  # above every id again
    # Small steps (insert_delete, no Arrow): an upsert and a delete of stored ids, an id new then
    # upserted again (the small path skips the delete only for ids outside the stored ranges).
    for events in ([{"insert": {"id": 10, "v": 9}}, {"delete": {"id": 11, "v": 1}}, {"insert": {"id": 70_000, "v": 5}}],
                   [{"insert": {"id": 70_000, "v": 6}}, {"insert": {"id": 70_002, "v": 6}}]):
        tok = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"},
                        content="\n".join(json.dumps(e) for e in events)).json()["token"]
        wait_processed(http, name, tok, 20)
        for e in events:
            if "insert" in e:
                model[e["insert"]["id"]] = e["insert"]["v"]
            else:
                model.pop(e["delete"]["id"])
    raw([range(1500, 2500)], 4)  # increasing, but every id is stored: replaced
    rows = query_rows(http, name, "SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(v) AS sv FROM t")
    assert rows == [{"n": len(model), "ids": len(model), "sv": sum(model.values())}]
    assert query_rows(http, name, "SELECT n, sv FROM s") == [{"n": len(model), "sv": sum(model.values())}]


def test_max_stays_right_through_deletes_of_its_extreme_after_a_bulk_load(engine, http, make_pipeline):
    """A bulk load parsed into Arrow is merged per group by DuckDB, which then keeps each MIN/MAX's
    most extreme values (``acc._TopK``): deleting a group's maximum in step after step, and in a
    large step of upserts, gives the MAX and MIN recomputation gives, on the view's egress stream."""
    name = make_pipeline("CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, k INT, v DOUBLE);\n"
                         "CREATE VIEW top AS SELECT k, MAX(v) AS hi, MIN(v) AS lo, COUNT(*) AS n FROM t GROUP BY k;")
    model = {i: (i % 3, float(i * 37 % 3000 // 6)) for i in range(3000)}  # each value twice in each group

    def want(k: int) -> dict:
        vs = [v for g, v in model.values() if g == k]
        return {"k": k, "hi": max(vs), "lo": min(vs), "n": len(vs)}

    held: dict = {}
    url = f"{engine.url}/v0/pipelines/{name}/egress/top"
    with httpx.stream("POST", url, params={"format": "json"}, timeout=30) as resp:
        lines = resp.iter_lines()

        def step(body: str, update_format: str, k: int) -> None:
            r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": update_format},
                          content=body)
            assert r.status_code == 200, r.text
            wait_processed(http, name, r.json()["token"], 20)
            deadline = time.monotonic() + 20  # keepalives arrive every 3 s: the loop gets to check it
            for line in lines:  # until the stream holds the group's new row
                for ev in (json.loads(line).get("json_data") or []) if line.strip() else []:
                    (kind, row), = ev.items()
                    if kind == "insert":
                        held[row["k"]] = row
                    elif held.get(row["k"]) == row:
                        del held[row["k"]]
                if held.get(k) == want(k):
                    return
                assert time.monotonic() < deadline, f"group {k}: {held.get(k)} on the stream, {want(k)} wanted"

        # Above ingress.FAST_MIN_BYTES: parsed into Arrow, and merged so by the aggregate.
        step("\n".join(json.dumps({"id": i, "k": k, "v": v}) for i, (k, v) in model.items()), "raw", 1)
        for _ in range(10):  # group 1's maximum, ten times
            top = max((i for i in model if model[i][0] == 1), key=lambda i: model[i][1])
            del model[top]
            step(json.dumps({"delete": {"id": top}}), "insert_delete", 1)
        # One large step (merged by DuckDB, deletes too): group 1's three largest go, and 1,200 rows
        # from the middle of groups 0 and 2 move to group 1, below its extremes
        by_value = {k: sorted((i for i in model if model[i][0] == k), key=lambda i: model[i][1]) for k in range(3)}
        gone = by_value[1][-3:]
        for i in gone:
            del model[i]
        moved = by_value[0][200:800] + by_value[2][200:800]
        model.update({i: (1, 100.5) for i in moved})
        step("\n".join([json.dumps({"delete": {"id": i}}) for i in gone]
                       + [json.dumps({"insert": {"id": i, "k": 1, "v": 100.5}}) for i in moved]), "insert_delete", 1)
    assert held == {k: want(k) for k in range(3)}
