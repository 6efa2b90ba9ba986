"""The dashboard under real gunicorn (gevent), against the session's real engine, on ephemeral ports."""

from __future__ import annotations

import pytest

from webapp.dashboard.hub import Hub
from webapp.dashboard.settings import load
from webapp.dashboard.testing import DashboardProcess
from webapp.dashboard.upstream import Upstream

from .fake_feldera import FakeFeldera, View
from .hubsupport import FAST, Real, row

TEST_SETTINGS = {"BATCH_MS": 20, "FEED_LINGER": 5, "RETRY_MAX": 1, "SNAPSHOT_QUIET_MS": 150, "DEMO_PIPELINE": ""}


@pytest.fixture(scope="session")
def dashboard(engine):
    with DashboardProcess(engine.url, settings=TEST_SETTINGS) as dash:
        yield dash


@pytest.fixture
def make_hub():
    made = []

    def make(views=None, settings=None, **fake_kw):
        fake = FakeFeldera(views or {"v": View(["k", "x"], True, [row(1), row(2)], [["k"]])}, **fake_kw)
        up = Upstream("http://fake", transport=fake.transport())
        hub = Hub(up, load({**FAST, **(settings or {})}, environ={}))
        made.append((fake, hub))
        return fake, hub

    yield make
    for fake, hub in made:
        hub.close()
        fake.close()


@pytest.fixture
def real(http, engine):
    made = []

    def make(rows=(row(1), row(2)), settings=None, start=True) -> Real:
        made.append(Real(http, engine.url, settings, rows, start))
        return made[-1]

    yield make
    for r in made:
        r.hub.close()
        r.hub.upstream.close()  # the hub does not own it
        r.stop()
        http.post(f"/pipelines/{r.name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
        http.delete(f"/pipelines/{r.name}")
