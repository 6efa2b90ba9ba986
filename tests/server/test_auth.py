"""API keys on the engine: without a valid key every /v0 call but GET /v0/config answers 401."""

import subprocess
import sys

import httpx
import pytest

from webapp.engine.testing import EngineProcess

KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    with EngineProcess(tmp_path_factory.mktemp("keyed"), env={"SLUICE_API_KEY": KEY}) as eng:
        yield eng


CALLS = [
    ("GET", "/v0/pipelines"), ("POST", "/v0/pipelines"), ("GET", "/v0/pipelines/x"), ("PUT", "/v0/pipelines/x"),
    ("PATCH", "/v0/pipelines/x"), ("DELETE", "/v0/pipelines/x"), ("POST", "/v0/pipelines/x/start"),
    ("POST", "/v0/pipelines/x/pause"), ("POST", "/v0/pipelines/x/resume"), ("POST", "/v0/pipelines/x/stop"),
    ("POST", "/v0/pipelines/x/clear"), ("POST", "/v0/pipelines/x/dismiss_error"),
    ("POST", "/v0/pipelines/x/ingress/t"), ("GET", "/v0/pipelines/x/completion_status?token=a"),
    ("POST", "/v0/pipelines/x/egress/v"), ("GET", "/v0/pipelines/x/egress/v"), ("GET", "/v0/pipelines/x/query?sql=1"),
    ("GET", "/v0/pipelines/x/stats"), ("GET", "/v0/pipelines/x/time_series"), ("GET", "/v0/metrics"),
    ("GET", "/v0/cluster_healthz"),
]


@pytest.mark.parametrize("method,path", CALLS)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-key", KEY, "Basic " + KEY])
def test_every_endpoint_needs_the_key(keyed, method, path, auth):
    headers = {"Authorization": auth} if auth else {}
    r = httpx.request(method, keyed.url + path, headers=headers, timeout=10)
    assert r.status_code == 401, (method, path, r.status_code, r.text)
    body = r.json()
    assert set(body) == {"message", "error_code", "details"} and body["error_code"] == "Unauthorized"


def test_config_is_open_and_the_right_key_works(keyed):
    assert httpx.get(keyed.url + "/v0/config").status_code == 200
    r = httpx.get(keyed.url + "/v0/pipelines", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200 and r.json() == [] or isinstance(r.json(), list)


def test_official_client_with_api_key(keyed):
    script = f"""
import sys, json
from feldera import FelderaClient, PipelineBuilder
c = FelderaClient({keyed.url!r}, api_key={KEY!r})
p = PipelineBuilder(c, "authed", "CREATE TABLE t (x INT); CREATE MATERIALIZED VIEW v AS SELECT * FROM t;").create_or_replace()
p.start()
p.input_json("t", [{{"x": 1}}, {{"x": 2}}])
rows = sorted(r["x"] for r in p.query("SELECT * FROM v"))
p.stop(force=True)
p.delete(clear_storage=True)
sys.__stdout__.write(json.dumps(rows) + "\\n")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[1, 2]"


def test_refuses_a_public_address_without_a_key(tmp_path):
    r = subprocess.run([sys.executable, "-m", "webapp.cli", "engine", "--host", "0.0.0.0", "--port", "0",
                        "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in __import__("os").environ.items() if k != "SLUICE_API_KEY"})
    assert r.returncode != 0
    assert "without an API key" in r.stderr + r.stdout
