"""The query page and the live view's exports in real Chromium: a CSV export that matches the engine's own
answer, a query error shown at its line and column, and a change-log export that, uploaded to a fresh
table, reproduces the view."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

from playwright.sync_api import expect

from webapp.engine.testing import wait_processed

from .support import push, query, rows_text, set_sql

SQL = """
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR, n INT) WITH ('materialized' = 'true');
CREATE MATERIALIZED VIEW v AS SELECT id, name, n FROM t WHERE n >= 0;
CREATE VIEW big AS SELECT id, n FROM t WHERE n > 50;
CREATE TABLE copy_of_v (id INT NOT NULL, name VARCHAR, n INT) WITH ('materialized' = 'true');
"""
ESCAPED = ("=", "+", "-", "@", "\t", "\r")


def test_query_csv_export_matches_the_engine(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    names = ["=HYPERLINK(\"http://x\")", "-1", "+33", "@a", "plain", "comma, \"quote\"", None, "<b>bold</b>"]
    push(http, p, "t", [{"insert": {"id": i, "name": name, "n": i * 7 - 1}} for i, name in enumerate(names)]
         + [{"insert": {"id": 100 + i, "name": f"r{i}", "n": i}} for i in range(230)])
    sql = "SELECT id, name, n FROM t ORDER BY id"
    page.goto(f"{proxy.url}/pipelines/{p}/query")
    set_sql(page, "#sql", sql)
    page.click("#run")
    expect(page.locator("#result-count")).to_contain_text("238 rows")
    expect(page.locator("#result-body tr")).to_have_count(100)
    expect(page.locator("#result-body tr").first.locator('td[data-col="name"]')).to_have_text(names[0])
    expect(page.locator("#page-label")).to_have_text("page 1 of 3")
    page.click("#next")
    page.click("#next")
    expect(page.locator("#result-body tr")).to_have_count(38)
    expect(page.locator('#result-body td[data-col="name"]').last).to_have_text("r229")
    # the export is a second run of the query: the page says so, with the count of the rows on screen
    expect(page.locator("#export-note")).to_contain_text("Export runs the query again now")
    expect(page.locator("#export-note")).to_contain_text("may differ from the 238 rows shown")
    assert page.evaluate("""() => getComputedStyle(document.querySelector('#result-body td[data-col="n"]')).textAlign""") \
        == "right"  # numbers right-aligned

    expected = query(http, p, sql)  # the engine's own answer
    with page.expect_download() as info:
        page.click("#export-csv")
    download = info.value
    assert download.suggested_filename.startswith(f"{p}-query-") and download.suggested_filename.endswith(".csv")
    got = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert got[0] == ["id", "name", "n"]

    def as_csv(v, text):
        if v is None:
            return ""
        v = str(v)
        return "'" + v if text and v.startswith(ESCAPED) else v
    assert got[1:] == [[as_csv(r["id"], False), as_csv(r["name"], True), as_csv(r["n"], False)] for r in expected]
    assert got[1] == ["0", "'=HYPERLINK(\"http://x\")", "-1"]  # INT -1 is not escaped
    assert got[2][1] == "'-1"  # VARCHAR "-1" is

    with page.expect_download() as info:
        page.click("#export-json")
    lines = Path(info.value.path()).read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == expected  # JSON untouched


def test_query_error_shows_its_line_and_column(page, proxy, make_pipeline):
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}/query")
    set_sql(page, "#sql", "SELECT id,\n  nope\nFROM t")
    page.click("#run")
    err = page.locator("#query-error")
    expect(err).to_be_visible()
    expect(err).to_have_attribute("data-line", "2")
    expect(err).to_have_attribute("data-column", "3")
    expect(page.locator("#query-error-message")).to_contain_text('Referenced column "nope" not found')
    expect(page.locator("#query-error-where")).to_contain_text("line 2, column 3")
    expect(page.locator("#query-error-where")).to_contain_text("  nope\n  ^")
    expect(page.locator("#sql .cm-line").nth(1).locator(".cm-lintRange-error")).to_have_text("nope")  # underlined
    expect(page.locator("#exports")).to_be_hidden()
    set_sql(page, "#sql", "SELECT * FROM read_csv('/etc/passwd')")
    page.click("#run")
    expect(page.locator("#query-error-message")).to_contain_text("read_csv() cannot be used here")
    set_sql(page, "#sql", "SELECT count(*) AS c FROM t")  # then a good query clears the error
    page.click("#run")
    expect(err).to_be_hidden()
    expect(page.locator('#result-body td[data-col="c"]')).to_have_text("0")


def test_change_log_export_reproduces_the_view(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": i, "name": f"before{i}", "n": i}} for i in range(5)])
    page.goto(f"{proxy.url}/pipelines/{p}/views/v")
    panel = page.locator('.panel[data-view="v"]')
    expect(panel).to_have_attribute("data-rows", "5")
    push(http, p, "t", [{"insert": {"id": i, "name": f"=new{i}", "n": i * 3}} for i in range(5, 12)])
    push(http, p, "t", [{"insert": {"id": 2, "name": "-updated", "n": 20}},   # an upsert: delete + insert
                        {"delete": {"id": 3, "name": "before3", "n": 3}},
                        {"insert": {"id": 6, "name": "gone", "n": -5}}])        # leaves the view (n < 0)
    cols = ["id", "name", "n"]
    expected = rows_text(query(http, p, "SELECT * FROM v"), cols)
    expect(panel).to_have_attribute("data-rows", str(sum(expected.values())))

    panel.locator("details.export-menu summary").click()
    expect(panel.locator(".export-menu .flag")).to_have_count(0)  # materialized, unfiltered: nothing to warn about
    with page.expect_download() as info:
        panel.locator('button[data-export="changes"]').click()
    body = Path(info.value.path()).read_text(encoding="utf-8")
    entries = [json.loads(x) for x in body.splitlines()]
    assert {next(iter(e)) for e in entries} == {"insert", "delete"}
    r = http.post(f"/pipelines/{p}/ingress/copy_of_v", params={"format": "json", "update_format": "insert_delete"},
                  content=body)
    assert r.status_code == 200, r.text
    wait_processed(http, p, r.json()["token"], timeout=15)
    assert rows_text(query(http, p, "SELECT * FROM copy_of_v"), cols) == expected

    with page.expect_download() as info:  # the state export: the engine's rows, typed CSV
        panel.locator('a[data-export="state-csv"]').click()
    got = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
    assert got[0] == cols and len(got) == 1 + sum(expected.values())
    assert Counter(r[1] for r in got[1:] if r[1].startswith("'")) == Counter(
        "'" + r.split("|")[1] for r in expected.elements() if r.split("|")[1].startswith(ESCAPED))


def test_non_materialized_view_says_the_log_cannot_reproduce_it(page, proxy, make_pipeline):
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}/views/big")
    panel = page.locator('.panel[data-view="big"]')
    expect(panel.locator(".badge.conn-badge")).to_have_text("live")
    panel.locator("details.export-menu summary").click()
    expect(panel.locator(".export-menu .flag.bad")).to_contain_text("Not materialized")
    expect(panel.locator(".export-menu .flag.bad")).to_contain_text("will not reproduce the view")


def test_the_running_badge_is_green_as_on_the_other_pages(page, proxy, make_pipeline):
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}/query")
    expect(page.locator("#status")).to_have_class("badge status-running")


def test_long_values_are_cut_short(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": 1, "name": "x" * 10_000, "n": 5}}])
    page.goto(f"{proxy.url}/pipelines/{p}/query")
    set_sql(page, "#sql", "SELECT name, id, n FROM t")
    page.click("#run")
    long = page.locator('#result-body td[data-col="name"]')
    expect(long).to_have_attribute("title", "x" * 10_000)  # the whole value, on hover
    box = long.locator(".cut").bounding_box()
    assert box["width"] < 700, box  # cut short with an ellipsis, not 10,000 characters wide
    assert long.evaluate("(td) => getComputedStyle(td.firstChild).textOverflow") == "ellipsis"
    n = page.locator('#result-body td[data-col="n"]').bounding_box()
    assert n["x"] + n["width"] <= 1280, n  # the other columns stay on screen


def test_decimals_show_every_digit(page, proxy, make_pipeline):
    # Ad-hoc JSON writes a DECIMAL as a number with every digit (Feldera's form); a double would round this one
    # to 12345678901234567000 and show 1.50 as 1.5.
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}/query")
    set_sql(page, "#sql", "SELECT CAST('12345678901234567890.1234567890' AS DECIMAL(38, 10)) AS big, "
                          "CAST(1.5 AS DECIMAL(10, 2)) AS price, CAST(0.1 AS DOUBLE) AS d, 7 AS i")
    page.click("#run")
    cells = {c: page.locator(f'#result-body td[data-col="{c}"]') for c in ("big", "price", "d", "i")}
    expect(cells["big"]).to_have_text("12345678901234567890.1234567890")
    expect(cells["price"]).to_have_text("1.50")
    expect(cells["d"]).to_have_text("0.1")
    expect(cells["i"]).to_have_text("7")
    for c in cells.values():
        expect(c).to_have_class("num")  # right-aligned as numbers


def test_one_row_is_counted_as_one_row(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": 1, "name": "only", "n": 1}}])
    page.goto(f"{proxy.url}/pipelines/{p}/query")
    set_sql(page, "#sql", "SELECT id FROM t")
    page.click("#run")
    expect(page.locator("#result-count")).to_contain_text("1 row in ")  # it said "1 rows in"
    set_sql(page, "#sql", "SELECT id FROM t UNION ALL SELECT 2")
    page.click("#run")
    expect(page.locator("#result-count")).to_contain_text("2 rows in ")
