"""Find and move fast: "/" focuses the global search over pipelines, tables and views (arrows and Enter open
a result), "?" lists the shortcuts, neither fires while typing in a field, and Enter in a data-entry field
inserts the form's rows."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from .support import query


def test_search_shortcuts_and_enter_to_insert(page, proxy, http, make_pipeline):
    uid = uuid.uuid4().hex[:8]
    table, view = f"tq{uid}", f"vq{uid}"
    p = make_pipeline(f"CREATE TABLE {table} (id INT NOT NULL PRIMARY KEY, name VARCHAR) WITH ('materialized' = 'true');\n"
                      f"CREATE MATERIALIZED VIEW {view} AS SELECT id, name FROM {table};\n")
    page.goto(proxy.url + "/")
    expect(page.locator("body")).to_have_attribute("data-keys", "ready")
    search = page.locator("#global-search")
    page.keyboard.press("/")
    expect(search).to_be_focused()
    page.keyboard.type(uid[:6])  # part of both names: the table and the view, by name
    results = page.locator("#search-results li[role=option]")
    expect(results).to_have_count(2)
    expect(results.nth(0)).to_contain_text(f"table · {p}")
    expect(results.nth(1)).to_contain_text(f"view · {p}")
    search.fill(view)
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{proxy.url}/pipelines/{p}/views/{view}")
    expect(page.locator("body")).to_have_attribute("data-keys", "ready")  # the page's scripts have run

    page.keyboard.press("/")
    page.keyboard.type(p)
    expect(results.first).to_contain_text("pipeline")
    page.keyboard.press("Escape")  # leaves the search, nothing opened
    expect(search).not_to_be_focused()
    expect(page.locator("#search-results")).to_be_hidden()

    page.keyboard.press("/")
    page.keyboard.type(uid)  # matches both; the arrows choose
    expect(results).to_have_count(2)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # wraps round to the first, the table
    expect(results.nth(0)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{proxy.url}/pipelines/{p}/tables/{table}")  # an editor goes to data entry
    expect(page.locator("body")).to_have_attribute("data-keys", "ready")

    page.keyboard.press("?")
    help_ = page.locator("dialog#shortcuts")
    expect(help_).to_be_visible()
    expect(help_).to_contain_text("search pipelines, tables and views")
    page.keyboard.press("Escape")
    expect(help_).to_be_hidden()

    panel = page.locator(f'.panel[data-view="{table}"]')
    expect(panel.locator(".conn-badge")).to_have_text("live")
    name = page.locator('#entry-body tr.entry-row:nth-child(1) td[data-field="name"] .entry-input')
    page.locator('#entry-body tr.entry-row:nth-child(1) td[data-field="id"] .entry-input').fill("7")
    name.click()
    page.keyboard.type("a/b?c")  # typed in a field: neither shortcut fires
    expect(name).to_have_value("a/b?c")
    expect(search).not_to_be_focused()
    expect(help_).to_be_hidden()
    page.keyboard.press("Enter")  # sends the form, as Insert
    expect(page.locator("#sub-state")).to_have_text("processed")
    assert query(http, p, f"SELECT id, name FROM {table}") == [{"id": 7, "name": "a/b?c"}]
    expect(panel).to_have_attribute("data-rows", "1")
