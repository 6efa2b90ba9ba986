"""JSON nested deeper than the dashboard can read is refused with a 4xx and the error envelope, never a 500
(issue 16, item 9). A real engine and the dashboard under gunicorn."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from webapp.engine.testing import wait_until

SQL = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR) WITH ('materialized' = 'true');"


@pytest.fixture
def client(dashboard):
    with httpx.Client(base_url=dashboard.url, timeout=30) as c:
        assert c.get("/").status_code == 200  # a page sets the CSRF cookie
        c.headers["X-CSRF-Token"] = c.cookies["sluice_csrf"]
        yield c


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def envelope(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text[:300]
    body = r.json()
    assert set(body) == {"message", "error_code", "details"} and body["error_code"] == code, body
    return body


@pytest.mark.parametrize("depth", [990, 100_000])
def test_data_entry_refuses_json_nested_too_deep(client, make_pipeline, http, depth):
    name = make_pipeline(SQL)
    rows = client.post(f"/api/pipelines/{name}/tables/t/rows", content='{"rows": [{"id": 1, "v": %s}]}' % nested(depth),
                       headers={"Content-Type": "application/json"})
    assert "nested too deeply" in envelope(rows, 400, "InvalidJson")["message"]
    text = client.post(f"/api/pipelines/{name}/tables/t/json", json={"text": '{"id": 1, "v": %s}' % nested(depth)})
    body = envelope(text, 400, "InvalidJson")
    assert "nested too deeply" in str(body["details"])
    r = http.get(f"/pipelines/{name}/query", params={"sql": "SELECT count(*) AS n FROM t", "format": "json"})
    assert [json.loads(line) for line in r.text.splitlines() if line.strip()] == [{"n": 0}]  # nothing was sent


def test_other_json_bodies_nested_too_deep_are_refused(client, make_pipeline):
    name = make_pipeline(SQL)
    r = client.post(f"/api/pipelines/{name}/query", content='{"sql": %s}' % nested(100_000),
                    headers={"Content-Type": "application/json"})
    envelope(r, 400, "InvalidParam")  # as any body that is not a JSON object with "sql"


def test_a_mistyped_query_is_one_log_line_not_a_traceback(dashboard, client, make_pipeline):
    """The page shows the engine's refusal; the dashboard's log says it in one INFO line, as for any
    other 4xx, where it used to print the traceback of the greenlet that asked the engine."""
    name = make_pipeline(SQL)
    column = f"nope_{name}"  # named once in the log unless a traceback repeats the message
    r = client.get(f"/api/pipelines/{name}/query", params={"sql": f"SELECT {column} FROM t"})
    assert envelope(r, 400, "AdHocQueryError")["details"]["line"] == 1
    wait_until(lambda: re.search(rf"INFO .*query of {name} -> 400 AdHocQueryError: .*{column}", dashboard.log),
               what="the refusal in the dashboard's log", detail=lambda: dashboard.log)
    assert dashboard.log.count(column) == 1, dashboard.log[-4000:]
