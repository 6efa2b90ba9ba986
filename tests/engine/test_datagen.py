"""Feldera's datagen connector on the real engine: documented examples fill their tables with exactly
``limit`` rows following the strategies, end of input is reported (the official client's
``wait_for_completion`` returns), other connectors and unknown settings are refused at compile time by
name, and generated rows survive ``kill -9`` exactly once.

Expected values come from Feldera's datagen documentation (docs/connectors/sources/datagen.md):
``increment`` is ``start + (row * scale) % (end - start)`` over the range, ``uniform`` stays in
``[start, end)``, ``values`` are taken in turn by ``increment``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import httpx
import orjson
import pytest

from webapp.engine.testing import EngineProcess, wait_status, wait_until


def _sql(table: str, config: dict, extra: dict | None = None) -> str:
    conn = dict({"transport": {"name": "datagen", "config": config}}, **(extra or {}))
    return f"{table} WITH ('connectors' = '{json.dumps([conn])}');"


def _create(http, sql: str) -> str:
    name = f"dg{uuid.uuid4().hex[:8]}"
    r = http.put(f"/pipelines/{name}", json={"program_code": sql})
    assert r.status_code == 201, r.text
    got = http.get(f"/pipelines/{name}").json()  # the answer is the pipeline before it compiles, as Feldera's
    assert got["program_status"] == "Success", got["program_error"]
    return name


def _wait(http, name: str, cond, what: str, timeout: float = 60):
    last = {}

    def holds():
        r = last["r"] = http.get(f"/pipelines/{name}/stats")
        return r.json() if r.status_code == 200 and cond(r.json()) else None
    return wait_until(holds, timeout, what, interval=0.05, detail=lambda: last["r"].text[:2000])


def _run(http, sql: str) -> tuple[str, dict]:
    """Create and start a pipeline, wait for Feldera's completion; (name, final stats)."""
    name = _create(http, sql)
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    st = _wait(http, name, lambda s: s["global_metrics"]["pipeline_complete"], "completion")
    return name, st


def _rows(url_or_http, name: str, sql: str) -> list[dict]:
    get = url_or_http.get if isinstance(url_or_http, httpx.Client) else \
        (lambda path, params: httpx.get(url_or_http + "/v0" + path, params=params, timeout=30))
    r = get(f"/pipelines/{name}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    return [orjson.loads(line) for line in r.content.splitlines() if line.strip()]


def _compile_error(http, sql: str) -> dict:
    name = f"dg{uuid.uuid4().hex[:8]}"
    http.put(f"/pipelines/{name}", json={"program_code": sql})
    body = http.get(f"/pipelines/{name}").json()
    http.delete(f"/pipelines/{name}")
    assert body["program_status"] == "SqlError", body
    return body["program_error"]["sql_compilation"]["messages"][0]


# -- documented examples ---------------------------------------------------------------------------

def test_feldera_client_runs_the_documented_stocks_example_to_completion(engine):
    """The official client's wait_for_completion() returns; 'values' in turn, 'uniform' in its range."""
    env = dict(os.environ)
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "datagen_client.py"), engine.url],
                       capture_output=True, text=True, timeout=170, env=env, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    rows = seen["stocks"]
    assert [(x["symbol"], x["price_time"]) for x in rows] == \
        [("AAPL", 0), ("GOOGL", 1), ("SPY", 2), ("NVDA", 3), ("AAPL", 4)]
    assert all(100 <= float(x["price"]) < 10000 for x in rows)
    assert seen["stocks_complete"] is True
    assert ["stocks.unnamed-0", True, 5] in seen["stocks_inputs"]
    # A connector declared paused generates nothing (and the pipeline is not complete) until started.
    assert seen["paused_before"] == {"paused": True, "eoi": False, "complete": False}
    assert seen["paused_rows"] == [0, 1, 2] and seen["paused_after"] is False


