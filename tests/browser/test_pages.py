"""The pipelines page and a pipeline's page: status, lifecycle buttons (CSRF through api.js), tables and views."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .support import SQL, push


def test_pipelines_page_lists_status(page, proxy, make_pipeline):
    p = make_pipeline(SQL)
    page.goto(proxy.url + "/")
    line = page.locator(f'tr[data-pipeline="{p}"]')
    expect(line.locator(".badge")).to_have_text("Running")
    line.locator("a").click()
    expect(page.locator("h1")).to_have_text(p)


def test_pipeline_page_lifecycle_and_relations(page, proxy, make_pipeline):
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}")
    expect(page.locator("#status")).to_have_text("Running")
    v = page.locator('tr[data-relation="v"]')
    expect(v.locator("td").nth(3)).to_have_text("yes")
    expect(page.locator('tr[data-relation="big"] td').nth(3)).to_have_text("no")
    expect(page.locator('tr[data-relation="t"] td').nth(5)).to_have_text("id")
    page.locator("button[data-action=pause]").click()
    expect(page.locator("#status")).to_have_text("Paused")
    expect(page.locator("button[data-action=pause]")).to_be_disabled()
    page.locator("button[data-action=resume]").click()
    expect(page.locator("#status")).to_have_text("Running")
    expect(page.locator('[data-stat="steps"]')).not_to_have_text("–")
    page.locator('input.pick[value="v"]').check()
    page.locator('input.pick[value="big"]').check()
    page.locator("#watch-together").click()
    expect(page.locator(".panel")).to_have_count(2)


def test_ndjson_reader_keeps_partial_lines_across_reads(page, proxy):
    """api.js streamLines, fed one byte per read: lines and UTF-8 characters cut in half still come out whole."""
    page.goto(proxy.url + "/")
    lines = page.evaluate("""async () => {
      const api = await import("/static/js/api.js");
      const text = '{"a":"é€😀"}\\r\\n{"b":2}\\n\\n{"c":"escaped \\\\n newline"}\\n{"d":4}';
      const bytes = new TextEncoder().encode(text);
      const body = new ReadableStream({ start(c) { for (const b of bytes) c.enqueue(new Uint8Array([b])); c.close(); } });
      const real = window.fetch;
      window.fetch = async () => new Response(body, { status: 200 });
      const out = [];
      try { await api.streamLines("/stream", (line) => out.push(JSON.parse(line))); } finally { window.fetch = real; }
      return out;
    }""")
    assert lines == [{"a": "é€😀"}, {"b": 2}, {"c": "escaped \n newline"}, {"d": 4}]


def test_throughput_chart_ticks_are_round_numbers(page, proxy, http, make_pipeline):
    """The axis reads 0, 5, 10 (the unit once, above it), not 0, 2.3/s, 4.6/s."""
    p = make_pipeline(SQL)
    page.goto(f"{proxy.url}/pipelines/{p}")
    push(http, p, "t", [{"insert": {"id": i, "name": "x", "n": i}} for i in range(23)])
    expect(page.locator("#throughput")).to_have_attribute("data-ticks", re.compile(r"^0 "))
    ticks = page.evaluate("""async () => {
      const { niceTicks } = await import("/static/js/charts.js");
      return [9.2, 1, 37, 0.3, 1234].map((m) => niceTicks(m));
    }""")
    assert ticks == [[0, 5, 10], [0, 0.5, 1], [0, 10, 20, 30, 40], [0, 0.1, 0.2, 0.3], [0, 500, 1000, 1500]]
    shown = [float(t.replace(",", "")) for t in page.locator("#throughput").get_attribute("data-ticks").split()]
    step = shown[1] - shown[0]
    assert all(abs(v - i * step) < 1e-9 for i, v in enumerate(shown)), shown
    assert f"{step:e}"[0] in "125", shown  # 1, 2 or 5 times a power of ten
