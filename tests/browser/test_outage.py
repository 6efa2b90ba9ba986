"""What pages say while the pipeline server is down, under ``sluice up``: the engine is killed, pages say
"unreachable" (not a green "Running"), ``sluice up`` brings it back, and pages recover by themselves with no
stale error left; the change log marks where step numbers start again."""

from __future__ import annotations

import os
import signal

import httpx
import pytest
from playwright.sync_api import expect

from webapp.engine.testing import EngineProcess


@pytest.fixture
def up(tmp_path):
    with EngineProcess(tmp_path / "data", "--port", "0", "--no-demo-data", command="up",
                       env={"SLUICE_RETRY_MAX": "1"}) as proc:
        yield proc


DASHBOARD_URL = r"Open the dashboard: (http://\S+?)/?\s"


def test_an_engine_outage_is_shown_and_clears(up, page, browser):
    dash = up.wait_for_output(DASHBOARD_URL).group(1)
    # Some steps first, so the restarted engine's step numbers are visibly lower.
    for i in range(3):
        r = httpx.post(f"{up.url}/v0/pipelines/demo/ingress/orders", params={"format": "json", "update_format": "raw"},
                       json={"order_id": 900 + i, "customer_id": 1, "amount": "150.00",
                             "placed_at": "2026-12-01 10:00:00"})
        assert r.status_code == 200, r.text

    page.goto(f"{dash}/pipelines/demo")
    status = page.locator("#status")
    expect(status).to_have_text("Running")
    live = page.context.new_page()
    live.goto(f"{dash}/pipelines/demo/views/big_orders?big_orders.mode=log")
    expect(live.locator("#conn")).to_have_text("live")
    expect(live.locator(".panel .conn-badge")).to_have_text("live")
    index = page.context.new_page()
    index.goto(f"{dash}/")
    row_badge = index.locator('tr[data-pipeline="demo"] .badge')
    expect(row_badge).to_have_text("Running")

    os.kill(up.proc.pid, signal.SIGSTOP)  # hold sluice up, so the outage lasts until we let it go
    try:
        os.kill(up.child_pid("engine"), signal.SIGKILL)
        expect(status).to_have_text("unreachable")
        expect(page.locator("#outage-text")).to_contain_text("is not answering; retrying in")
        expect(page.locator("#outage-text")).to_contain_text(up.url)
        expect(page.locator("#outage-details")).to_be_visible()
        for action in ("pause", "stop"):
            expect(page.locator(f"button[data-action={action}]")).to_be_disabled()
        # The live page's header agrees with its panel: not "live" while the upstream is down.
        expect(live.locator(".panel .conn-badge")).to_have_text("upstream down")
        expect(live.locator("#conn")).to_have_text("upstream down")
        expect(row_badge).to_have_text("unreachable")
        expect(index.locator("#pipelines-error")).to_contain_text("is not answering; retrying in")
    finally:
        os.kill(up.proc.pid, signal.SIGCONT)

    expect(status).to_have_text("Running", timeout=60_000)  # sluice up restarted the engine
    expect(page.locator("#outage")).to_be_hidden()
    expect(page.locator("#deployment-error")).to_be_hidden()
    expect(page.locator("#action-note")).to_have_text("")
    expect(page.locator("button[data-action=pause]")).to_be_enabled()
    expect(page.locator("#restart-note")).to_contain_text("statistics and step numbers start again")
    expect(live.locator("#conn")).to_have_text("live", timeout=60_000)
    expect(live.locator(".panel .conn-badge")).to_have_text("live")
    expect(row_badge).to_have_text("Running")
    expect(index.locator("#pipelines-error")).to_be_hidden()
    marker = live.locator('.panel tr[data-kind="marker"]')
    expect(marker).to_have_count(1)
    expect(marker).to_contain_text("the pipeline restarted upstream")
    assert "restarting it in 1 s" in up.log


def test_an_unknown_pipeline_is_a_404_page(up, page):
    resp = page.goto(f"{up.wait_for_output(DASHBOARD_URL).group(1)}/pipelines/nope")
    assert resp.status == 404
    expect(page.locator("#missing")).to_contain_text("no pipeline named 'nope'")
    expect(page.locator("button[data-action]")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("cannot reach")
