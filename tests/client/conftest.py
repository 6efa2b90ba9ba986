"""Fixtures for the client tests: a server URL (``SLUICE_TEST_URL``, else a real engine process) and pipelines.

    SLUICE_TEST_URL=http://feldera:8080 pytest tests/client      # any Feldera-compatible server
    pytest tests/client                                           # starts `sluice engine` on a free port

The API key, if the server wants one, comes from ``SLUICE_API_KEY`` or ``FELDERA_API_KEY`` as usual.
"""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

from webapp.client import Client, SluiceError

# One program for every documentation snippet, so a real Feldera compiles it once (it caches by SQL).
DOCS_SQL = """\
CREATE TABLE users (
    id INT NOT NULL PRIMARY KEY,
    name VARCHAR,
    age INT
) WITH ('materialized' = 'true');

CREATE MATERIALIZED VIEW user_stats AS
    SELECT name, COUNT(*) AS visits FROM users GROUP BY name;

CREATE TABLE events (
    user_id INT,
    action VARCHAR
) WITH ('materialized' = 'true');

CREATE MATERIALIZED VIEW event_summary AS
    SELECT action, COUNT(*) AS n FROM events GROUP BY action;

CREATE TABLE typed (
    id BIGINT NOT NULL PRIMARY KEY,
    name VARCHAR,
    ts TIMESTAMP,
    d DATE,
    t TIME,
    amount DECIMAL(12, 2),
    score DOUBLE,
    ok BOOLEAN
) WITH ('materialized' = 'true');

CREATE MATERIALIZED VIEW typed_v AS SELECT * FROM typed;
"""


@pytest.fixture(scope="session")
def server_url(request) -> str:
    url = os.environ.get("SLUICE_TEST_URL")
    if url:
        return url.rstrip("/")
    return request.getfixturevalue("engine").url


@pytest.fixture(scope="session")
def is_sluice(server_url) -> bool:
    """True when the server is Sluice's engine (it reports ``sluice_version`` in /v0/config)."""
    with Client(server_url) as c:
        return "sluice_version" in c.config()


class Recorder(httpx.BaseTransport):
    """A real transport that also remembers every request it sent (method, path, params, body)."""

    def __init__(self):
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

    def ingress(self) -> list[httpx.Request]:
        return [r for r in self.requests if "/ingress/" in r.url.path]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(server_url, recorder):
    with Client(server_url, transport=recorder, wait_timeout=120) as c:
        yield c


@pytest.fixture
def docs_sql() -> str:
    return DOCS_SQL


@pytest.fixture
def make_pipeline(client):
    """``make_pipeline(sql=DOCS_SQL)`` creates a pipeline with a fresh name (not started); removed afterwards."""
    made = []

    def make(sql: str = DOCS_SQL):
        p = client.create_pipeline(f"client-{uuid.uuid4().hex[:10]}", sql)
        made.append(p)
        return p

    yield make
    for p in made:
        try:
            p.stop(force=True, timeout_s=30)
            p.delete(clear_storage=True)
        except SluiceError:
            pass


@pytest.fixture
def pipeline(make_pipeline):
    """The documentation's ``pipeline``: the DOCS_SQL program, created and not yet started."""
    return make_pipeline()