def test_documented_date_time_timestamp_ranges_wrap_around(http):
    sql = """CREATE TABLE times (dt DATE NOT NULL, ts TIMESTAMP NOT NULL, t TIME NOT NULL) with (
      'connectors' = '[{"transport": {"name": "datagen", "config": {"plan": [{"limit": 3, "rate": 1000, "fields": {
        "ts": { "range": ["2024-08-28T00:00:00Z", "2024-08-28T00:00:02Z"], "scale": 1000 },
        "dt": { "range": ["2024-08-28", "2024-08-30"] },
        "t": { "range": ["00:00:05", "00:00:07"], "scale": 1000 }}}]}}}]');"""
    name, _ = _run(http, sql)
    got = _rows(http, name, "SELECT CAST(dt AS VARCHAR) AS dt, CAST(ts AS VARCHAR) AS ts, CAST(t AS VARCHAR) AS t "
                            "FROM times ORDER BY ALL")
    assert got == sorted([
        {"dt": "2024-08-28", "ts": "2024-08-28 00:00:00", "t": "00:00:05"},
        {"dt": "2024-08-29", "ts": "2024-08-28 00:00:01", "t": "00:00:06"},
        {"dt": "2024-08-28", "ts": "2024-08-28 00:00:00", "t": "00:00:05"},
    ], key=lambda r: (r["dt"], r["ts"], r["t"]))


def test_documented_values_in_columnar_form(http):
    sql = _sql("CREATE TABLE example1 (col1 INT NOT NULL, col2 VARCHAR NOT NULL)",
               {"plan": [{"limit": 4, "fields": {"col1": {"values": [1, 2, 3, 4]},
                                                  "col2": {"values": ["a", "b", "c", "d"]}}}]})
    name, _ = _run(http, sql)
    assert _rows(http, name, "SELECT * FROM example1 ORDER BY col1") == \
        [{"col1": 1, "col2": "a"}, {"col1": 2, "col2": "b"}, {"col1": 3, "col2": "c"}, {"col1": 4, "col2": "d"}]
    conns = http.get(f"/pipelines/{name}").json()["program_info"]["input_connectors"]
    assert list(conns) == ["example1.unnamed-0"] and conns["example1.unnamed-0"]["stream"] == "example1"
    assert conns["example1.unnamed-0"]["transport"]["name"] == "datagen"


def test_no_field_settings_increment_every_column(http):
    """Feldera's first example: no configuration makes 0, 1, 2, ... in every column (here with a limit)."""
    sql = _sql("CREATE TABLE stocks (symbol VARCHAR NOT NULL, price_time BIGINT NOT NULL, price DOUBLE NOT NULL, "
               "up BOOLEAN NOT NULL, d DATE NOT NULL)", {"plan": [{"limit": 4}]})
    name, _ = _run(http, sql)
    got = _rows(http, name, "SELECT symbol, price_time, price, up, CAST(d AS VARCHAR) AS d FROM stocks ORDER BY price_time")
    assert got == [{"symbol": str(i), "price_time": i, "price": float(i), "up": i % 2 == 1,
                    "d": f"1970-01-0{i + 1}"} for i in range(4)]


# -- strategies --------------------------------------------------------------------------------------

def test_increment_with_range_and_scale_and_sequential_plans(http):
    """increment: start + (row * scale) % (end - start); each plan numbers its rows from 0."""
    sql = _sql("CREATE TABLE t (x INT NOT NULL, p INT NOT NULL)",
               {"plan": [{"limit": 5, "fields": {"x": {"range": [10, 20], "scale": 3}, "p": {"values": [1]}}},
                         {"limit": 3, "fields": {"x": {"scale": -2}, "p": {"values": [2]}}}]})
    name, st = _run(http, sql)
    got = sorted((r["p"], r["x"]) for r in _rows(http, name, "SELECT * FROM t"))
    assert got == sorted([(1, 10), (1, 13), (1, 16), (1, 19), (1, 12), (2, 0), (2, -2), (2, -4)])
    conn = next(i for i in st["inputs"] if i["endpoint_name"] == "t.unnamed-0")
    assert conn["metrics"]["total_records"] == 8 and conn["metrics"]["end_of_input"] is True


