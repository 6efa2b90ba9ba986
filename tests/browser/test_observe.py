"""The logs page (streamed through the dashboard, level filter, search, bounded) and the history page
(stored samples as charts over a chosen range, health events), in Chromium against the real processes."""

from __future__ import annotations

import html
import re

import httpx
from playwright.sync_api import expect

from webapp.engine.testing import wait_status

from .support import SQL, push


def test_logs_page_streams_new_lines_filters_and_keeps_a_bounded_tail(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}/logs")
    expect(page.locator("#conn")).to_have_text("live")
    entries = page.locator("#log .log-entry")
    expect(entries.filter(has_text="-> Running").first).to_be_attached()
    expect(page.locator('#event-list b[data-kind="started"]')).to_have_count(1)  # seen by the sampler
    # Lines logged while the page is open arrive without a reload.
    http.post(f"/pipelines/{p}/pause")
    wait_status(http, p, "Paused")
    expect(entries.filter(has_text="Running -> Paused")).to_have_count(1)
    page.locator("#log-search").fill("running -> paused")
    expect(page.locator("#log .log-entry:not([hidden])")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"[?&]q=running"))
    page.locator("#log-search").fill("")
    page.locator("#log-level").select_option("error")
    expect(page.locator("#log .log-entry:not([hidden])")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"[?&]level=error"))
    # The page keeps LOG_PAGE_LINES (6 in these tests): a few more status changes push the oldest out.
    for step, status in (("resume", "Running"), ("pause", "Paused"), ("resume", "Running")):
        http.post(f"/pipelines/{p}/{step}")
        wait_status(http, p, status)
    expect(page.locator("#log-count")).not_to_have_attribute("data-dropped", "0")
    assert entries.count() <= 6


def test_history_page_charts_the_stored_samples_over_a_chosen_range(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": i, "name": "x", "n": i}} for i in range(20)])
    page.goto(f"{proxy.url}/pipelines/{p}/history?range=5m")
    expect(page.locator("#history-note")).to_have_attribute("data-samples", re.compile(r"^([3-9]|\d\d+)$"))
    chart = page.locator('#pipeline-charts canvas[data-series="throughput"]')
    clock_ticks = re.compile(r"^\d\d?:\d\d[^,]*(, \d\d?:\d\d[^,]*){2,}$")  # at least 3 clock times, round ones
    expect(chart).to_have_attribute("data-time-ticks", clock_ticks)
    expect(chart).to_have_attribute("data-ticks", re.compile(r"^0 "))
    memory = page.locator('#pipeline-charts canvas[data-series="memory"]')
    expect(memory).to_have_attribute("data-ticks", re.compile(r"^0 B .*[kMG]B$"))  # bytes read as bytes
    expect(page.locator('#table-charts .relation[data-relation="t"] canvas')).to_have_count(2)
    expect(page.locator('#view-charts .relation[data-relation="v"] canvas')).to_have_count(2)
    expect(page.locator('#event-list b[data-kind="started"]')).to_have_count(1)
    page.locator('.ranges a[data-range="1h"]').click()
    expect(page).to_have_url(re.compile(r"range=1h$"))
    expect(page.locator('.ranges a[aria-current]')).to_have_text("1 hour")
    expect(chart).to_have_attribute("data-time-ticks", re.compile(r"^\d\d?:[0-5]0[^,]*(, \d\d?:[0-5]0[^,]*){2,}$"))
    bad = httpx.get(f"{proxy.url}/pipelines/{p}/history?range=2d")
    assert bad.status_code == 400 and "unknown range '2d'" in html.unescape(bad.text)


def test_logs_page_resumes_from_its_last_line_after_the_connection_drops(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}/logs")
    entries = page.locator("#log .log-entry")
    expect(entries.filter(has_text="-> Running")).to_have_count(1)
    held = entries.count()
    proxy.cut()  # every connection between the browser and the dashboard, from outside the browser
    expect(page.locator("#conn")).to_have_attribute("data-connects", "2")
    http.post(f"/pipelines/{p}/pause")
    wait_status(http, p, "Paused")
    expect(entries.filter(has_text="Running -> Paused")).to_have_count(1)
    assert entries.count() == held + 1  # nothing read before the drop came again
