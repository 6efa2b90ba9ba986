"""Fixtures for the real-server HTTP tests (the engine process and ``http`` client come from tests/conftest.py)."""

from __future__ import annotations

import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from sluice_support import EgressReader, RawEgress, wait_until


def _wait_stopped(http, name, timeout=20.0):
    def stopped():
        r = http.get(f"/pipelines/{name}", params={"selector": "status"})
        return r.status_code != 200 or r.json().get("deployment_status") == "Stopped"
    wait_until(stopped, timeout, f"pipeline {name} to stop")


@pytest.fixture
def new_pipeline(http):
    """Create (PUT) a pipeline without starting it; it is stopped and deleted afterwards."""
    made = []

    def make(sql: str, name: str | None = None, expect_status: str | None = "Success") -> str:
        name = name or f"p{uuid.uuid4().hex[:10]}"
        r = http.put(f"/pipelines/{name}", json={"name": name, "program_code": sql})
        assert r.status_code == 201, r.text
        if expect_status:  # the answer is the pipeline before it compiles (Feldera's); a read shows the result
            assert r.json()["program_status"] == "Pending", r.json()
            got = http.get(f"/pipelines/{name}").json()
            assert got["program_status"] == expect_status, got
        made.append(name)
        return name

    yield make
    for name in made:
        http.post(f"/pipelines/{name}/stop", params={"force": "true"})
        _wait_stopped(http, name)
        http.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
        http.delete(f"/pipelines/{name}")


@pytest.fixture
def egress(engine):
    """Open egress streams read by httpx in a thread: ``egress(pipeline, view, **params)``."""
    readers = []

    def open_(pipeline: str, view: str, method: str = "POST", **params) -> EgressReader:
        params.setdefault("format", "json")
        rd = EgressReader(engine.url + "/v0", pipeline, view, method, **params)
        readers.append(rd)
        return rd

    yield open_
    for rd in readers:
        rd.close()


@pytest.fixture
def raw_egress(engine):
    """Open egress streams on raw sockets with a small receive buffer: ``raw_egress(pipeline, view, **params)``."""
    socks = []

    def open_(pipeline: str, view: str, rcvbuf: int = 4096, **params) -> RawEgress:
        s = RawEgress(engine.url, pipeline, view, rcvbuf, **params)
        socks.append(s)
        return s

    yield open_
    for s in socks:
        s.close()
