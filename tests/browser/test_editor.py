"""The program editor in real Chromium: a compile error marked at its line and column, a new pipeline saved
and started from the index page's link, and an edit that says which tables kept their data."""

from __future__ import annotations

import time
import uuid

import pytest
from playwright.sync_api import expect

from .support import SQL, query

BAD = """CREATE TABLE t (id INT NOT NULL PRIMARY KEY, n INT);

CREATE VIEW v AS
  SELECT idd FROM t;
"""


@pytest.fixture
def cleanup(http):
    names: list[str] = []
    yield names
    for name in names:
        http.post(f"/pipelines/{name}/stop", params={"force": "true"})
        deadline = time.monotonic() + 20
        while http.get(f"/pipelines/{name}", params={"selector": "status"}).json().get("deployment_status") \
                not in ("Stopped", None) and time.monotonic() < deadline:
            time.sleep(0.05)
        http.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
        http.delete(f"/pipelines/{name}")


def test_new_pipeline_with_an_error_then_fixed_saved_and_started(page, proxy, http, cleanup):
    name = f"new{uuid.uuid4().hex[:8]}"
    cleanup.append(name)
    page.goto(proxy.url + "/")
    page.click("#new-pipeline")
    expect(page.locator("h1")).to_have_text("New pipeline")
    page.fill("#name", name)
    page.fill("#code", BAD)
    page.click("#save")
    expect(page.locator("#program-status")).to_have_text("SqlError")
    # saved once, the page is the pipeline's program page: heading, crumbs and title follow the URL
    assert page.url.endswith(f"/pipelines/{name}/program")
    expect(page.locator("h1")).to_have_text(f"Program of {name}")
    expect(page.locator("nav.crumbs")).to_have_text(f"pipelines / {name} / program")
    expect(page).to_have_title(f"program · {name} · Sluice")
    expect(page.locator('#gutter div[data-line="4"]')).to_have_class("err")
    expect(page.locator("#gutter div.err")).to_have_count(1)
    error = page.locator("#errors li")
    expect(error).to_have_count(1)
    expect(error).to_have_attribute("data-line", "4")
    expect(error.locator("button.where")).to_have_text("line 4, column 10:")
    expect(error).to_contain_text("Column 'idd' not found in any table")
    # the caret is put on the error: line 4, column 10 of the textarea is where "idd" starts
    assert page.evaluate("() => { const c = document.getElementById('code'); "
                         "return c.value.slice(c.selectionStart, c.selectionStart + 3); }") == "idd"
    expect(page.locator("#start")).to_be_disabled()
    expect(page).to_have_url(f"{proxy.url}/pipelines/{name}/program")

    page.fill("#code", BAD.replace("idd", "id"))
    page.click("#save")
    expect(page.locator("#program-status")).to_have_text("Success")
    expect(page.locator("#errors li")).to_have_count(0)
    expect(page.locator("#gutter div.err")).to_have_count(0)
    expect(page.locator("#saved")).to_contain_text("Saved. The pipeline had no stored data")
    page.click("#start")
    expect(page.locator("#status")).to_have_text("Running")
    assert http.get(f"/pipelines/{name}", params={"selector": "status"}).json()["deployment_status"] == "Running"
    page.locator("#saved a", has_text="query it").click()
    page.fill("#sql", "SELECT count(*) AS c FROM v")
    page.click("#run")
    expect(page.locator('#result-body td[data-col="c"]')).to_have_text("0")


def test_edit_program_says_which_tables_keep_their_data(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    assert http.get(f"/pipelines/{p}/query", params={"sql": "INSERT INTO t VALUES (1, 'kept', 1)"}).status_code == 200
    deadline = time.monotonic() + 15  # INSERT answers once processed, or after the engine's --ingress-wait
    while query(http, p, "SELECT name FROM t") != [{"name": "kept"}]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    page.goto(f"{proxy.url}/pipelines/{p}")
    page.click("#program-link")
    expect(page.locator("#code")).to_have_value(SQL)
    expect(page.locator("#save")).to_be_disabled()  # running: stop first
    expect(page.locator("#editor-note")).to_contain_text("stop it to change its program")
    page.click("#stop")
    expect(page.locator("#status")).to_have_text("Stopped")
    page.fill("#code", SQL + "CREATE TABLE extra (k INT);\n")
    page.click("#save")
    expect(page.locator("#saved")).to_contain_text("Tables that kept their data: t.")
    expect(page.locator("#saved")).to_contain_text("Tables that start empty: extra.")
    page.click("#start")
    expect(page.locator("#status")).to_have_text("Running")
    assert query(http, p, "SELECT name FROM t") == [{"name": "kept"}]
