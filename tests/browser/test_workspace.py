"""The SQL workspace in real Chromium against the engine and the dashboard under gunicorn: the editor
highlights SQL and completes a column name from the schema (without icons; a run closes the list); the query history comes back after a reload;
Cancel stops the engine's query (not only the browser's wait); a new pipeline made from the starter template
compiles and starts; a compile error is underlined at its line."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from webapp.engine.testing import wait_until

from .support import SQL, colour, editor_text, set_sql, token_colours

LONG = "SELECT count(*) AS c FROM range(1000000000000) a, range(1000) b"  # hours of work, stopped long before


def test_sql_is_highlighted_and_a_column_name_completes(page, proxy, make_pipeline):
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}/query")
    expect(page.locator('#schema [data-rel="t"] [data-col="name"]')).to_contain_text("VARCHAR")  # the sidebar
    page.locator("#sql .cm-content").click()
    page.keyboard.type("SELECT na")
    option = page.locator(".cm-tooltip-autocomplete li", has=page.locator(".cm-completionLabel", has_text="name"))
    expect(option.first).to_be_visible()
    expect(option.first.locator(".cm-completionDetail")).to_contain_text("t, v")
    # no kind icons: CodeMirror's are symbol characters most fonts lack, drawn as empty boxes
    expect(page.locator(".cm-tooltip-autocomplete .cm-completionIcon")).to_have_count(0)
    option.first.click()
    page.keyboard.type(" FROM t")
    assert editor_text(page, "#sql") == "SELECT name FROM t"
    popup = page.locator(".cm-tooltip-autocomplete")
    expect(popup).to_be_visible()  # "t" completes too
    # the keyword is drawn in the keyword colour, the column name in the text colour
    keyword, text = colour(page, "var(--sql-keyword)"), colour(page, "var(--text)")
    assert token_colours(page, "#sql", "SELECT") == {keyword} != token_colours(page, "#sql", "name") == {text}
    page.keyboard.press("Control+Enter")  # runs it from the editor, and closes the completion list
    expect(page.locator("#result-count")).to_contain_text("no rows")
    expect(popup).to_have_count(0)


def test_history_brings_a_query_back_after_a_reload(page, proxy, make_pipeline):
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}/query")
    for sql in ("SELECT 1 AS one", "SELECT count(*) AS c FROM t"):
        set_sql(page, "#sql", sql)
        page.click("#run")
        expect(page.locator("#history-count")).to_have_text("(1)" if sql.endswith("one") else "(2)")
    page.goto(f"{proxy.url}/pipelines/{p}/query")  # a new page: the editor starts empty
    assert editor_text(page, "#sql") == ""
    page.click("#history summary")
    entries = page.locator("#history-list button.history-sql")
    expect(entries).to_have_text(["SELECT count(*) AS c FROM t", "SELECT 1 AS one"])  # newest first
    expect(page.locator("#history-list li").first).to_contain_text("1 row")
    entries.nth(1).click()
    assert editor_text(page, "#sql") == "SELECT 1 AS one"
    page.keyboard.press("Control+Enter")
    expect(page.locator('#result-body td[data-col="one"]')).to_have_text("1")
    page.click("#history-clear")
    expect(page.locator("#history-list li")).to_have_count(0)


def test_cancel_stops_the_query_in_the_engine(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)

    def running() -> int:
        return http.get(f"/pipelines/{p}/stats").json()["global_metrics"]["running_adhoc_queries"]
    page.goto(f"{proxy.url}/pipelines/{p}/query")
    set_sql(page, "#sql", LONG)
    page.click("#run")
    wait_until(lambda: running() == 1, 15, "the query to run in the engine")
    page.click("#cancel")
    expect(page.locator("#query-note")).to_contain_text("cancelled after")
    expect(page.locator("#cancel")).to_be_hidden()
    # the engine's time limit is 60 s: stopped well before it, the query was stopped because the browser left
    wait_until(lambda: running() == 0, 15, "the engine to stop the cancelled query")
    set_sql(page, "#sql", "SELECT 2 AS two")  # and the page runs the next one
    page.click("#run")
    expect(page.locator('#result-body td[data-col="two"]')).to_have_text("2")


def test_the_starter_template_makes_a_pipeline_that_compiles_and_starts(page, proxy, http, cleanup):
    name = f"tpl{uuid.uuid4().hex[:8]}"
    cleanup.append(name)
    page.goto(proxy.url + "/")
    page.click("#new-pipeline")
    assert "CREATE TABLE readings" in editor_text(page, "#code")
    # Feldera's keywords, types and functions are coloured, all of them (COUNT was, MATERIALIZED and MAX not)
    keyword, function, text = (colour(page, f"var(--{v})") for v in ("sql-keyword", "sql-name", "text"))
    assert len({keyword, function, text}) == 3
    for word in ("CREATE", "MATERIALIZED", "VIEW", "GROUP"):
        assert token_colours(page, "#code", word) == {keyword}, word
    for word in ("COUNT", "MIN", "MAX", "TIMESTAMP", "DOUBLE"):
        assert token_colours(page, "#code", word) == {function}, word
    assert token_colours(page, "#code", "celsius") == {text}
    page.locator("#code .cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    assert editor_text(page, "#code") == ""
    page.click("#starter")  # an empty editor: the template comes back without asking
    assert "CREATE TABLE readings" in editor_text(page, "#code")
    page.fill("#name", name)
    page.click("#save")
    expect(page.locator("#program-status")).to_have_text("Success")
    expect(page.locator("#saved")).to_contain_text(f"Created {name}")
    expect(page.locator("#starter-note")).to_be_hidden()
    page.click("#start")
    expect(page.locator("#status")).to_have_text("Running")
    described = http.get(f"/pipelines/{name}").json()
    assert [t["name"] for t in described["program_info"]["schema"]["inputs"]] == ["readings"]


def test_a_compile_error_is_underlined_at_its_line_and_column(page, proxy, make_pipeline):
    p = make_pipeline(SQL, initial="paused")
    page.goto(f"{proxy.url}/pipelines/{p}/program")
    page.click("#stop")
    expect(page.locator("#status")).to_have_text("Stopped")
    bad = SQL + "\nCREATE VIEW w AS\n  SELECT id, colour FROM t;\n"
    set_sql(page, "#code", bad)
    page.click("#save")
    page.click("#confirm-ok")  # it has run: its storage is in use, so Save asks first
    expect(page.locator("#program-status")).to_have_text("SqlError")
    line = bad.split("\n").index("  SELECT id, colour FROM t;")  # 0-based: the 7th line of the editor
    underlined = page.locator("#code .cm-lintRange-error")
    expect(underlined).to_have_count(1)
    expect(page.locator("#code .cm-line").nth(line).locator(".cm-lintRange-error")).to_have_text("colour")
    expect(page.locator("#errors li button.where")).to_have_text(f"line {line + 1}, column 14:")
    underlined.hover()  # the message is on the underline too
    expect(page.locator(".cm-tooltip-lint")).to_contain_text("colour")
