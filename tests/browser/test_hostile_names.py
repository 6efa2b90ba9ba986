"""Hostile text in names, not only in values: table, column and view names, and a user name on the
sign-in page and in the page header, all render as text in real Chromium (no element made, no script run)."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from webapp.dashboard import auth
from webapp.dashboard.testing import DashboardProcess

from .conftest import TEST_SETTINGS
from .support import push, query

TABLE = "<img src=x onerror=alert(1)>"
COLUMN = "<b>c</b><script>alert(2)</script>"
VIEW = "v<svg onload=alert(3)>"


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


SQL = (f"CREATE TABLE {q(TABLE)} (id INT NOT NULL PRIMARY KEY, {q(COLUMN)} VARCHAR) WITH ('materialized' = 'true');\n"
       f"CREATE MATERIALIZED VIEW {q(VIEW)} AS SELECT id, {q(COLUMN)} FROM {q(TABLE)};\n")


def no_markup(page) -> None:
    # the page's own markup has none of these; the names would make them (and <b>c</b>, <i>y</i>)
    assert page.locator("main img, main svg, main script, main i").count() == 0
    assert page.locator('main b:text-is("c")').count() == 0
    # Deliberate idle time: nothing to await when checking that no injected handler fires (an alert());
    # the markup checks above are the condition, this gives a handler that slipped through a chance to show.
    page.wait_for_timeout(200)
    assert page.dialogs == []


def test_hostile_table_column_and_view_names_render_as_text(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, TABLE, [{"insert": {"id": 1, COLUMN: "x"}}])
    assert query(http, p, f"SELECT * FROM {q(VIEW)}") == [{"id": 1, COLUMN: "x"}]
    page.goto(f"{proxy.url}/pipelines/{p}")
    rels = page.locator("#relations-body")
    expect(rels.locator(f'tr[data-relation="{TABLE}"]')).to_have_count(1)
    expect(rels.locator(f'tr[data-relation="{VIEW}"] a').first).to_have_text(VIEW)
    expect(rels.locator("code", has_text=COLUMN).first).to_have_text(COLUMN)
    no_markup(page)
    rels.locator(f'tr[data-relation="{VIEW}"] a').first.click()
    panel = page.locator(".panel").first
    expect(panel.locator(".conn-badge")).to_have_text("live")
    expect(panel.locator("thead")).to_contain_text(COLUMN)
    expect(panel.locator("tr.row")).to_have_count(1)
    expect(page.locator("main")).to_contain_text(VIEW)
    push(http, p, TABLE, [{"insert": {"id": 2, COLUMN: "<i>y</i>"}}])
    expect(panel.locator("tr.row")).to_have_count(2)
    no_markup(page)


def test_sign_in_page_and_hostile_user_name(browser, engine, tmp_path):
    users = tmp_path / "users.json"
    evil = f"<img/src=x/onerror=alert({uuid.uuid4().int % 100})>"
    auth.add_user(users, evil, "viewer", "a-long-password")
    with DashboardProcess(engine.url, "--users-file", str(users), settings=TEST_SETTINGS) as dash:
        ctx = browser.new_context()
        page = ctx.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            page.goto(f"{dash.url}/pipelines/x")
            expect(page).to_have_url(f"{dash.url}/login?next=/pipelines/x")
            page.fill('input[name="username"]', evil)
            page.fill('input[name="password"]', "wrong password")
            page.click('form:not(#key-login) button[type="submit"]')
            expect(page.locator("#login-error")).to_have_text("wrong user name or password")
            expect(page.locator('input[name="username"]')).to_have_value(evil)  # kept, as text
            page.fill('input[name="password"]', "a-long-password")
            page.click('form:not(#key-login) button[type="submit"]')
            expect(page).to_have_url(f"{dash.url}/pipelines/x")
            expect(page.locator("#signed-in")).to_have_text(f"{evil} (viewer)")
            assert page.locator("header img").count() == 0
            page.goto(f"{dash.url}/login")
            page.fill('#key-login input[name="api_key"]', "sluice-not-a-key")
            page.click('#key-login button[type="submit"]')
            expect(page.locator("#login-error")).to_have_text("unknown API key")
            page.wait_for_timeout(200)  # deliberate idle time: a negative check, as in no_markup()
            assert dialogs == []
        finally:
            ctx.close()
