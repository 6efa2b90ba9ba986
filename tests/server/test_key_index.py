"""A keyed table's index on its key: loads of new keys go in without it, and it is built when the
pipeline goes idle, or by the first step that looks keys up (runtime.Runtime._build_indexes).

Both ways must leave upserts and deletes exact; the expected rows are worked out by hand."""

from __future__ import annotations

import orjson

from sluice_support import LogReader
from webapp.engine.testing import query_rows, wait_processed

SQL = ("CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, v INT);\n"
       "CREATE MATERIALIZED VIEW s AS SELECT count(*) AS n, sum(v) AS total FROM t;")


def _load(http, name: str, lo: int, hi: int) -> str:
    """Rows id = lo..hi-1 with v = 1, as raw JSON (the parser's Arrow path, as a bulk load)."""
    body = b"\n".join(orjson.dumps({"id": i, "v": 1}) for i in range(lo, hi))
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw"}, content=body)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _events(http, name: str, events: list[dict]) -> None:
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "insert_delete"},
                  content=b"\n".join(orjson.dumps(e) for e in events))
    assert r.status_code == 200, r.text
    wait_processed(http, name, r.json()["token"])


def test_a_load_of_new_keys_gets_its_index_when_idle_and_updates_after_it_are_exact(engine, http, make_pipeline):
    name = make_pipeline(SQL)
    logs = LogReader(engine.url, name)
    try:
        for lo in (0, 3000, 6000):
            tok = _load(http, name, lo, lo + 3000)
        wait_processed(http, name, tok)
        logs.until(lambda line: "built the key index of table t" in line)
    finally:
        logs.close()
    # 9000 rows of v = 1; then id 5 becomes v = 10, id 8999 goes, id 9000 comes with v = 7.
    _events(http, name, [{"insert": {"id": 5, "v": 10}}, {"delete": {"id": 8999, "v": 1}},
                         {"insert": {"id": 9000, "v": 7}}])
    assert query_rows(http, name, "SELECT n, total FROM s") == [{"n": 9000, "total": 9000 - 1 + 10 - 1 + 7}]
    assert query_rows(http, name, "SELECT v FROM t WHERE id = 5") == [{"v": 10}]


def test_an_update_right_after_a_load_builds_the_index_itself(engine, http, make_pipeline):
    name = make_pipeline(SQL)
    # The upsert is queued behind the load, so no idle time comes between them.
    _load(http, name, 0, 4000)
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw"},
                  content=b'{"id": 17, "v": 5}\n{"id": 3999, "v": 2}')
    assert r.status_code == 200, r.text
    wait_processed(http, name, r.json()["token"])
    assert query_rows(http, name, "SELECT n, total FROM s") == [{"n": 4000, "total": 4000 - 2 + 5 + 2}]
    assert query_rows(http, name, "SELECT id, v FROM t WHERE id IN (17, 3999) ORDER BY id") == [
        {"id": 17, "v": 5}, {"id": 3999, "v": 2}]
