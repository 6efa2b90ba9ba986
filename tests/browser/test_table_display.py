"""How the live table shows rows: key order until a column is chosen, numbers right-aligned, DOUBLE values
rounded for display (exact in the tooltip), and a change log with no sort arrow and an uncut time column."""

from __future__ import annotations

from playwright.sync_api import expect

from .support import push

SQL = """
CREATE TABLE m (id INT NOT NULL PRIMARY KEY, x DOUBLE, label VARCHAR) WITH ('materialized' = 'true');
"""


def _ids(panel):
    return panel.locator('tr.row td[data-col="id"]').all_inner_texts()


def test_rows_in_key_order_numbers_right_aligned_doubles_rounded(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    for i in (3, 1, 2):  # arrival order differs from key order
        push(http, p, "m", [{"insert": {"id": i, "x": i / 3, "label": f"l{i}"}}])
    page.goto(f"{proxy.url}/pipelines/{p}/views/m")
    panel = page.locator('.panel[data-view="m"]')
    expect(panel).to_have_attribute("data-rows", "3")
    expect(panel.locator('tr.row td[data-col="id"]')).to_have_text(["1", "2", "3"])
    push(http, p, "m", [{"insert": {"id": 0, "x": 0.1 + 0.2, "label": "zero"}}])
    expect(panel.locator('tr.row td[data-col="id"]')).to_have_text(["0", "1", "2", "3"])
    x = panel.locator('tr.row:has(td[data-col="id"]:text-is("1")) td[data-col="x"]')
    expect(x).to_have_text("0.333333")
    expect(x).to_have_attribute("title", "0.3333333333333333")
    expect(panel.locator('tr.row:has(td[data-col="id"]:text-is("0")) td[data-col="x"]')).to_have_text("0.3")
    align = page.evaluate("""() => ['id', 'x', 'label'].map(c => getComputedStyle(
        document.querySelector(`.panel tr.row td[data-col="${c}"]`)).textAlign)""")
    assert align[:2] == ["right", "right"] and align[2] in ("left", "start"), align
    panel.locator('button.sort[data-col="label"]').click()  # a chosen column wins over key order
    panel.locator('button.sort[data-col="label"]').click()  # descending
    expect(panel.locator('tr.row td[data-col="id"]')).to_have_text(["0", "3", "2", "1"])

    # the box is as tall as its four rows (no screen of blank space), up to its maximum with many
    box = panel.locator(".grid-scroll")
    small = box.evaluate("b => [b.clientHeight, b.scrollHeight, innerHeight]")
    assert small[0] < 0.62 * small[2] - 100 and small[1] <= small[0] + 1, small
    push(http, p, "m", [{"insert": {"id": i, "x": 1.0, "label": "n"}} for i in range(10, 60)])
    expect(panel).to_have_attribute("data-rows", "54")
    expect(box).to_have_js_property("clientHeight", int(0.62 * 800) - 2)  # min(62vh, 640px), less the border


def test_change_log_has_no_sort_arrow_and_shows_its_time(page, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "m", [{"insert": {"id": 1, "x": 2.5, "label": "a"}}])
    page.goto(f"{proxy.url}/pipelines/{p}/views/m?m.sort=label")
    panel = page.locator('.panel[data-view="m"]')
    expect(panel).to_have_attribute("data-rows", "1")  # the snapshot is in: the next row is a change
    expect(panel.locator('button.sort[data-col="label"]')).to_have_text("label ▲")
    panel.locator('button.seg[data-mode="log"]').click()
    expect(panel).to_have_attribute("data-mode", "log")
    expect(panel.locator('th[data-col="label"]')).to_have_text("label")  # no arrow: the log is in step order
    expect(panel.locator("button.sort")).to_have_count(0)
    push(http, p, "m", [{"insert": {"id": 2, "x": 1.0, "label": "b"}}])
    expect(panel.locator('tr.row[data-kind="insert"]')).to_have_count(1)
    cut = page.evaluate("""() => {
      const td = document.querySelector('.panel tr.row[data-kind="insert"] td');
      return [td.textContent, td.scrollWidth, td.clientWidth];
    }""")
    assert cut[0] and cut[1] <= cut[2], cut  # the whole time is shown
    panel.locator('button.seg[data-mode="state"]').click()
    expect(panel.locator('button.sort[data-col="label"]')).to_have_text("label ▲")
