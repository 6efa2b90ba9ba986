"""What pages say while the pipeline server is down, under ``sluice up``: the engine is killed, pages say
"unreachable" (not a green "Running"), ``sluice up`` brings it back, and pages recover by themselves with no
stale error left; the change log marks where step numbers start again. And while it hangs (its processes
stopped: connections are accepted, nothing answers): the same within seconds, not the last status; in
both, figures read "–" rather than look live, and the note counts down to its next try."""

from __future__ import annotations

import html
import os
import re
import signal

import httpx
import pytest
from playwright.sync_api import expect

from webapp.dashboard.testing import DashboardProcess
from webapp.engine.testing import EngineProcess

from .conftest import TEST_SETTINGS
from .support import query


@pytest.fixture
def up(tmp_path):
    with EngineProcess(tmp_path / "data", "--port", "0", "--no-demo-data", command="up",
                       env={"SLUICE_RETRY_MAX": "1"}) as proc:
        yield proc


DASHBOARD_URL = r"Open the dashboard: (http://\S+?)/?\s"


def test_an_engine_outage_is_shown_and_clears(up, page, browser):
    dash = up.wait_for_output(DASHBOARD_URL).group(1)
    # Some steps first, so the restarted engine's step numbers are visibly lower.
    for i in range(3):
        r = httpx.post(f"{up.url}/v0/pipelines/demo/ingress/orders", params={"format": "json", "update_format": "raw"},
                       json={"order_id": 900 + i, "customer_id": 1, "amount": "150.00",
                             "placed_at": "2026-12-01 10:00:00"})
        assert r.status_code == 200, r.text

    page.goto(f"{dash}/pipelines/demo")
    status = page.locator("#status")
    expect(status).to_have_text("Running")
    processed = page.locator('[data-stat="processed"]')
    expect(processed).not_to_have_text("–")
    live = page.context.new_page()
    live.goto(f"{dash}/pipelines/demo/views/big_orders?big_orders.mode=log")
    expect(live.locator("#conn")).to_have_text("live")
    expect(live.locator(".panel .conn-badge")).to_have_text("live")
    index = page.context.new_page()
    index.goto(f"{dash}/")
    row_badge = index.locator('tr[data-pipeline="demo"] .badge')
    expect(row_badge).to_have_text("Running")
    rate = index.locator('tr[data-pipeline="demo"] td.num')
    expect(rate).to_contain_text("rec/s")

    os.kill(up.proc.pid, signal.SIGSTOP)  # hold sluice up, so the outage lasts until we let it go
    try:
        os.kill(up.child_pid("engine"), signal.SIGKILL)
        expect(status).to_have_text("unreachable")
        expect(page.locator("#outage-text")).to_contain_text("is not answering; retrying in")
        expect(page.locator("#outage-text")).to_contain_text(up.url)
        expect(page.locator("#outage-details")).to_be_visible()
        expect(processed).to_have_text("–")  # as while it hangs: the last count would look live
        for action in ("pause", "stop"):
            expect(page.locator(f"button[data-action={action}]")).to_be_disabled()
        # The live page's header agrees with its panel: not "live" while the upstream is down.
        expect(live.locator(".panel .conn-badge")).to_have_text("upstream down")
        expect(live.locator("#conn")).to_have_text("upstream down")
        expect(row_badge).to_have_text("unreachable")
        expect(index.locator("#pipelines-error")).to_contain_text("is not answering; retrying in")
        expect(rate).to_have_text("–")
    finally:
        os.kill(up.proc.pid, signal.SIGCONT)

    expect(status).to_have_text("Running", timeout=60_000)  # sluice up restarted the engine
    expect(page.locator("#outage")).to_be_hidden()
    expect(page.locator("#deployment-error")).to_be_hidden()
    expect(page.locator("#action-note")).to_have_text("")
    expect(page.locator("button[data-action=pause]")).to_be_enabled()
    expect(page.locator("#restart-note")).to_contain_text("statistics and step numbers start again")
    expect(live.locator("#conn")).to_have_text("live", timeout=60_000)
    expect(live.locator(".panel .conn-badge")).to_have_text("live")
    expect(row_badge).to_have_text("Running")
    expect(index.locator("#pipelines-error")).to_be_hidden()
    expect(processed).not_to_have_text("–")
    expect(rate).to_contain_text("rec/s")
    marker = live.locator('.panel tr[data-kind="marker"]')
    expect(marker).to_have_count(1)
    expect(marker).to_contain_text("the pipeline restarted upstream")
    assert "restarting it in 1 s" in up.log


