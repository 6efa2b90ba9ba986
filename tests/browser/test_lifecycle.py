"""Force-stop, clear storage and delete from the dashboard: each asks first in a <dialog> naming the pipeline,
Cancel and Escape change nothing, a delete clears the storage first and says so (the engine, as Feldera,
deletes only a pipeline whose storage is cleared), and a viewer sees no such buttons while the server
refuses them anyway."""

from __future__ import annotations

from playwright.sync_api import expect

from webapp.dashboard import auth
from webapp.dashboard.testing import DashboardProcess

from .conftest import TEST_SETTINGS
from .support import SQL, push, query


def _status(http, p):
    return http.get(f"/pipelines/{p}").json()


def test_kill_clear_and_delete_from_the_pipeline_page(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": 1, "name": "a", "n": 1}}])
    page.goto(f"{proxy.url}/pipelines/{p}")
    expect(page.locator("#status")).to_have_text("Running")
    for step in ("clear", "delete"):  # only while stopped
        expect(page.locator(f"button[data-action={step}]")).to_be_disabled()

    dialog = page.locator("dialog#confirm")
    page.locator("button[data-action=kill]").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-title")).to_have_text(f"Force-stop pipeline {p}?")
    expect(dialog.locator("#confirm-ok")).to_have_text(f"Force-stop {p}")
    dialog.locator("#confirm-cancel").click()
    expect(dialog).to_be_hidden()
    assert _status(http, p)["deployment_desired_status"] == "Running"

    page.locator("button[data-action=kill]").click()
    dialog.locator("#confirm-ok").click()
    expect(page.locator("#status")).to_have_text("Stopped")
    expect(page.locator("button[data-action=kill]")).to_be_disabled()

    page.locator("button[data-action=clear]").click()
    expect(dialog.locator("#confirm-title")).to_have_text(f"Clear the storage of pipeline {p}?")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert _status(http, p)["storage_status"] != "Cleared"
    page.locator("button[data-action=clear]").click()
    dialog.locator("#confirm-ok").click()
    expect(page.locator("button[data-action=clear]")).to_be_disabled()  # nothing left to clear
    assert _status(http, p)["storage_status"] == "Cleared"
    page.locator("button[data-action=start]").click()
    expect(page.locator("#status")).to_have_text("Running")
    assert query(http, p, "SELECT * FROM t") == []  # the row is gone with the storage
    page.locator("button[data-action=stop]").click()
    expect(page.locator("#status")).to_have_text("Stopped")

    # The engine deletes only a pipeline whose storage is cleared (Feldera's rule): the restart above put
    # storage in use again, so the dashboard clears it first, says so in the dialog and afterwards.
    assert _status(http, p)["storage_status"] == "InUse"
    page.locator("button[data-action=delete]").click()
    expect(dialog.locator("#confirm-title")).to_have_text(f"Delete pipeline {p}?")
    expect(dialog.locator("#confirm-text")).to_contain_text("cleared first")
    dialog.locator("#confirm-ok").click()
    expect(page).to_have_url(proxy.url + "/")
    expect(page.locator("#pipelines-note")).to_have_text(f"Pipeline {p} deleted (its storage was cleared first).")
    expect(page.locator(f'tr[data-pipeline="{p}"]')).to_have_count(0)
    assert http.get(f"/pipelines/{p}").status_code == 404
    assert page.dialogs == []  # no window.confirm anywhere


def test_delete_from_the_pipelines_list(page, proxy, http, make_pipeline):
    running = make_pipeline(SQL)
    stopped = make_pipeline(SQL)
    http.post(f"/pipelines/{stopped}/stop", params={"force": "true"})
    page.goto(proxy.url + "/")
    expect(page.locator(f'tr[data-pipeline="{stopped}"] .badge')).to_have_text("Stopped")
    expect(page.locator(f'button[data-delete="{running}"]')).to_be_disabled()
    button = page.locator(f'button[data-delete="{stopped}"]')
    button.click()
    dialog = page.locator("dialog#confirm")
    expect(dialog.locator("#confirm-title")).to_have_text(f"Delete pipeline {stopped}?")
    dialog.locator("#confirm-cancel").click()
    assert http.get(f"/pipelines/{stopped}").status_code == 200
    button.click()
    dialog.locator("#confirm-ok").click()
    expect(page.locator("#pipelines-note")).to_have_text(f"Pipeline {stopped} deleted (its storage was cleared first).")
    expect(page.locator(f'tr[data-pipeline="{stopped}"]')).to_have_count(0)
    expect(page.locator(f'tr[data-pipeline="{running}"]')).to_have_count(1)
    assert http.get(f"/pipelines/{stopped}").status_code == 404


def test_a_viewer_sees_no_lifecycle_buttons_and_is_refused(browser, engine, http, make_pipeline, tmp_path):
    p = make_pipeline(SQL)
    http.post(f"/pipelines/{p}/stop", params={"force": "true"})
    users = tmp_path / "users.json"
    auth.add_user(users, "vera", "viewer", "a-long-password")
    with DashboardProcess(engine.url, "--users-file", str(users), settings=TEST_SETTINGS) as dash:
        ctx = browser.new_context()
        page = ctx.new_page()
        try:
            page.goto(f"{dash.url}/login")
            page.fill('input[name="username"]', "vera")
            page.fill('input[name="password"]', "a-long-password")
            page.click('form:not(#key-login) button[type="submit"]')
            expect(page.locator("#signed-in")).to_have_text("vera (viewer)")
            expect(page.locator(f'tr[data-pipeline="{p}"] .badge')).to_have_text("Stopped")
            assert page.locator("button[data-delete], dialog#confirm").count() == 0
            page.goto(f"{dash.url}/pipelines/{p}")
            expect(page.locator("#status")).to_have_text("Stopped")
            assert page.locator("button[data-action], dialog#confirm").count() == 0
            refused = page.evaluate("""async (p) => {
              const { sendStep } = await import("/static/js/lifecycle.js");
              const out = [];
              for (const step of ["delete", "clear", "kill"]) {
                try { await sendStep(step, p); out.push("accepted"); } catch (e) { out.push(`${e.status} ${e.code}`); }
              }
              return out;
            }""", p)
            assert refused == ["403 Forbidden"] * 3
            assert http.get(f"/pipelines/{p}").status_code == 200
        finally:
            ctx.close()
