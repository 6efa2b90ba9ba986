"""Screenshots of the main pages for the docs, taken from a real ``sluice up`` (engine, dashboard, demo data).

    .venv/bin/python tests/browser/take_screenshots.py          # writes docs/screenshots/*.png
    .venv/bin/python tests/browser/take_screenshots.py query program-error   # only those
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from webapp.engine.testing import EngineProcess  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
ONLY = set(sys.argv[1:])  # names of the screenshots to write (without .png); none: all of them
BAD_PROGRAM = """-- Orders per hour, and the big ones.
CREATE TABLE orders (
    order_id BIGINT NOT NULL PRIMARY KEY,
    amount DECIMAL(10, 2) NOT NULL,
    placed_at TIMESTAMP NOT NULL
) WITH ('materialized' = 'true');

CREATE MATERIALIZED VIEW per_hour AS
    SELECT HOUR(placed_at) AS hour, COUNT(*) AS orders, SUM(ammount) AS revenue
    FROM orders
    GROUP BY HOUR(placed_at);
"""
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def shot(page, name: str, **kw) -> None:
    if not ONLY or name in ONLY:
        page.screenshot(path=str(OUT / f"{name}.png"), **kw)


def pages_for_data(page, dash: str) -> None:
    """Data entry (a field error showing), the query page with a result, and the program editor."""
    from playwright.sync_api import expect
    page.goto(dash + "/pipelines/demo/tables/orders")
    expect(page.locator(".panel .conn-badge").first).to_have_text("live")
    inputs = page.locator("table.entry-grid tbody tr").first.locator("input:not([type=checkbox])")
    for i, value in enumerate(["9001", "2", "12.345", "2026-12-01 10:00:00"]):
        inputs.nth(i).fill(value)
        inputs.nth(i).blur()
    page.wait_for_timeout(300)
    shot(page, "data-entry")
    page.goto(dash + "/pipelines/demo/query")
    page.locator("#sql .cm-content").click()
    for sql in ("SELECT count(*) AS orders FROM orders", "SELECT city, orders, revenue\nFROM city_totals\nORDER BY revenue DESC"):
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(sql)
        page.keyboard.press("Control+Enter")
        page.locator("#result-body tr").first.wait_for()
    page.click("#history summary")
    page.mouse.click(5, 5)  # focus off the editor
    page.wait_for_timeout(300)
    shot(page, "query")
    page.goto(dash + "/pipelines/demo/program")
    page.wait_for_timeout(500)
    shot(page, "program")
    page.goto(dash + "/pipelines/new")
    page.fill("#name", "orders_per_hour")
    page.locator("#code .cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(BAD_PROGRAM)
    page.click("#save")
    page.locator("#errors li").first.wait_for()
    page.locator("#code .cm-lintRange-error").first.hover()
    page.locator(".cm-tooltip-lint").wait_for()
    page.wait_for_timeout(300)
    shot(page, "program-error")


def page_for_watching(page, dash: str) -> None:
    """A live view with its change log from the oldest change held, a watch that has fired and a chart."""
    from playwright.sync_api import expect
    page.goto(dash + "/pipelines/demo/views/city_totals?city_totals.mode=log&city_totals.from=oldest"
                     "&city_totals.chart=revenue:sum")
    panel = page.locator('.panel[data-view="city_totals"]')
    expect(panel.locator(".conn-badge")).to_have_text("live")
    most = panel.evaluate("(n) => Math.max(0, ...[...window.sluiceLive.panels[0].model.rows.values()]"
                          ".map((e) => Number(e.row.orders)))")
    panel.locator("button.watch").click()
    panel.locator(".watch-column").select_option("orders")
    panel.locator(".watch-condition").fill(f">{most}")
    panel.locator(".watch-name").fill("busiest city")
    panel.locator(".watch-form button[type=submit]").click()
    page.locator("#notices .notice").first.wait_for(timeout=60000)
    page.wait_for_timeout(1500)
    shot(page, "watch")


HISTORY_SECS = 150  # samples gathered before the history page is taken (it shows the 5-minute range)


def pages_for_observing(page, dash: str, engine: str, started: float) -> None:
    """The logs page after a pause, a resume and a checkpoint (health events beside the log), and the
    history page once the sampler has gathered a few minutes."""
    import httpx
    from playwright.sync_api import expect
    if ONLY and not ONLY & {"logs", "history"}:
        return
    with httpx.Client(base_url=engine + "/v0", timeout=30) as http:
        for step in ("pause", "resume"):
            http.post("/pipelines/demo/" + step).raise_for_status()
            time.sleep(2)  # each state seen by the sampler (every second here) as its own event
        http.post("/pipelines/demo/checkpoint").raise_for_status()
    page.goto(dash + "/pipelines/demo/logs")
    expect(page.locator("#conn")).to_have_text("live")
    page.locator('#event-list b[data-kind="checkpoint"]').first.wait_for(timeout=20000)
    expect(page.locator('#event-list b[data-kind="resumed"]')).to_have_count(1)
    page.screenshot(path=str(OUT / "logs.png"))
    time.sleep(max(0.0, HISTORY_SECS - (time.monotonic() - started)))
    page.goto(dash + "/pipelines/demo/history?range=5m")
    expect(page.locator('#pipeline-charts canvas[data-series="throughput"]')).not_to_have_attribute("data-points", "0")
    page.wait_for_timeout(500)
    page.screenshot(path=str(OUT / "history.png"), full_page=True)


def main() -> None:
    from playwright.sync_api import expect, sync_playwright
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, \
            EngineProcess(Path(tmp) / "data", "--port", "0", command="up",
                          env={"SLUICE_DEMO_RATE": "4", "SLUICE_HISTORY_INTERVAL": "1"}) as eng:
        started = time.monotonic()
        deadline = time.monotonic() + 30
        while not (m := re.search(r"Open the dashboard: (http://\S+?)/?\s", eng.log)):
            assert time.monotonic() < deadline, eng.log
            time.sleep(0.1)
        dash = m.group(1)
        engine = re.search(r"Demo pipeline 'demo': (http://\S+?)/v0/", eng.log).group(1)
        time.sleep(8)  # let the generator fill the tables and the statistics gather samples
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for scheme in ("light", "dark"):
                page = browser.new_page(viewport={"width": 1360, "height": 860}, color_scheme=scheme)
                suffix = "" if scheme == "light" else "-dark"
                page.goto(dash + "/")
                expect(page.locator('tr[data-pipeline="demo"] td.num')).not_to_have_text("–")
                shot(page, f"pipelines{suffix}")
                page.goto(dash + "/pipelines/demo")
                expect(page.locator('[data-stat="steps"]')).not_to_have_text("–")
                page.wait_for_timeout(2500)
                shot(page, f"pipeline{suffix}", full_page=True)
                page.goto(dash + "/pipelines/demo/views/order_details?order_details.sort=-order_id")
                expect(page.locator("#conn")).to_have_text("live")
                page.locator("td.changed, tr.flash").first.wait_for(timeout=20000)
                shot(page, f"view{suffix}")
                page.goto(dash + "/pipelines/demo/live?views=city_totals,big_orders"
                                 "&big_orders.mode=log&city_totals.sort=-revenue")
                expect(page.locator("#conn")).to_have_text("live")
                page.locator('.panel[data-view="big_orders"] tr.row').first.wait_for(timeout=20000)
                page.wait_for_timeout(1500)
                shot(page, f"side-by-side{suffix}")
                if scheme == "light":
                    pages_for_data(page, dash)
                    page_for_watching(page, dash)
                    pages_for_observing(page, dash, engine, started)
                page.close()
            browser.close()
    for p in sorted(OUT.glob("*.png")):
        print(p.relative_to(ROOT))


if __name__ == "__main__":
    main()
