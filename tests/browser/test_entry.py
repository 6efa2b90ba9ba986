"""The data-entry page of a table (/pipelines/<p>/tables/<t>) in real Chromium, against the real engine:
typed rows in, field errors that send nothing, upsert by key, random fill, the JSON editor, and a paused
pipeline pushed to anyway (force). Each change is seen in the live panel on the same page."""

from __future__ import annotations

from decimal import Decimal

from playwright.sync_api import expect

from .support import cell, push, query, row

SQL = """
CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(12), price DECIMAL(8, 2) NOT NULL, qty SMALLINT,
                    ok BOOLEAN, day DATE, at TIMESTAMP, tags INT ARRAY) WITH ('materialized' = 'true');
CREATE MATERIALIZED VIEW pricey AS SELECT id, name, price FROM items WHERE price > 100;
"""


def _open(page, proxy, p):
    page.goto(f"{proxy.url}/pipelines/{p}/tables/items")
    panel = page.locator('.panel[data-view="items"]')
    expect(panel.locator(".conn-badge")).to_have_text("live")
    return panel


def _field(page, name, n=1):
    return page.locator(f'#entry-body tr.entry-row:nth-child({n}) td[data-field="{name}"]')


def _fill(page, values: dict, n=1):
    for name, v in values.items():
        f = _field(page, name, n)
        if v is None:
            f.locator("input.null-box").check()
        elif name == "ok":
            f.locator("select").select_option(v)
        else:
            f.locator(".entry-input").fill(v)


def _rows(http, p):
    return sorted(query(http, p, "SELECT id, name, price FROM items"), key=lambda r: r["id"])


def test_form_insert_appears_in_the_live_view(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}")
    page.locator('tr[data-relation="items"] a.enter-data').click()
    panel = page.locator('.panel[data-view="items"]')
    expect(panel.locator(".conn-badge")).to_have_text("live")
    _fill(page, {"id": "1", "name": "<b>Ann</b>", "price": "120.50", "qty": "3", "ok": "true", "day": "2024-01-31",
                 "at": "2024-01-31T10:00:00", "tags": "[1, 2]"})
    page.locator('button[data-op="insert"]').click()
    expect(page.locator("#sub-state")).to_have_text("processed")
    expect(cell(panel, 1, "name")).to_have_text("<b>Ann</b>")  # as text, in the panel on this page
    expect(row(panel, 1)).to_have_class("row flash")  # the new row flashes
    assert query(http, p, "SELECT * FROM items") == [{"id": 1, "name": "<b>Ann</b>", "price": Decimal("120.50"),
                                                      "qty": 3, "ok": True, "day": "2024-01-31",
                                                      "at": "2024-01-31T10:00:00", "tags": [1, 2]}]
    page.locator("#watch").select_option("pricey")  # the view on the same page
    expect(cell(page.locator('.panel[data-view="pricey"]'), 1, "price")).to_have_text("120.50")


def test_form_insert_scrolls_to_the_changed_row(page, proxy, http, make_pipeline):
    """The live panel sits below the fold and draws only the rows in view: after an insert the page and the
    panel scroll to the new row (key order puts id 500 last of 61)."""
    p = make_pipeline(SQL)
    push(http, p, "items", [{"insert": {"id": i, "name": f"n{i}", "price": "1.00"}} for i in range(1, 61)])
    panel = _open(page, proxy, p)
    expect(panel).to_have_attribute("data-rows", "60")
    _fill(page, {"id": "500", "name": "late", "price": "5"})
    page.locator('button[data-op="insert"]').click()
    expect(page.locator("#sub-state")).to_have_text("processed")
    expect(row(panel, 500)).to_be_in_viewport()
    expect(row(panel, 500)).to_have_class("row flash")


