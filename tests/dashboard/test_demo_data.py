"""The demo generator against the real engine: it changes and deletes only the orders it placed, so
rows a user entered survive however long it runs, and a restart (a new generator) finds its own again."""

from __future__ import annotations

import json

import pytest

from webapp.dashboard import demo_data
from webapp.dashboard.demo_data import DemoGenerator
from webapp.dashboard.upstream import Upstream
from webapp.demo import DEMO_SQL
from webapp.engine.testing import push_and_wait, wait_until

USER_ROWS = [{"order_id": i, "customer_id": 1, "amount": "7.00", "placed_at": "2026-12-01 10:00:00"}
             for i in (1, 2, 3, 999_999)]


def _run(gen: DemoGenerator, pushes: int) -> None:
    start = gen.pushed
    gen.set_enabled(True)
    wait_until(lambda: gen.pushed >= start + pushes, 60, f"{pushes} demo changes")
    gen.set_enabled(False)
    wait_until(lambda: gen.parked, 10, "the generator to stop")


@pytest.fixture
def keep_few(monkeypatch):
    monkeypatch.setattr(demo_data, "KEEP", 5)  # deletes start after a few orders, not sixty


def test_user_rows_survive_the_generator_and_its_restart(engine, http, make_pipeline, keep_few):
    name = make_pipeline(DEMO_SQL)
    push_and_wait(http, name, "orders", [{"insert": r} for r in USER_ROWS])
    up = Upstream(engine.url)
    try:
        first = DemoGenerator(up, name, rate=500, enabled=False)
        _run(first, 40)
        again = DemoGenerator(up, name, rate=500, enabled=False)  # as after a restart of `sluice up`
        _run(again, 40)
        def processed():
            gm = http.get(f"/pipelines/{name}/stats").json()["global_metrics"]
            return gm["total_processed_records"] == gm["total_input_records"]
        wait_until(processed, 10, "the generator's changes to be processed")
        r = http.get(f"/pipelines/{name}/query", params={"format": "json", "sql":
                     "SELECT order_id, amount = 7.00 AS unchanged FROM orders "
                     f"WHERE order_id <= {demo_data.FIRST_ID} ORDER BY order_id"})
        got = [json.loads(line) for line in r.text.splitlines() if line]
        assert got == [{"order_id": u["order_id"], "unchanged": True} for u in USER_ROWS]
        r = http.get(f"/pipelines/{name}/query", params={"format": "json", "sql":
                     f"SELECT count(*) AS n FROM orders WHERE order_id > {demo_data.FIRST_ID}"})
        assert 0 < r.json()["n"] <= demo_data.KEEP + 1, "the generator kept its own orders bounded"
    finally:
        up.close()