def test_an_unknown_pipeline_is_a_404_page(up, page):
    resp = page.goto(f"{up.wait_for_output(DASHBOARD_URL).group(1)}/pipelines/nope")
    assert resp.status == 404
    expect(page.locator("#missing")).to_contain_text("no pipeline named 'nope'")
    expect(page.locator("button[data-action]")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("cannot reach")


HUNG_SQL = "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR) WITH ('materialized' = 'true');\n"


@pytest.fixture
def hung(tmp_path):
    """An engine of its own (it is stopped with SIGSTOP) with a running pipeline, and a dashboard on it that
    waits 1 s for a status, 4 s for a line on an egress stream (the engine's keepalive: 1 s) and 2 s for an
    entry's answer."""
    with EngineProcess(tmp_path / "data", "--keepalive", "1") as eng:
        c = eng.client()
        assert c.put("/pipelines/h", json={"name": "h", "program_code": HUNG_SQL}).status_code in (200, 201)
        assert c.get("/pipelines/h").json()["program_status"] == "Success"
        assert c.post("/pipelines/h/start").status_code == 202
        settings = TEST_SETTINGS | {"STATUS_TIMEOUT": 1, "STREAM_STALL": 4, "ENTRY_TIMEOUT": 2}
        with DashboardProcess(eng.url, settings=settings) as dash:
            yield eng, dash, c


def test_a_hung_engine_is_shown_as_not_answering_within_seconds(hung, page):
    eng, dash, c = hung
    page.goto(f"{dash.url}/pipelines/h")
    status = page.locator("#status")
    expect(status).to_have_text("Running")
    live = page.context.new_page()
    live.goto(f"{dash.url}/pipelines/h/views/items")
    expect(live.locator(".panel .conn-badge")).to_have_text("live")
    entry = page.context.new_page()
    entry.goto(f"{dash.url}/pipelines/h/tables/items")
    expect(entry.locator('.panel[data-view="items"] .conn-badge')).to_have_text("live")
    entry.locator('#entry-body tr.entry-row:nth-child(1) td[data-field="id"] .entry-input').fill("7")
    entry.locator('#entry-body tr.entry-row:nth-child(1) td[data-field="name"] .entry-input').fill("seven")

    pids = [eng.proc.pid, *eng.worker_pids]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        # Waits of 15 s at most (expect's): before, the status poll waited 30 s times three tries and the
        # live view 30 s for STREAM_TIMEOUT, saying "Running" and "live" all along.
        expect(status).to_have_text("unreachable")
        expect(page.locator("#outage-text")).to_contain_text(f"the pipeline server at {eng.url} is not answering")
        expect(page.locator('[data-stat="throughput"]')).to_have_text("–")
        fresh = page.context.new_page()  # a page loaded now is served, saying so (the load waited 90 s)
        fresh.goto(f"{dash.url}/pipelines/h")
        expect(fresh.locator("#status")).to_have_text("unreachable")
        fresh.close()
        expect(live.locator(".panel .conn-badge")).to_have_text("upstream down")
        expect(live.locator("#conn")).to_have_text("upstream down")
        entry.locator('button[data-op="insert"]').click()
        expect(entry.locator("#sub-state")).to_have_text("no answer")
        expect(entry.locator("#sub-text")).to_contain_text("not answering")
        expect(entry.locator("#sub-text")).to_contain_text("the rows may or may not have been stored")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)

    expect(status).to_have_text("Running")
    expect(page.locator("#outage")).to_be_hidden()
    expect(live.locator(".panel .conn-badge")).to_have_text("live")
    expect(entry.locator("#sub-state")).to_have_text("processed")  # the late answer replaces the note
    assert query(c, "h", "SELECT id, name FROM items") == [{"id": 7, "name": "seven"}]


# Every text the element at the selector shows from now on, with the page's clock (ms) when it appeared.
_RECORD = """(sel) => {
  const node = document.querySelector(sel);
  window.seen = [];
  new MutationObserver(() => window.seen.push([node.textContent, performance.now()]))
    .observe(node, { childList: true, characterData: true, subtree: true });
}"""


def _notes(page) -> list[tuple[str, float]]:
    """What the recorded note said, in order, one entry per change of text."""
    out: list[tuple[str, float]] = []
    for text, t in page.evaluate("() => window.seen"):
        if not out or out[-1][0] != text:
            out.append((text, t))
    return out


