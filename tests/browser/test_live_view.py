"""The live view page in real Chromium, against the real engine and the dashboard under gunicorn."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .support import SQL, cell, grid_rows, push, query, row, rows_text

COLS = ["id", "name", "n"]


def open_view(page, base, pipeline, view="v", query_string=""):
    page.goto(f"{base}/pipelines/{pipeline}/views/{view}{query_string}")
    expect(page.locator("#conn")).to_have_text("live")
    panel = page.locator(f'.panel[data-view="{view}"]')
    expect(panel.locator(".conn-badge")).to_have_text("live")
    return panel


def test_rows_appear_upserts_highlight_deletes_remove(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": 1, "name": "one", "n": 10}}])
    panel = open_view(page, proxy.url, p)
    expect(row(panel, 1)).to_have_count(1)
    push(http, p, "t", [{"insert": {"id": 2, "name": "two", "n": 20}}, {"insert": {"id": 3, "name": "three", "n": 30}}])
    expect(row(panel, 2)).to_have_count(1)
    expect(row(panel, 3)).to_have_count(1)
    expect(row(panel, 3)).to_have_class(re.compile(r"\bflash\b"))  # new rows flash
    push(http, p, "t", [{"insert": {"id": 2, "name": "two", "n": 99}}])  # an upsert by primary key
    expect(cell(panel, 2, "n")).to_have_text("99")
    expect(row(panel, 2)).to_have_count(1)  # one updated row, not a delete and an insert
    expect(cell(panel, 2, "n")).to_have_class(re.compile(r"\bchanged\b"))
    expect(cell(panel, 2, "name")).not_to_have_class(re.compile(r"\bchanged\b"))
    push(http, p, "t", [{"delete": {"id": 3}}])
    expect(row(panel, 3)).to_have_count(0)
    expect(panel).to_have_attribute("data-rows", "2")
    expect(panel.locator(".count-changes")).not_to_have_text("0")
    assert grid_rows(page, "v", COLS) == rows_text(query(http, p, "SELECT * FROM v"), COLS)


def test_hostile_string_shows_as_text(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    evil = "<img src=x onerror=alert(1)>"
    push(http, p, "t", [{"insert": {"id": 1, "name": evil, "n": 1}}])
    panel = open_view(page, proxy.url, p)
    expect(cell(panel, 1, "name")).to_have_text(evil)
    push(http, p, "t", [{"insert": {"id": 2, "name": "<b>bold</b><script>alert(2)</script>", "n": 2}}])
    expect(cell(panel, 2, "name")).to_have_text("<b>bold</b><script>alert(2)</script>")
    panel.locator(".seg[data-mode=log]").click()  # the change log renders as text too
    expect(panel.locator('tr.row td[data-col="name"]')).to_have_text(["<b>bold</b><script>alert(2)</script>"])
    assert page.locator("table.grid img, table.grid td b, table.grid script").count() == 0
    page.wait_for_timeout(200)  # deliberate idle time: an injected handler would fire an alert() by now
    assert page.dialogs == []


def test_cut_connection_shows_reconnecting_and_catches_up(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": i, "name": f"r{i}", "n": i}} for i in range(1, 4)])
    panel = open_view(page, proxy.url, p)
    expect(panel).to_have_attribute("data-rows", "3")
    proxy.block()
    proxy.cut()  # from outside the browser: its sockets close under it
    try:
        expect(page.locator("#conn")).to_have_text("reconnecting")
        expect(panel.locator(".conn-badge")).to_have_text("reconnecting")
        for i in range(10, 20):  # changes while the browser is away
            push(http, p, "t", [{"insert": {"id": i, "name": f"r{i}", "n": i}}])
        push(http, p, "t", [{"delete": {"id": 1}}, {"insert": {"id": 2, "name": "changed", "n": 2}}])
        expect(row(panel, 1)).to_have_count(1)  # stale data stays on screen meanwhile
    finally:
        proxy.unblock()
    expect(page.locator("#conn")).to_have_text("live")
    want = query(http, p, "SELECT * FROM v")
    expect(panel).to_have_attribute("data-rows", str(len(want)))
    expect(row(panel, 19)).to_have_count(1)
    expect(row(panel, 1)).to_have_count(0)
    expect(cell(panel, 2, "name")).to_have_text("changed")
    assert grid_rows(page, "v", COLS) == rows_text(want, COLS)


def test_reload_shows_current_state(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": i, "name": f"r{i}", "n": i}} for i in range(1, 6)])
    panel = open_view(page, proxy.url, p)
    expect(panel).to_have_attribute("data-rows", "5")
    push(http, p, "t", [{"delete": {"id": 1}}, {"insert": {"id": 6, "name": "six", "n": 6}}])
    expect(row(panel, 6)).to_have_count(1)
    page.reload()
    panel = page.locator('.panel[data-view="v"]')
    expect(page.locator("#conn")).to_have_text("live")
    expect(panel).to_have_attribute("data-rows", "5")
    expect(row(panel, 1)).to_have_count(0)
    assert grid_rows(page, "v", COLS) == rows_text(query(http, p, "SELECT * FROM v"), COLS)


def test_a_view_the_pipeline_does_not_have_is_not_an_outage(page, proxy, make_pipeline):
    p = make_pipeline(SQL)
    resp = page.goto(f"{proxy.url}/pipelines/{p}/views/nosuch")
    assert resp.status == 404
    panel = page.locator('.panel[data-view="nosuch"]')
    expect(panel.locator(".conn-badge")).to_have_text("not found")
    expect(panel.locator(".flag.bad")).to_contain_text(f"pipeline '{p}' has no table or view named 'nosuch'")
    expect(panel.locator(".others a")).to_have_text(["t", "v", "big"])
    assert panel.locator(".others a", has_text="big").get_attribute("href") == f"/pipelines/{p}/views/big"
    expect(page.locator("#conn")).to_have_text("live")  # the dashboard and the server both answer
    expect(page.locator("body")).not_to_contain_text("upstream down")


def test_ndjson_fallback_shows_the_same_table(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": i, "name": f"r{i}", "n": i}} for i in range(1, 4)])
    panel = open_view(page, proxy.url, p, query_string="?transport=ndjson")
    assert page.evaluate("window.sluiceLive.conn.transport") == "ndjson"
    expect(panel).to_have_attribute("data-rows", "3")
    push(http, p, "t", [{"insert": {"id": 2, "name": "two", "n": 77}},
                        {"insert": {"id": 9, "name": "x" * 3000, "n": 9}}])
    expect(cell(panel, 2, "n")).to_have_text("77")
    expect(cell(panel, 2, "n")).to_have_class(re.compile(r"\bchanged\b"))
    expect(row(panel, 9)).to_have_count(1)
    assert grid_rows(page, "v", COLS) == rows_text(query(http, p, "SELECT * FROM v"), COLS)


def test_views_side_by_side_with_state_in_the_url(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": i, "name": f"r{i}", "n": i * 20}} for i in range(1, 5)])
    page.goto(f"{proxy.url}/pipelines/{p}/live?views=v,big&big.mode=log&v.f.n=%3E30&v.sort=-n")
    expect(page.locator("#conn")).to_have_text("live")
    v, big = page.locator('.panel[data-view="v"]'), page.locator('.panel[data-view="big"]')
    expect(v).to_have_attribute("data-rows", "3")  # the filter n > 30, applied in the hub
    expect(v.locator('input.filter[data-col="n"]')).to_have_value(">30")
    expect(v.locator("tr.row td[data-col='id']").first).to_have_text("4")  # sorted by n, descending
    expect(big).to_have_attribute("data-mode", "log")
    expect(big.locator(".flag.info", has_text="not materialized")).to_have_count(1)
    expect(big.locator(".flag.info", has_text="the dashboard holds")).to_have_count(1)  # how far its log reaches
    push(http, p, "t", [{"insert": {"id": 7, "name": "seven", "n": 95}}])
    expect(big.locator("tr.row .badge.insert")).to_have_count(1)
    expect(v.locator("tr.row td[data-col='id']").first).to_have_text("7")
    v.locator("button.sort[data-col='id']").click()  # now by id, ascending
    expect(page).to_have_url(re.compile(r"v\.sort=id"))
    page.reload()
    v = page.locator('.panel[data-view="v"]')
    expect(page.locator(".panel")).to_have_count(2)
    expect(page.locator('.panel[data-view="big"]')).to_have_attribute("data-mode", "log")
    expect(v.locator("tr.row td[data-col='id']").first).to_have_text("2")
    expect(v).to_have_attribute("data-rows", "4")


def test_upstream_gap_shows_a_resync_and_the_right_table(page):
    """A Feldera-shaped upstream (no key reported, no processed_steps) drops a chunk."""
    from dashboard.fake_feldera import FakeFeldera, View

    from webapp.dashboard.testing import DashboardProcess

    from .conftest import TEST_SETTINGS
    fake = FakeFeldera({"v": View(["k", "x"], True, [{"k": "1", "x": "a"}])}, processed_steps=False,
                       sluice_extension=False)
    url = fake.serve()
    try:
        with DashboardProcess(url, settings=TEST_SETTINGS) as dash:
            panel = open_view(page, dash.url, "p")
            expect(panel.locator(".key-select")).to_have_value("[]")  # no key from Feldera: the whole row
            expect(panel).to_have_attribute("data-rows", "1")
            fake.step("v", [{"insert": {"k": "2", "x": "b"}}])
            expect(panel).to_have_attribute("data-rows", "2")
            fake.drop_next("v")
            fake.step("v", [{"insert": {"k": "3", "x": "lost on the way"}}])
            fake.step("v", [{"delete": {"k": "1", "x": "a"}}])
            expect(panel.locator(".count-resyncs")).to_have_text("1")
            expect(panel).to_have_attribute("data-rows", "2")
            expect(panel.locator('tr.row td[data-col="x"]')).to_have_text(["b", "lost on the way"])
    finally:
        fake.close()
