"""The dashboard under real gunicorn (gevent), against the session's real engine, on ephemeral ports."""

from __future__ import annotations

import pytest

from webapp.dashboard.testing import DashboardProcess

TEST_SETTINGS = {"BATCH_MS": 20, "FEED_LINGER": 5, "RETRY_MAX": 1, "SNAPSHOT_QUIET_MS": 150, "DEMO_PIPELINE": ""}


@pytest.fixture(scope="session")
def dashboard(engine):
    with DashboardProcess(engine.url, settings=TEST_SETTINGS) as dash:
        yield dash
