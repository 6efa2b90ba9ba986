"""The program editor in real Chromium: a compile error marked at its line and column, a new pipeline saved
and started from the index page's link, and edits of a pipeline that holds data: asked first in the page, then
told which tables kept their data."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from webapp.engine.testing import wait_until

from .support import SQL, editor_text, query, set_sql

BAD = """CREATE TABLE t (id INT NOT NULL PRIMARY KEY, n INT);

CREATE VIEW v AS
  SELECT idd FROM t;
"""


def test_new_pipeline_with_an_error_then_fixed_saved_and_started(page, proxy, http, cleanup):
    name = f"new{uuid.uuid4().hex[:8]}"
    cleanup.append(name)
    page.goto(proxy.url + "/")
    page.click("#new-pipeline")
    expect(page.locator("h1")).to_have_text("New pipeline")
    page.fill("#name", name)
    set_sql(page, "#code", BAD)
    page.click("#save")
    expect(page.locator("#program-status")).to_have_text("SqlError")
    # saved once, the page is the pipeline's program page: heading, crumbs and title follow the URL
    assert page.url.endswith(f"/pipelines/{name}/program")
    expect(page.locator("h1")).to_have_text(f"Program of {name}")
    expect(page.locator("nav.crumbs")).to_have_text(f"pipelines / {name} / program")
    expect(page).to_have_title(f"program · {name} · Sluice")
    # underlined where the compiler says: "idd" on line 4, and marked in the gutter
    expect(page.locator("#code .cm-lintRange-error")).to_have_count(1)
    expect(page.locator("#code .cm-line").nth(3).locator(".cm-lintRange-error")).to_have_text("idd")
    expect(page.locator("#code .cm-lint-marker-error")).to_have_count(1)
    error = page.locator("#errors li")
    expect(error).to_have_count(1)
    expect(error).to_have_attribute("data-line", "4")
    expect(error.locator("button.where")).to_have_text("line 4, column 10:")
    expect(error).to_contain_text("Column 'idd' not found in any table")
    # the error is selected: line 4, column 10 to 12 is "idd"
    assert page.evaluate("() => document.getSelection().toString()") == "idd"
    expect(page.locator("#start")).to_be_disabled()
    expect(page).to_have_url(f"{proxy.url}/pipelines/{name}/program")

    set_sql(page, "#code", BAD.replace("idd", "id"))
    page.click("#save")
    expect(page.locator("#program-status")).to_have_text("Success")
    expect(page.locator("#errors li")).to_have_count(0)
    expect(page.locator("#code .cm-lintRange-error")).to_have_count(0)
    expect(page.locator("#saved")).to_contain_text("Saved. The pipeline had no stored data")
    expect(page.locator("#confirm")).to_be_hidden()  # no stored data: nothing to ask
    page.click("#start")
    expect(page.locator("#status")).to_have_text("Running")
    assert http.get(f"/pipelines/{name}", params={"selector": "status"}).json()["deployment_status"] == "Running"
    page.locator("#saved a", has_text="query it").click()
    set_sql(page, "#sql", "SELECT count(*) AS c FROM v")
    page.click("#run")
    expect(page.locator('#result-body td[data-col="c"]')).to_have_text("0")


def test_edit_program_asks_before_a_save_that_can_empty_tables(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    assert http.get(f"/pipelines/{p}/query", params={"sql": "INSERT INTO t VALUES (1, 'kept', 1)"}).status_code == 200
    # INSERT answers once processed, or after the engine's --ingress-wait: the row may come later
    wait_until(lambda: query(http, p, "SELECT name FROM t") == [{"name": "kept"}], 15, "the inserted row",
               interval=0.05)
    page.goto(f"{proxy.url}/pipelines/{p}")
    page.click("#program-link")
    assert editor_text(page, "#code") == SQL
    expect(page.locator("#save")).to_be_disabled()  # running: stop first
    expect(page.locator("#editor-note")).to_contain_text("stop it to change its program")
    page.click("#stop")
    expect(page.locator("#status")).to_have_text("Stopped")
    dialog, saved = page.locator("#confirm"), page.locator("#saved")
    extra = SQL + "CREATE TABLE extra (k INT);\n"
    changed = extra.replace("name VARCHAR,", "name VARCHAR NOT NULL,")  # t's definition changes: t starts empty

    # The pipeline holds data: Save asks first, in the page, with the safe choice focused; Cancel saves nothing.
    set_sql(page, "#code", changed)
    # But first the stored program cannot be read at that moment (one 502): nothing is asked, nothing saved.
    page.route(f"**/api/pipelines/{p}/program", lambda route: route.fulfill(
        status=502, content_type="application/json",
        body='{"message": "the pipeline server did not answer", "error_code": "UpstreamUnreachable", "details": null}'),
        times=1)
    page.click("#save")
    expect(page.locator("#editor-note")).to_contain_text("not saved: the stored program could not be checked first")
    expect(dialog).to_be_hidden()
    assert http.get(f"/pipelines/{p}").json()["program_code"] == SQL
    page.click("#save")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-title")).to_have_text(f"Save the changed program of {p}?")
    expect(dialog.locator("#confirm-text")).to_contain_text(f"{p} holds stored data in its tables t.")
    expect(dialog.locator("#confirm-list")).to_contain_text("NOT NULL or primary key change starts empty")
    expect(dialog.locator("#confirm-list")).to_contain_text("gains columns that may be NULL keeps its rows")
    expect(dialog.locator("#confirm-cancel")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#editor-note")).to_have_text("not saved: the editor keeps your changes")
    expect(saved).to_be_hidden()
    assert editor_text(page, "#code") == changed
    assert http.get(f"/pipelines/{p}").json()["program_code"] == SQL

    def save_and_start(program: str, kept: str, empty: str, style: str) -> list[dict]:
        """Save ``program`` (confirmed in the dialog), check the answer, start: the rows t holds then."""
        set_sql(page, "#code", program)
        page.click("#save")
        dialog.locator("#confirm-ok").click()
        expect(saved).to_contain_text(f"Tables that kept their data: {kept}. Tables that start empty: {empty}.")
        expect(saved).to_have_class(f"flag {style}")
        assert http.get(f"/pipelines/{p}").json()["program_code"] == program
        page.click("#start")
        expect(page.locator("#status")).to_have_text("Running")
        return query(http, p, "SELECT name FROM t")

    # A new table only: t keeps its row (so Cancel kept it too); no table lost rows, so no warning.
    assert save_and_start(extra, "t", "extra", "info") == [{"name": "kept"}]
    # t changes: confirmed, it starts empty as the page reports, in a warning.
    page.click("#stop")
    expect(page.locator("#status")).to_have_text("Stopped")
    assert save_and_start(changed, "extra", "t", "warn") == []

    # Another client changes the program: saving the editor's (unchanged) text would change it back, so it asks.
    page.click("#stop")
    expect(page.locator("#status")).to_have_text("Stopped")
    assert http.put(f"/pipelines/{p}", json={"name": p, "program_code": extra}).status_code == 200
    page.click("#save")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#editor-note")).to_have_text("not saved: the editor keeps your changes")
    assert http.get(f"/pipelines/{p}").json()["program_code"] == extra


def test_a_save_never_replaces_another_clients_save_unasked(page, proxy, http, cleanup):
    """No stored data (never started), so no stored-data question: still asked when another client saved."""
    name = f"two{uuid.uuid4().hex[:8]}"
    cleanup.append(name)
    assert http.put(f"/pipelines/{name}", json={"name": name, "program_code": SQL}).status_code in (200, 201)
    v0 = http.get(f"/pipelines/{name}").json()["program_version"]
    page.goto(f"{proxy.url}/pipelines/{name}/program")
    mine = SQL + "CREATE TABLE mine (k INT);\n"
    theirs = SQL + "CREATE TABLE theirs (k INT);\n"
    set_sql(page, "#code", mine)
    assert http.put(f"/pipelines/{name}", json={"name": name, "program_code": theirs}).status_code == 200
    v1 = http.get(f"/pipelines/{name}").json()["program_version"]
    dialog = page.locator("#confirm")

    page.click("#save")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-text")).to_have_text(
        f"This program was changed by another client since you opened it (version {v0} -> {v1}); saving replaces "
        "that version.")
    expect(dialog.locator("#confirm-cancel")).to_be_focused()
    dialog.locator("#confirm-other").click()  # load theirs: the editor shows it, my text stays on the page
    expect(dialog).to_be_hidden()
    wait_until(lambda: editor_text(page, "#code") == theirs, 15, "the stored program in the editor", interval=0.05)
    assert page.locator("#your-text").text_content() == mine
    assert http.get(f"/pipelines/{name}").json()["program_code"] == theirs

    # Mine back, saved over the version now loaded: no question (nothing changed since, no stored data).
    page.click("#put-back")
    assert editor_text(page, "#code") == mine
    page.click("#save")
    expect(page.locator("#editor-note")).to_have_text("saved: you can start it")
    assert http.get(f"/pipelines/{name}").json()["program_code"] == mine
    expect(dialog).to_be_hidden()

    # Another save by them; this time replaced, by choice.
    assert http.put(f"/pipelines/{name}", json={"name": name, "program_code": theirs}).status_code == 200
    page.click("#save")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-text")).to_contain_text(f"(version {v1 + 1} -> {v1 + 2})")
    dialog.locator("#confirm-ok").click()
    wait_until(lambda: http.get(f"/pipelines/{name}").json()["program_code"] == mine, 15, "my program saved",
               interval=0.05)
