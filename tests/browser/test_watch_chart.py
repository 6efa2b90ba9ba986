"""Watches and the live chart on a live view, in real Chromium against the real engine and the dashboard
under gunicorn: a saved watch fires when a row starts and stops matching (not when a matching row changes),
with a notice and a note in the change log, and survives a reload; a chart of a column's sum follows the
view and its choice is kept in the URL."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .support import SQL, push, row
from .test_live_view import open_view


def test_watch_fires_on_start_and_stop_and_is_kept(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": 2, "name": "small", "n": 5}}])
    panel = open_view(page, proxy.url, p)
    expect(row(panel, 2)).to_have_count(1)
    panel.locator("button.watch").click()
    panel.locator(".watch-column").select_option("n")
    panel.locator(".watch-condition").fill(">50")
    panel.locator(".watch-name").fill("big n")
    panel.locator(".watch-form button[type=submit]").click()
    chip = panel.locator('.watch-chip[data-watch="big n"]')
    expect(chip.locator(".watch-matching")).to_have_text("0 match")

    push(http, p, "t", [{"insert": {"id": 1, "name": "one", "n": 60}}])
    expect(page.locator("#notices")).to_contain_text('watch "big n": id=1 started matching n > 50')
    expect(chip.locator(".watch-matching")).to_have_text("1 match")
    push(http, p, "t", [{"insert": {"id": 1, "name": "one", "n": 70}}])  # still matching: no event
    push(http, p, "t", [{"insert": {"id": 1, "name": "one", "n": 10}}])  # stops matching
    expect(page.locator("#notices")).to_contain_text('watch "big n": id=1 stopped matching n > 50')
    expect(chip.locator(".watch-matching")).to_have_text("0 match")
    expect(chip).to_contain_text("2 events")  # the update from 60 to 70 was neither a start nor a stop

    panel.locator(".seg[data-mode=log]").click()
    expect(panel.locator("tr.row", has_text="started matching")).to_have_count(1)
    expect(panel.locator("tr.row", has_text="stopped matching")).to_have_count(1)

    page.reload()
    chip = panel.locator('.watch-chip[data-watch="big n"]')
    expect(chip.locator(".watch-matching")).to_have_text("0 match")  # saved in this browser, running again
    push(http, p, "t", [{"insert": {"id": 3, "name": "three", "n": 99}}])
    expect(page.locator("#notices")).to_contain_text('watch "big n": id=3 started matching n > 50')
    chip.locator(".watch-remove").click()
    expect(chip).to_have_count(0)
    page.reload()
    expect(panel.locator(".watch-chip")).to_have_count(0)


def test_live_chart_follows_a_column_and_is_kept_in_the_url(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": 1, "name": "a", "n": 10}}, {"insert": {"id": 2, "name": "b", "n": 5}}])
    panel = open_view(page, proxy.url, p)
    expect(panel).to_have_attribute("data-rows", "2")
    panel.locator("button.chart").click()
    box = panel.locator(".chart-box")
    expect(box).to_be_visible()
    box.locator(".chart-column").select_option("n")
    box.locator(".chart-measure").select_option("sum")
    expect(box).to_have_attribute("data-value", "15")
    push(http, p, "t", [{"insert": {"id": 3, "name": "c", "n": 30}}])
    expect(box).to_have_attribute("data-value", "45")
    box.locator(".chart-measure").select_option("max")
    expect(box).to_have_attribute("data-value", "30")
    expect(page).to_have_url(re.compile(r"v\.chart=n(%3A|:)max"))
    page.reload()
    box = panel.locator(".chart-box")
    expect(box).to_be_visible()
    expect(box).to_have_attribute("data-value", "30")
    expect(box.locator(".chart-column")).to_have_value("n")
