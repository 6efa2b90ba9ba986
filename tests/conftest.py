"""Shared fixtures: a real engine process on an ephemeral port, and helpers to drive it over HTTP."""

from __future__ import annotations

import uuid

import httpx
import pytest

from webapp.engine.testing import EngineProcess, wait_status

from ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401  (CI: a skip fails)


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    """One engine process for the session (tests use their own pipeline names)."""
    eng = EngineProcess(tmp_path_factory.mktemp("engine-data"), "--ingress-wait", "3",
                        "--egress-stall-timeout", "3", "--keepalive", "3")
    with eng:
        yield eng


@pytest.fixture
def http(engine):
    with httpx.Client(base_url=engine.url + "/v0", timeout=30) as c:
        yield c


@pytest.fixture
def make_pipeline(http):
    """Create and start a pipeline with a unique name; stops and deletes it afterwards."""
    made = []

    def make(sql: str, initial: str = "running", name: str | None = None) -> str:
        name = name or f"p{uuid.uuid4().hex[:10]}"
        r = http.put(f"/pipelines/{name}", json={"name": name, "program_code": sql})
        assert r.status_code in (200, 201), r.text
        # As Feldera, the answer is the pipeline before it compiles; Sluice compiles before the next request.
        assert r.json()["program_status"] == "Pending", r.json()
        assert http.get(f"/pipelines/{name}").json()["program_status"] == "Success", http.get(f"/pipelines/{name}").text
        made.append(name)
        r = http.post(f"/pipelines/{name}/start", params={"initial": initial})
        assert r.status_code == 202, r.text
        wait_status(http, name, "Paused" if initial == "paused" else "Running")
        return name

    yield make
    for name in made:
        http.post(f"/pipelines/{name}/stop", params={"force": "true"})
        try:
            wait_status(http, name, "Stopped")
        except AssertionError:
            pass
        http.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
        http.delete(f"/pipelines/{name}")