def test_wrong_values_show_field_errors_and_send_nothing(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    _open(page, proxy, p)
    _fill(page, {"id": "x1", "price": "1234567.5", "qty": "40000", "day": "2023-02-29", "tags": "[1, \"a\"]"})
    page.locator('button[data-op="insert"]').click()
    expect(page.locator("#sub-state")).to_have_text("invalid")
    expect(_field(page, "id").locator(".field-error")).to_have_text('expected a whole number (INTEGER), found "x1"')
    expect(_field(page, "price").locator(".field-error")).to_contain_text("DECIMAL(8, 2) allows 6")
    expect(_field(page, "qty").locator(".field-error")).to_contain_text("out of range for SMALLINT")
    expect(_field(page, "day").locator(".field-error")).to_contain_text("not a calendar date")
    expect(_field(page, "tags").locator(".field-error")).to_contain_text("item 2")
    expect(_field(page, "name").locator(".field-error")).to_be_hidden()
    # The server refuses the same rows on its own (the browser check is a convenience, not the guard).
    answer = page.evaluate("""async (p) => {
      const api = await import("/static/js/api.js");
      try { await api.send(`/api/pipelines/${p}/tables/items/rows`, {op: "insert", rows: [{id: "1", price: "1"},
            {id: "2", price: "9999999"}]}); return null; }
      catch (e) { return {status: e.status, code: e.code, errors: e.details.errors}; }
    }""", p)
    assert answer["status"] == 400 and answer["code"] == "InvalidRows"
    assert [(e["row"], e["field"]) for e in answer["errors"]] == [(1, "price")]
    _fill(page, {"id": "7"})
    expect(_field(page, "id").locator(".field-error")).to_be_hidden()  # corrected on change
    assert query(http, p, "SELECT count(*) AS n FROM items") == [{"n": 0}]  # nothing was sent


def test_upsert_by_key_changes_the_row(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "items", [{"insert": {"id": 5, "name": "old", "price": "1.00"}}])
    panel = _open(page, proxy, p)
    expect(cell(panel, 5, "name")).to_have_text("old")
    _fill(page, {"id": "5", "name": "new", "price": "2.5"})
    page.locator('button[data-op="upsert"]').click()
    expect(page.locator("#sub-state")).to_have_text("processed")
    expect(page.locator("#sub-text")).to_contain_text("processed: 1 updated")  # not "1 inserted"
    expect(page.locator("#sub-text")).not_to_contain_text("inserted")
    expect(cell(panel, 5, "name")).to_have_text("new")
    expect(cell(panel, 5, "name")).to_have_class("changed")  # the updated cell is highlighted
    expect(panel).to_have_attribute("data-rows", "1")
    assert _rows(http, p) == [{"id": 5, "name": "new", "price": Decimal("2.50")}]
    page.locator("#clear-rows").click()
    _fill(page, {"id": "5"})
    page.locator('button[data-op="delete"]').click()  # by key: the other fields are not needed
    expect(page.locator("#sub-state")).to_have_text("processed")
    expect(page.locator("#sub-text")).to_contain_text("processed: 1 deleted")
    expect(panel).to_have_attribute("data-rows", "0")
    page.locator('button[data-op="delete"]').click()  # again: the key is gone, so nothing changes
    expect(page.locator("#sub-state")).to_have_text("nothing to delete")
    expect(page.locator("#sub-text")).to_contain_text("nothing to delete: that key is not in the table")


def test_random_fill_then_insert(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    panel = _open(page, proxy, p)
    page.locator("#add-row").click()
    page.locator("#add-row").click()
    page.locator("#random-fill").click()
    expect(_field(page, "price", 3).locator(".entry-input")).not_to_have_value("")
    page.locator('button[data-op="insert"]').click()
    expect(page.locator("#sub-state")).to_have_text("processed")
    assert query(http, p, "SELECT count(*) AS n FROM items") == [{"n": 3}]
    expect(panel).to_have_attribute("data-rows", "3")


def test_json_editor_insert_delete_and_errors(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    panel = _open(page, proxy, p)
    box = page.locator("#json-text")
    box.fill('{"id": 1, "price": 10.25, "name": "a"}\n{"insert": {"id": 2, "price": "300"}}\n')
    page.locator("#json-send").click()
    expect(page.locator("#sub-state")).to_have_text("processed")
    expect(panel).to_have_attribute("data-rows", "2")
    assert _rows(http, p) == [{"id": 1, "name": "a", "price": Decimal("10.25")},
                              {"id": 2, "name": None, "price": Decimal("300.00")}]
    box.fill('[{"delete": {"id": 1}}, {"id": 3, "price": "1.234"}, {"id": 4, "colour": "red", "price": 1}]')
    page.locator("#json-send").click()
    expect(page.locator("#sub-state")).to_have_text("invalid")
    errors = page.locator("#json-errors li")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("item 2 · price: too many digits after the decimal point")
    expect(errors.nth(1)).to_contain_text("item 3 · colour: unknown column")
    box.fill('[{"delete": {"id": 1}}]')
    page.locator("#json-send").click()
    expect(page.locator("#sub-state")).to_have_text("processed")
    expect(panel).to_have_attribute("data-rows", "1")
    assert [r["id"] for r in _rows(http, p)] == [2]


def test_paused_pipeline_offers_force_and_processes_it(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL, initial="paused")
    page.goto(f"{proxy.url}/pipelines/{p}/tables/items")
    expect(page.locator("#paused-note")).to_be_visible()
    # The note and the refusal say the same thing: nothing is sent while paused unless forced.
    expect(page.locator("#paused-note")).to_contain_text("are not sent")
    _fill(page, {"id": "9", "name": "forced", "price": "150"})
    page.locator('button[data-op="insert"]').click()
    expect(page.locator("#sub-state")).to_have_text("paused")
    expect(page.locator("#sub-text")).to_contain_text("nothing was sent")
    assert query(http, p, "SELECT count(*) AS n FROM items") == [{"n": 0}]
    page.locator("#force-push").click()
    expect(page.locator("#sub-state")).to_have_text("processed")
    expect(page.locator("#sub-text")).to_contain_text("(forced)")
    assert _rows(http, p) == [{"id": 9, "name": "forced", "price": Decimal("150.00")}]
    expect(cell(page.locator('.panel[data-view="items"]'), 9, "name")).to_have_text("forced")


def test_insert_refuses_a_key_already_in_the_table_at_its_row(page, proxy, http, make_pipeline):
    """Insert never replaces a row (the engine would upsert by key): the key's row is marked and nothing sent."""
    p = make_pipeline(SQL)
    push(http, p, "items", [{"insert": {"id": 5, "name": "old", "price": "1.00"}}])
    panel = _open(page, proxy, p)
    expect(cell(panel, 5, "name")).to_have_text("old")
    page.locator("#add-row").click()
    _fill(page, {"id": "6", "name": "six", "price": "6"})
    _fill(page, {"id": "5", "name": "new", "price": "2"}, n=2)
    page.locator('button[data-op="insert"]').click()
    expect(page.locator("#sub-state")).to_have_text("invalid")
    expect(page.locator("#sub-text")).to_contain_text("use Upsert by key to replace them")
    expect(_field(page, "id", 2).locator(".field-error")).to_have_text("key id=5 is already in the table")
    expect(_field(page, "id", 1).locator(".field-error")).to_be_hidden()
    assert _rows(http, p) == [{"id": 5, "name": "old", "price": Decimal("1.00")}]  # nothing was sent
    # deletes are reported as sent, with how many of the keys the table held
    page.locator("#clear-rows").click()
    page.locator("#add-row").click()
    _fill(page, {"id": "5"})
    _fill(page, {"id": "77"}, n=2)
    page.locator('button[data-op="delete"]').click()
    expect(page.locator("#sub-state")).to_have_text("processed")
    expect(page.locator("#sub-text")).to_contain_text("1 deleted; 1 not in the table (nothing to delete)")
    # the JSON editor: an insert of a key in the table is refused too, at its line
    push(http, p, "items", [{"insert": {"id": 8, "price": "1.00"}}])
    page.locator("#json-text").fill('{"id": 9, "price": 1}\n{"insert": {"id": 8, "price": 2}}')
    page.locator("#json-send").click()
    expect(page.locator("#sub-state")).to_have_text("invalid")
    expect(page.locator("#json-errors li")).to_have_text(["line 2 · id: key id=8 is already in the table"])


def test_json_editor_with_nothing_to_send_says_one_thing(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    _open(page, proxy, p)
    box = page.locator("#json-text")
    box.fill('{"id": "x", "price": 1}')
    page.locator("#json-send").click()
    expect(page.locator("#sub-state")).to_have_text("invalid")  # an earlier submission's state ...
    box.fill("  \n\t ")
    page.locator("#json-send").click()
    expect(page.locator("#json-errors li")).to_have_text(["nothing to send: type rows or documents"])
    expect(page.locator("#submission")).to_be_hidden()  # ... is not left above the message
    box.fill("[]")
    page.locator("#json-send").click()
    expect(page.locator("#sub-text")).to_have_text("no rows in the JSON: nothing was sent")
    expect(page.locator("#json-errors")).to_be_hidden()
    box.fill('{"id": 1, "price": 1, "id": 2}')
    page.locator("#json-send").click()
    expect(page.locator("#json-errors li")).to_contain_text('duplicate name "id"')


def test_rows_the_tables_lateness_drops_are_said_dropped_not_stored(page, proxy, http, make_pipeline, tmp_path):
    """The engine drops a row more than the table's LATENESS behind the largest value an earlier step took:
    the page says the table has one, and the JSON editor's and the upload's results count such rows as
    dropped, not inserted or stored."""
    p = make_pipeline("CREATE TABLE ev (id INT NOT NULL PRIMARY KEY, ts TIMESTAMP NOT NULL LATENESS INTERVAL 1 HOUR, "
                      "n INT) WITH ('materialized' = 'true');")
    push(http, p, "ev", [{"insert": {"id": 1, "ts": "2026-01-01 12:00:00", "n": 0}}])
    page.goto(f"{proxy.url}/pipelines/{p}/tables/ev")
    expect(page.locator("#lateness-note")).to_contain_text("LATENESS on column ts (INTERVAL '1' HOUR)")
    dropped = "arrived later than the table's LATENESS allows (ts: INTERVAL '1' HOUR) and was dropped"
    page.locator("#json-text").fill('{"id": 2, "ts": "2026-01-01 10:00:00", "n": 1}\n'
                                    '{"id": 3, "ts": "2026-01-01 11:30:00", "n": 1}')
    page.locator("#json-send").click()
    expect(page.locator("#sub-text")).to_contain_text(f"processed: 1 inserted; 1 row {dropped}")
    path = tmp_path / "late.csv"
    path.write_text("id,ts,n\n4,2026-01-01 09:00:00,2\n5,2026-01-01 12:30:00,2\n")
    root = page.locator("[data-upload]")
    page.set_input_files("[data-upload-file]", str(path))
    root.locator("[data-upload-start]").click()
    expect(root).to_have_attribute("data-state", "done", timeout=30_000)
    expect(root).to_have_attribute("data-late", "1")
    expect(root.locator("[data-upload-count]")).to_contain_text(f"1 row stored, 1 row {dropped}")
    expect(root.locator("[data-upload-count]")).to_contain_text("1 new, 0 replaced a row with the same key")
    assert [r["id"] for r in query(http, p, "SELECT id FROM ev ORDER BY id")] == [1, 3, 5]