def test_stats_list_the_connector_alone_with_feldera_byte_count_until_http_ingress_is_used(http):
    """Feldera's /stats for a datagen-only table: one input, the connector (its HTTP input endpoint exists
    only from the first ingress request on), and ``total_bytes`` counts each generated record's JSON
    (5 rows ``{"c1":0}``..``{"c1":4}``: 40 bytes), as Feldera's own platform test of /stats states."""
    name, st = _run(http, _sql("CREATE TABLE t1 (c1 INT)", {"plan": [{"limit": 5, "rate": 1000}]}))
    assert [(i["endpoint_name"], i["metrics"]["total_bytes"], i["metrics"]["total_records"])
            for i in st["inputs"]] == [("t1.unnamed-0", 40, 5)]
    r = http.post(f"/pipelines/{name}/ingress/t1", params={"format": "json"}, content='{"insert": {"c1": 9}}')
    assert r.status_code == 200, r.text
    ins = http.get(f"/pipelines/{name}/stats").json()["inputs"]
    assert sorted(i["endpoint_name"].startswith("t1.api-ingress-") for i in ins) == [False, True]


def test_random_strategies_stay_in_their_ranges_and_values(http):
    sql = _sql("CREATE TABLE r (id BIGINT NOT NULL, u INT NOT NULL, f DOUBLE NOT NULL, z INT NOT NULL, "
               "zv VARCHAR NOT NULL, n INT, s VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, a INT ARRAY NOT NULL)",
               {"seed": 7, "plan": [{"limit": 300, "fields": {
                   "u": {"strategy": "uniform", "range": [-5, 5]},
                   "f": {"strategy": "uniform", "range": [0.5, 0.75]},
                   "z": {"strategy": "zipf", "range": [100, 110]},
                   "zv": {"strategy": "zipf", "values": ["x", "y", "z"]},
                   "n": {"null_percentage": 100},
                   "s": {"strategy": "uniform", "range": [2, 4]},
                   "ts": {"strategy": "uniform", "range": ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]},
                   "a": {"range": [1, 3], "value": {"strategy": "uniform", "range": [7, 9]}}}}]})
    name, _ = _run(http, sql)
    rows = _rows(http, name, "SELECT id, u, f, z, zv, n, s, CAST(ts AS VARCHAR) AS ts, a FROM r ORDER BY id")
    assert [r["id"] for r in rows] == list(range(300))
    assert all(-5 <= r["u"] < 5 for r in rows) and len({r["u"] for r in rows}) > 5
    assert all(0.5 <= r["f"] < 0.75 for r in rows)
    assert all(100 <= r["z"] < 110 for r in rows)
    assert {r["zv"] for r in rows} <= {"x", "y", "z"}
    # Zipf favours the first rank: 100 (and "x") come up most often.
    assert max(range(100, 110), key=[r["z"] for r in rows].count) == 100
    assert max("xyz", key=[r["zv"] for r in rows].count) == "x"
    assert all(r["n"] is None for r in rows)
    assert all(2 <= len(r["s"]) < 4 and r["s"].isalnum() for r in rows)
    assert all(r["ts"].startswith("2024-01-01 ") for r in rows)
    # Array lengths follow increment over [1, 3): 1, 2, 1, 2, ...; elements uniform in [7, 9).
    assert [len(r["a"]) for r in rows[:4]] == [1, 2, 1, 2]
    assert all(all(7 <= v < 9 for v in r["a"]) for r in rows)


def test_string_generators(http):
    sql = _sql("CREATE TABLE people (id INT NOT NULL, email VARCHAR NOT NULL, name VARCHAR NOT NULL, "
               "word VARCHAR NOT NULL, words VARCHAR NOT NULL)",
               {"seed": 1, "plan": [{"limit": 20, "fields": {
                   "email": {"strategy": "email"}, "name": {"strategy": "name"}, "word": {"strategy": "word"},
                   "words": {"strategy": "words", "range": [3, 4]}}}]})
    name, _ = _run(http, sql)
    rows = _rows(http, name, "SELECT * FROM people")
    assert len(rows) == 20
    for r in rows:
        local, _, domain = r["email"].partition("@")
        assert local and "." in domain, r
        assert " " in r["name"].strip(), r
        assert r["word"] and " " not in r["word"], r
        assert len(r["words"].split(" ")) == 3, r


def test_workers_make_every_row_once(http):
    sql = _sql("CREATE TABLE w (id INT NOT NULL)",
               {"workers": 3, "plan": [{"limit": 1000, "worker_chunk_size": 7}]})
    name, _ = _run(http, sql)
    assert _rows(http, name, "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d, MIN(id) AS lo, MAX(id) AS hi FROM w") == \
        [{"n": 1000, "d": 1000, "lo": 0, "hi": 999}]


