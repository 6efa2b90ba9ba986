"""A newcomer's whole path, from the dashboard alone, in real Chromium against the real engine and the
dashboard under gunicorn: create a pipeline from the template, fix a SQL error the editor marks, start it,
enter rows, watch a view from its oldest retained change, set a watch and see it fire, read the logs, see
an hour of history, and delete the pipeline."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from .support import editor_text, set_sql


def test_newcomer_builds_feeds_watches_and_deletes_a_pipeline(page, proxy, http, cleanup):
    name = f"new{uuid.uuid4().hex[:8]}"
    cleanup.append(name)  # deleted below through the page; this is for a failure half-way
    page.goto(proxy.url + "/")
    page.click("#new-pipeline")
    template = editor_text(page, "#code")
    assert "celsius > 30" in template
    set_sql(page, "#code", template.replace("celsius > 30", "celsus > 30"))  # a typo
    page.fill("#name", name)
    page.click("#save")
    expect(page.locator("#program-status")).to_have_text("SqlError")
    expect(page.locator("#code .cm-lintRange-error")).to_have_text("celsus")  # marked where it is
    set_sql(page, "#code", template)
    page.click("#save")
    expect(page.locator("#program-status")).to_have_text("Success")
    page.click("#start")
    expect(page.locator("#status")).to_have_text("Running")

    # The hot readings view, opened from the pipeline page: the dashboard follows it from here on.
    page.goto(f"{proxy.url}/pipelines/{name}")
    page.locator("a", has_text="hot_readings").first.click()
    panel = page.locator('.panel[data-view="hot_readings"]')
    expect(panel.locator(".conn-badge")).to_have_text("live")
    expect(panel).to_have_attribute("data-rows", "0")

    # Rows from the table's form, in a second tab (the first keeps watching).
    entry = page.context.new_page()

    def enter(sensor: str, at: str, celsius: str) -> None:
        entry.goto(f"{proxy.url}/pipelines/{name}")
        entry.locator("a", has_text="enter data").first.click()
        row = entry.locator("#entry-body tr.entry-row").first
        for field, value in (("sensor_id", sensor), ("taken_at", at), ("celsius", celsius)):
            row.locator(f'td[data-field="{field}"] .entry-input').fill(value)
        entry.locator('button[data-op="insert"]').click()
        expect(entry.locator("#sub-state")).to_have_text("processed")

    enter("7", "2026-12-07 10:00:00", "31.5")
    expect(panel).to_have_attribute("data-rows", "1")

    # The change log from the oldest change the dashboard holds: a reload no longer starts it empty.
    panel.locator(".seg[data-mode=log]").click()
    panel.locator(".from-select").select_option("oldest")
    expect(panel.locator('tr.row td[data-col="sensor_id"]')).to_have_text(["7"])
    page.reload()
    expect(panel.locator('tr.row td[data-col="sensor_id"]')).to_have_text(["7"])

    # A watch on the summary: a sensor whose highest reading passes 40.
    page.goto(f"{proxy.url}/pipelines/{name}")
    page.locator("a", has_text="sensor_summary").first.click()
    panel = page.locator('.panel[data-view="sensor_summary"]')
    expect(panel).to_have_attribute("data-rows", "1")
    panel.locator("button.watch").click()
    panel.locator(".watch-column").select_option("highest")
    panel.locator(".watch-condition").fill(">40")
    panel.locator(".watch-name").fill("too hot")
    panel.locator(".watch-form button[type=submit]").click()
    expect(panel.locator('.watch-chip[data-watch="too hot"] .watch-matching')).to_have_text("0 match")
    enter("7", "2026-12-07 10:02:00", "45")
    expect(page.locator("#notices")).to_contain_text('watch "too hot": sensor_id=7 started matching highest > 40')
    entry.close()

    # The logs, and an hour of history, from the pipeline page's links.
    page.goto(f"{proxy.url}/pipelines/{name}")
    page.click("#logs-link")
    expect(page.locator("#log")).to_contain_text("Running")
    page.goto(f"{proxy.url}/pipelines/{name}")
    page.click("#history-link")
    page.click('a[data-range="1h"]')
    expect(page.locator('a[data-range="1h"]')).to_have_attribute("aria-current", "true")
    expect(page.locator("canvas").first).to_be_visible()

    # Stop, clear the storage, delete: each confirmed.
    page.goto(f"{proxy.url}/pipelines/{name}")
    dialog = page.locator("dialog#confirm")
    page.locator("button[data-action=stop]").click()
    expect(page.locator("#status")).to_have_text("Stopped")
    page.locator("button[data-action=clear]").click()
    dialog.locator("#confirm-ok").click()
    expect(page.locator("button[data-action=clear]")).to_be_disabled()
    page.locator("button[data-action=delete]").click()
    expect(dialog.locator("#confirm-title")).to_have_text(f"Delete pipeline {name}?")
    dialog.locator("#confirm-ok").click()
    expect(page).to_have_url(proxy.url + "/")
    expect(page.locator(f'tr[data-pipeline="{name}"]')).to_have_count(0)
    assert http.get(f"/pipelines/{name}").status_code == 404
