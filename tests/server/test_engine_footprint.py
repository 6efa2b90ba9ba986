"""The engine process never loads pandas (webapp/server/footprint.py): ingress in every format, egress,
and ad-hoc queries in every output format run without it, and its shared libraries are not mapped."""

from __future__ import annotations

import psutil

from webapp.engine.testing import push_and_wait

SQL = """CREATE TABLE t (id INT NOT NULL PRIMARY KEY, x DOUBLE, s VARCHAR, d DECIMAL(10, 2), ts TIMESTAMP,
                         a INT ARRAY, m MAP<VARCHAR, INT>);
CREATE VIEW v AS SELECT s, COUNT(*) AS n, SUM(x) AS sx, MAX(d) AS md FROM t GROUP BY s;"""


def _mapped_pandas(pid: int) -> list[str]:
    with open(f"/proc/{pid}/maps") as f:
        return sorted({line.split()[-1] for line in f if "/pandas/" in line})


def test_the_engine_serves_without_pandas(engine, http, make_pipeline):
    name = make_pipeline(SQL)
    rows = [{"id": i, "x": i / 3, "s": f"k{i % 3}", "d": "1.25", "ts": "2026-01-02 03:04:05", "a": [i, 2],
             "m": {"a": i}} for i in range(40)]  # above the small-step limit: Arrow paths run too
    push_and_wait(http, name, "t", [{"insert": r} for r in rows])
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "csv"},
                  content=b'100,0.5,k9,2.50,2026-01-02 03:04:05,"[1,2]",\n')
    assert r.status_code == 200, r.text
    with http.stream("POST", f"/pipelines/{name}/egress/v", params={"format": "json", "send_snapshot": "true"}) as s:
        assert s.status_code == 200
        next(s.iter_lines())
    for fmt in ("text", "json", "csv", "arrow_ipc", "parquet"):
        q = http.get(f"/pipelines/{name}/query", params={"sql": "SELECT * FROM t ORDER BY id", "format": fmt})
        assert q.status_code == 200, (fmt, q.text)
    worker = psutil.Process(engine.proc.pid).children()[0]
    assert _mapped_pandas(worker.pid) == []
    assert _mapped_pandas(engine.proc.pid) == []
