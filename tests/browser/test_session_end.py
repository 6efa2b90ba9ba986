"""A sign-in that ends while pages are open (the user removed from the users file as the dashboard runs):
the pipeline page and a live view say "signed out" with a link to sign in again that comes back to the page,
and stop polling and reconnecting, instead of "sign in first ... retrying" and "reconnecting" for ever."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from playwright.sync_api import expect

from webapp.dashboard import auth
from webapp.dashboard.testing import DashboardProcess

from .conftest import TEST_SETTINGS
from .support import SQL

PASSWORD = "a-long-password-1"


def sign_in(page, url: str, name: str) -> None:
    page.goto(url)
    page.fill('input[name="username"]', name)
    page.fill('input[name="password"]', PASSWORD)
    page.click('form:not(#key-login) button[type="submit"]')
    expect(page).to_have_url(url)


def test_a_page_whose_sign_in_ends_says_signed_out_and_stops(browser, engine, make_pipeline, tmp_path):
    p = make_pipeline(SQL)
    users = tmp_path / "users.json"
    name = f"ann{uuid.uuid4().hex[:6]}"
    auth.add_user(users, name, "editor", PASSWORD)
    with DashboardProcess(engine.url, "--users-file", str(users), settings=TEST_SETTINGS) as dash:
        ctx = browser.new_context()
        try:
            page = ctx.new_page()
            pipeline_url = f"{dash.url}/pipelines/{p}"
            sign_in(page, pipeline_url, name)
            expect(page.locator("#status")).to_have_text("Running")
            live = ctx.new_page()
            live_path = f"/pipelines/{p}/live?views=v"
            live.goto(dash.url + live_path)
            expect(live.locator("#conn")).to_have_text("live")

            assert auth.remove_user(users, name)
            # The open WebSocket is closed for the sign-in (1008); its reconnect's handshake is refused (401).
            expect(live.locator("#conn")).to_have_text("signed out")
            expect(live.locator(".panel .conn-badge")).to_have_text("signed out")
            link = live.locator("#signed-out a#sign-in-again")
            expect(link).to_have_attribute("href", f"/login?next={quote(live_path, safe='')}")
            assert live.evaluate("() => window.sluiceLive.conn.ended") is True  # no more reconnects
            expect(page.locator("#status")).to_have_text("signed out")
            expect(page.locator("#outage-text")).to_have_text("signed out: the status is no longer updated")
            expect(page.locator("#signed-out a#sign-in-again")).to_have_attribute(
                "href", f"/login?next={quote(f'/pipelines/{p}', safe='')}")
            for action in ("pause", "stop"):
                expect(page.locator(f"button[data-action={action}]")).to_be_disabled()

            # Signing in again through the link comes back to the live view, live.
            auth.add_user(users, name, "editor", PASSWORD)
            link.click()
            live.fill('input[name="username"]', name)
            live.fill('input[name="password"]', PASSWORD)
            live.click('form:not(#key-login) button[type="submit"]')
            expect(live).to_have_url(dash.url + live_path)
            expect(live.locator("#conn")).to_have_text("live")
            expect(live.locator("#signed-out")).to_have_count(0)
        finally:
            ctx.close()