def test_the_outage_note_counts_down_and_says_when_it_tries_again(hung, page):
    """Before, "retrying in N s" was fixed text that also stood while the retry waited out the status
    timeout: "retrying in 1 s" for about 6 s. Now it counts down each second, then says "trying again…"
    for as long as the attempt is in flight, then counts down to the next one (1, 2, 4 s on the pipeline
    page, 2 s on the pipelines page)."""
    eng, dash, c = hung
    page.goto(f"{dash.url}/pipelines/h")
    expect(page.locator("#status")).to_have_text("Running")
    index = page.context.new_page()
    index.goto(f"{dash.url}/")
    expect(index.locator('tr[data-pipeline="h"] .badge')).to_have_text("Running")
    page.evaluate(_RECORD, "#outage-text")
    index.evaluate(_RECORD, "#pipelines-error")

    pids = [eng.proc.pid, *eng.worker_pids]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        down = f"the pipeline server at {eng.url} is not answering"
        # The third failure's countdown has begun: the first two are recorded whole.
        expect(page.locator("#outage-text")).to_have_text(f"{down}; retrying in 4 s", timeout=30_000)
        expect(page.locator("#outage-text")).to_have_text(f"{down}; retrying in 3 s")
        expect(index.locator("#pipelines-error")).to_have_text(f"{down}; retrying in 1 s")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)

    said = _notes(page)
    texts = [text for text, _ in said]
    again = f"{down}; trying again…"
    assert texts[:texts.index(f"{down}; retrying in 3 s") + 1] == [
        f"{down}; retrying in 1 s", again,
        f"{down}; retrying in 2 s", f"{down}; retrying in 1 s", again,
        f"{down}; retrying in 4 s", f"{down}; retrying in 3 s"], texts
    # a count of seconds lasts about a second (at least, on a busy machine: it is a timer)
    times = [t for _, t in said]
    assert times[3] - times[2] >= 900 and times[6] - times[5] >= 900, said
    # "trying again…" stands while the attempt is in flight: the dashboard waits STATUS_TIMEOUT (1 s)
    assert times[2] - times[1] >= 900 and times[5] - times[4] >= 900, said

    listed = [text for text, _ in _notes(index)]
    assert listed[:4] == [f"{down}; retrying in 2 s", f"{down}; retrying in 1 s", again,
                          f"{down}; retrying in 2 s"], listed
    expect(page.locator("#outage")).to_be_hidden()
    expect(index.locator("#pipelines-error")).to_be_hidden()


def test_figures_are_not_shown_as_current_while_the_engine_hangs(hung, page):
    """Before, a hung engine's pipeline page kept records processed, steps, p99 and memory at their last
    values, and the pipelines page kept the row's rate ("0 rec/s") next to "unreachable". Now they read "–",
    as the throughput did, and are live again at the first answer."""
    eng, dash, c = hung
    r = c.post("/pipelines/h/ingress/items", params={"format": "json", "update_format": "raw"},
               content='{"id": 1, "name": "one"}\n{"id": 2, "name": "two"}')
    assert r.status_code == 200, r.text
    page.goto(f"{dash.url}/pipelines/h")
    stats = {k: page.locator(f'[data-stat="{k}"]')
             for k in ("processed", "input", "buffered", "steps", "latency", "memory", "outputs", "throughput")}
    expect(stats["processed"]).to_have_text("2")
    expect(stats["memory"]).to_contain_text("B")
    index = page.context.new_page()
    index.goto(f"{dash.url}/")
    rate = index.locator('tr[data-pipeline="h"] td.num')
    expect(rate).to_contain_text("rec/s")

    pids = [eng.proc.pid, *eng.worker_pids]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        expect(page.locator("#status")).to_have_text("unreachable")
        for k, node in stats.items():
            expect(node, k).to_have_text("–")
        expect(index.locator('tr[data-pipeline="h"] .badge')).to_have_text("unreachable")
        expect(rate).to_have_text("–")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)

    expect(page.locator("#status")).to_have_text("Running")
    expect(stats["processed"]).to_have_text("2")
    expect(stats["memory"]).to_contain_text("B")
    expect(rate).to_contain_text("rec/s")


@pytest.mark.parametrize("path, note, first", [("/pipelines/h", "outage-text", 1), ("/", "pipelines-error", 2)],
                         ids=["pipeline page", "pipelines page"])
def test_a_page_served_during_an_outage_says_its_first_attempt_is_under_way(hung, page, path, note, first):
    """A page loaded while the engine hangs is served saying the server is not answering; its first attempt
    to reach it again then stood without a word for the status timeout (the countdown began only once that
    attempt had failed). Now the note says "trying again…" from the first attempt on."""
    eng, dash, c = hung
    page.goto(f"{dash.url}{path}")
    expect(page.locator(f"#{note}")).to_be_hidden()
    # Record the note's texts from the end of the next page's parsing (its module script has run by then).
    page.add_init_script("""document.addEventListener("DOMContentLoaded", () => {
      const node = document.getElementById("%s");
      window.seen = [[node.textContent, performance.now()]];
      new MutationObserver(() => window.seen.push([node.textContent, performance.now()]))
        .observe(node, { childList: true, characterData: true, subtree: true });
    });""" % note)
    pids = [eng.proc.pid, *eng.worker_pids]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        served = page.goto(f"{dash.url}{path}").text()  # after STATUS_TIMEOUT, saying so
        expect(page.locator(f"#{note}")).to_be_visible()
        expect(page.locator(f"#{note}")).to_contain_text(f"retrying in {first} s", timeout=15_000)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    said = re.search(rf'id="{note}"[^>]*>([^<]+)<', served)
    assert said and "not answering" in said.group(1), served[:3000]
    texts = [text for text, _ in _notes(page)]
    assert texts[0] == f"{html.unescape(said.group(1))}; trying again…", texts  # the first attempt, in flight
    assert texts[1].endswith(f"; retrying in {first} s"), texts
    expect(page.locator(f"#{note}")).to_be_hidden()
