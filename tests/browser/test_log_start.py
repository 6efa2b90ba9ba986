"""Where a view's change log starts (issue: "choose where a stream starts"), in real Chromium against the
real engine and the dashboard under gunicorn: from the oldest change the dashboard holds, the newest N,
from now, since a time; the choice is in the URL and a reload keeps the log."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .support import SQL, push, row
from .test_live_view import open_view


def log_ids(panel):
    return panel.locator('tr.row td[data-col="id"]')


def test_change_log_starts_where_chosen_and_a_reload_keeps_it(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    panel = open_view(page, proxy.url, p)  # the dashboard follows the view from here on
    for i in (1, 2, 3):  # three steps
        push(http, p, "t", [{"insert": {"id": i, "name": f"r{i}", "n": i}}])
        expect(row(panel, i)).to_have_count(1)

    panel = open_view(page, proxy.url, p, query_string="?v.mode=log&v.from=oldest")
    expect(log_ids(panel)).to_have_text(["3", "2", "1"])  # newest first, none lost to the new page
    expect(panel.locator(".flags")).to_contain_text("the dashboard holds changes since")
    page.reload()
    expect(log_ids(panel)).to_have_text(["3", "2", "1"])

    panel = open_view(page, proxy.url, p, query_string="?v.mode=log&v.from=last:2")
    expect(log_ids(panel)).to_have_text(["3", "2"])

    panel.locator(".from-select").select_option("now")  # an empty log, then only what comes next
    expect(log_ids(panel)).to_have_count(0)
    expect(page).to_have_url(re.compile(r"v\.from=since%3A\d+|v\.from=since:\d+"))
    push(http, p, "t", [{"insert": {"id": 4, "name": "r4", "n": 4}}])
    expect(log_ids(panel)).to_have_text(["4"])
    page.reload()
    expect(log_ids(panel)).to_have_text(["4"])

    # A plain change-log page records when it began, so its reload keeps what it showed too.
    panel = open_view(page, proxy.url, p, query_string="?v.mode=log")
    expect(page).to_have_url(re.compile(r"v\.from=since"))
    push(http, p, "t", [{"insert": {"id": 5, "name": "r5", "n": 5}}])
    expect(log_ids(panel)).to_have_text(["5"])
    page.reload()
    expect(log_ids(panel)).to_have_text(["5"])
    # Back to the table: the rows are all there whatever the log shows.
    panel.locator(".seg[data-mode=state]").click()
    expect(panel).to_have_attribute("data-rows", "5")