def test_stop_and_start_goes_on_where_it_stopped(http):
    sql = _sql("CREATE TABLE s (id INT NOT NULL)", {"plan": [{"limit": 60, "rate": 20}]})
    name = _create(http, sql)
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    _wait(http, name, lambda s: s["global_metrics"]["total_processed_records"] >= 20, "some rows")
    assert http.post(f"/pipelines/{name}/stop", params={"force": "true"}).status_code == 202
    wait_status(http, name, "Stopped", timeout=30)
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    _wait(http, name, lambda s: s["global_metrics"]["pipeline_complete"], "completion")
    assert _rows(http, name, "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM s") == [{"n": 60, "d": 60}]
    # Clearing the storage starts the connector from its first row again.
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    wait_status(http, name, "Stopped", timeout=30)
    assert http.post(f"/pipelines/{name}/clear").status_code == 202
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    _wait(http, name, lambda s: s["global_metrics"]["pipeline_complete"], "completion after clear")
    assert _rows(http, name, "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM s") == [{"n": 60, "d": 60}]


def test_unlimited_plan_never_ends_its_input(http):
    sql = _sql("CREATE TABLE u (id BIGINT NOT NULL)", {"plan": [{"rate": 50}]})
    name = _create(http, sql)
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    st = _wait(http, name, lambda s: s["global_metrics"]["total_processed_records"] >= 10, "rows")
    conn = next(i for i in st["inputs"] if i["endpoint_name"] == "u.unnamed-0")
    assert conn["metrics"]["end_of_input"] is False and st["global_metrics"]["pipeline_complete"] is False
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})


# -- refusals ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["kafka_input", "s3_input", "file_input", "url_input", "postgres_input",
                                       "delta_table_input"])
def test_other_connectors_are_refused_by_name_with_their_position(http, transport):
    sql = ("CREATE TABLE t (id INT) WITH (\n  'connectors' = '[{\n    \"transport\": {\"name\": \""
           + transport + "\", \"config\": {}}\n  }]'\n);")
    err = _compile_error(http, sql)
    assert f"connector '{transport}' is not supported" in err["message"]
    assert (err["start_line_number"], err["start_column"]) == (3, 27)  # the quoted transport name as written


def test_output_connectors_of_views_are_refused(http):
    sql = ("CREATE TABLE t (id INT);\nCREATE VIEW v WITH ('connectors' = '[{\"transport\": {\"name\": \"kafka_output\", "
           "\"config\": {}}}]') AS SELECT * FROM t;")
    err = _compile_error(http, sql)
    assert "connector 'kafka_output' is not supported" in err["message"] and err["start_line_number"] == 2


@pytest.mark.parametrize("config, words", [
    ({"plan": [{"limit": 1, "rat": 5}]}, "unknown key 'rat' in a datagen plan"),
    ({"plans": []}, "unknown key 'plans' in datagen's config"),
    ({"plan": [{"fields": {"nope": {}}}]}, "Field `nope` specified in datagen does not exist"),
    ({"plan": [{"fields": {"id": {"strategy": "gaussian"}}}]}, "unknown datagen strategy 'gaussian'"),
    ({"plan": [{"fields": {"id": {"strategy": "email"}}}]}, "strategy 'email' cannot make values of type INTEGER"),
    ({"plan": [{"fields": {"id": {"range": [5, 5]}}}]}, "'range' of column 'id' is empty"),
    ({"plan": [{"fields": {"id": {"null_percentage": 10}}}]}, "column 'id' is NOT NULL"),
    ({"plan": [{"fields": {"id": {"values": ["a"]}}}]}, "'values' of column 'id' holds \"a\", which is no INTEGER"),
    ({"plan": [{"fields": {"id": {"values": [1, 2**40]}}}]}, "holds 1099511627776, which is no INTEGER"),
    ({"plan": [{"fields": {"id": {"mean": 3}}}]}, "unknown key 'mean' in the datagen settings of column 'id'"),
    ({"plan": [{"rate": 0}]}, "'rate'"),
])
def test_datagen_settings_that_cannot_be_honoured_are_refused_by_name(http, config, words):
    err = _compile_error(http, _sql("CREATE TABLE t (id INT NOT NULL)", config))
    assert words in err["message"], err


