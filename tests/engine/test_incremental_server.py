"""A real engine reports each view's maintenance strategy and unique keys in ``program_info``, and
an incremental view's changes reach an egress stream."""

from __future__ import annotations

import json

import httpx

from webapp.engine.testing import wait_processed

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
