"""``sluice up``: the engine and the dashboard as real processes, the demo pipeline fed with moving data."""

from __future__ import annotations

import re

import httpx

from webapp.engine.testing import EngineProcess, wait_until


def _dashboard_url(eng: EngineProcess, timeout: float = 30.0) -> str:
    m = wait_until(lambda: re.search(r"Open the dashboard: (http://\S+?)/?\s", eng.log), timeout,
                   f"the dashboard URL in the output:\n{eng.log}", interval=0.1)
    return m.group(1)


def _orders(url: str) -> int:
    r = httpx.get(url + "/v0/pipelines/demo/query", params={"sql": "SELECT COUNT(*) AS n FROM orders",
                                                           "format": "json"})
    return r.json()["n"] if r.status_code == 200 else -1


def _accepted_orders(url: str) -> int:
    st = httpx.get(url + "/v0/pipelines/demo/stats").json()
    return next(i["metrics"]["total_records"] for i in st["inputs"] if i["config"]["stream"] == "orders")


def test_up_runs_engine_dashboard_and_demo_data(tmp_path):
    eng = EngineProcess(tmp_path / "data", "--port", "0", command="up",
                        env={"SLUICE_DEMO_RATE": "20", "SLUICE_FEED_LINGER": "1"})
    with eng:
        dash = _dashboard_url(eng)
        page = httpx.get(dash + "/")
        assert page.status_code == 200 and "demo" in page.text
        pipes = httpx.get(dash + "/api/pipelines").json()["pipelines"]
        assert [p["deployment_status"] for p in pipes if p["name"] == "demo"] == ["Running"]
        customers = httpx.get(eng.url + "/v0/pipelines/demo/query",
                              params={"sql": "SELECT COUNT(*) AS n FROM customers", "format": "json"}).json()
        assert customers["n"] == 5
        wait_until(lambda: _orders(eng.url) >= 3, 20, "the generator (on by default) to place orders", interval=0.1)
        assert httpx.get(dash + "/api/demo").json()["enabled"] is True
        token = httpx.get(dash + "/").cookies["sluice_csrf"]
        off = httpx.post(dash + "/api/demo", json={"enabled": False}, cookies={"sluice_csrf": token},
                         headers={"X-CSRF-Token": token})
        assert off.status_code == 200 and off.json()["enabled"] is False
        # an order already on its way may still land; then the generator parks, every push answered
        state = wait_until(lambda: (st := httpx.get(dash + "/api/demo").json())["parked"] and st, 10,
                           "the generator to park")
        accepted = _accepted_orders(eng.url)
        assert httpx.get(dash + "/api/demo").json()["pushed"] == state["pushed"], "switched off: no more orders"
        assert _accepted_orders(eng.url) == accepted
    assert eng.proc.returncode == 0, eng.log


def test_up_no_demo_data_flag(tmp_path):
    with EngineProcess(tmp_path / "data", "--port", "0", "--no-demo-data", command="up") as eng:
        dash = _dashboard_url(eng)
        assert httpx.get(dash + "/api/demo").json()["enabled"] is False
        assert _orders(eng.url) == 0


def test_up_passes_the_api_key_to_the_dashboard(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# the engine's format: one key per line\nsecret-key-1\n")
    with EngineProcess(tmp_path / "data", "--port", "0", "--no-demo-data", "--api-key-file", str(keys),
                       command="up", env={"SLUICE_API_KEY": ""}) as eng:
        dash = _dashboard_url(eng)
        assert httpx.get(eng.url + "/v0/pipelines").status_code == 401
        pipes = httpx.get(dash + "/api/pipelines").json()["pipelines"]
        assert [p["name"] for p in pipes] == ["demo"]


def test_up_gives_the_dashboard_a_stall_time_its_engines_keepalive_fits(monkeypatch):
    """A live view says `upstream down` after STREAM_STALL seconds of silence: with `sluice up --keepalive 10`
    the default 8 s flipped an idle view between down and live; with keepalives off it always said down."""
    from webapp.dashboard.launcher import stall_env

    monkeypatch.delenv("SLUICE_STREAM_STALL", raising=False)
    assert stall_env(3.0) == {"SLUICE_STREAM_STALL": "8.0"}  # the default already outlasts 3 s
    assert stall_env(10.0) == {"SLUICE_STREAM_STALL": "25.0"}
    assert stall_env(0.0) == {"SLUICE_STREAM_STALL": "0"}
    monkeypatch.setenv("SLUICE_STREAM_STALL", "12")
    assert stall_env(10.0) == {}  # the user's own


# What ``sluice up`` prints for its user on standard output; everything else there would be a log line.
FOR_THE_USER = re.compile(r"Sluice engine listening on |Demo pipeline 'demo': |Sluice dashboard listening on "
                          r"|Open the dashboard: ")


def test_up_writes_its_childrens_logs_to_standard_error_and_the_urls_to_standard_output(tmp_path):
    """As ``sluice engine`` alone does (docs/cli.md): an operator who redirects ``2>`` catches the logs."""
    eng = EngineProcess(tmp_path / "data", "--port", "0", "--no-demo-data", command="up", split_output=True)
    with eng:
        _dashboard_url(eng)
        assert httpx.post(eng.url + "/v0/pipelines/demo/ingress/nope", params={"format": "json"},
                          content=b"{}").status_code == 404
        wait_until(lambda: any("POST /v0/pipelines/demo/ingress/nope -> 404" in s for s in eng.stderr_lines), 30,
                   f"the engine's log line of the refusal on standard error:\n{eng.log}", interval=0.1)
        out, err = list(eng.stdout_lines), list(eng.stderr_lines)
    assert out and all(FOR_THE_USER.match(s) for s in out), out
    assert len(out) == 4, out
    assert any("sluice.engine [pipeline demo]: deployment status Initializing -> Running" in s for s in err), err
    assert any("Booting worker" in s for s in err), err  # gunicorn's own lines, of both children