def test_unknown_connector_keys_and_formats_are_refused(http):
    err = _compile_error(http, _sql("CREATE TABLE t (id INT)", {}, {"max_queued": 5}))
    assert "unknown connector key 'max_queued'" in err["message"]
    err = _compile_error(http, _sql("CREATE TABLE t (id INT)", {}, {"format": {"name": "csv"}}))
    assert "remove its 'format'" in err["message"]
    err = _compile_error(http, _sql("CREATE TABLE t (id INT)", {}, {"index": "i"}))
    assert "'index' applies to output connectors only" in err["message"]


def test_start_after_an_unknown_label_fails_the_start_by_name(http):
    name = _create(http, _sql("CREATE TABLE t (id INT)", {"plan": [{"limit": 1}]}, {"start_after": ["loaded"]}))
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    p = wait_until(lambda: (p := http.get(f"/pipelines/{name}").json())["deployment_error"] is not None and p, 30,
                   f"pipeline {name} to fail its start", interval=0.05)
    assert "label 'loaded'" in p["deployment_error"]["message"]


def test_start_after_waits_for_the_labelled_connector(http):
    sql = (_sql("CREATE TABLE a (id INT NOT NULL)", {"plan": [{"limit": 30}]}, {"labels": ["first"]}) + "\n"
           + _sql("CREATE TABLE b (id INT NOT NULL)", {"plan": [{"limit": 5}]}, {"start_after": "first"}))
    _, st = _run(http, sql)
    ends = {i["endpoint_name"]: i["metrics"] for i in st["inputs"]}
    assert ends["a.unnamed-0"]["total_records"] == 30 and ends["b.unnamed-0"]["total_records"] == 5


# -- crash -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 3])
def test_generated_rows_survive_kill_9_exactly_once(tmp_path, workers):
    """With several workers the delivered rows can have gaps (chunks logged out of order); each is kept."""
    sql = _sql("CREATE TABLE k (id INT NOT NULL, v VARCHAR NOT NULL)",
               {"workers": workers, "plan": [{"limit": 400, "rate": 100, "worker_chunk_size": 10 * workers,
                                              "fields": {"v": {"strategy": "word"}}}]})
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        assert c.put("/pipelines/k", json={"program_code": sql}).status_code == 201
        assert c.post("/pipelines/k/start").status_code == 202
        _wait(c, "k", lambda s: s["global_metrics"]["total_processed_records"] >= 100, "the first rows")
        eng.kill()
    for _ in range(2):  # once mid-way, once after the connector had ended its input
        with EngineProcess(tmp_path) as eng:
            c = eng.client()
            _wait(c, "k", lambda s: s["global_metrics"]["pipeline_complete"], "completion after restart")
            assert _rows(eng.url, "k", "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d, MIN(id) AS lo, "
                                       "MAX(id) AS hi FROM k") == [{"n": 400, "d": 400, "lo": 0, "hi": 399}]
            eng.kill()


def test_rows_of_a_failed_step_are_not_made_again(http):
    """A datagen step that fails (SUM of INT past INT's range) keeps its rows for the next start; the
    connector, which had made them, does not make them again: once the view no longer fails, the
    keyless table holds the plan's 3 rows once each."""
    prog = (_sql("CREATE TABLE t (x INT)", {"plan": [{"limit": 3, "rate": 1000, "fields": {"x": {"values": [2000000000]}}}]})
            + "\nCREATE VIEW s AS SELECT SUM(x) AS total FROM t;")
    name = _create(http, prog)
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    err = wait_status(http, name, "Stopped", timeout=60)["deployment_error"]
    assert "view s" in err["message"], err
    r = http.patch(f"/pipelines/{name}", json={"program_code": prog.replace("SUM(x)", "SUM(CAST(x AS BIGINT))")})
    assert r.status_code == 200, r.text
    wait_until(lambda: http.get(f"/pipelines/{name}").json()["program_status"] == "Success", 20, "compiled")
    assert http.post(f"/pipelines/{name}/dismiss_error").status_code == 202
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    _wait(http, name, lambda s: s["global_metrics"]["pipeline_complete"], "completion")
    assert _rows(http, name, "SELECT count(*) AS n, sum(x) AS sx FROM t") == [{"n": 3, "sx": 6_000_000_000}]
    assert _rows(http, name, "SELECT total FROM s") == [{"total": 6_000_000_000}]
