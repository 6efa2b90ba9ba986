"""At 390 px wide (a phone) no page scrolls sideways: wide tables scroll inside their own box, headers and
button rows wrap, and the key menu stays in its panel; three panels side by side keep their tools inside."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .support import SQL, push

PAGES = ["/", "/pipelines/{p}", "/pipelines/{p}/views/v", "/pipelines/{p}/live?views=v,big&v.mode=log",
         "/pipelines/{p}/tables/t", "/pipelines/{p}/query?sql=SELECT%20*%20FROM%20t", "/pipelines/{p}/program",
         "/pipelines/new", "/pipelines/{p}/logs", "/pipelines/{p}/history"]


@pytest.fixture
def narrow(browser):
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    yield page
    ctx.close()
    assert not problems, problems


def test_no_page_scrolls_sideways_at_390_px(narrow, proxy, http, make_pipeline):
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": i, "name": f"a rather long name number {i}", "n": i * 1000}}
                        for i in range(1, 5)])
    wide = {}
    for path in PAGES:
        narrow.goto(proxy.url + path.format(p=p))
        if "/views/" in path or "/live" in path or "/tables/" in path:
            expect(narrow.locator(".panel").first).to_have_attribute("data-rows", "4")
        if path.endswith("/logs"):
            expect(narrow.locator("#log .log-entry").first).to_be_attached()
        if path.endswith("/history"):
            expect(narrow.locator("#history-note")).to_have_attribute("data-samples", re.compile(r"\d"))
        if "query" in path:
            expect(narrow.locator("#result-count")).to_contain_text("4 rows")
        sizes = narrow.evaluate("() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
        if sizes[0] > sizes[1]:
            wide[path] = sizes + [narrow.evaluate("""() => {
              const W = document.scrollingElement.clientWidth, out = [];
              for (const e of document.querySelectorAll('body *')) {
                const r = e.getBoundingClientRect();
                const pr = e.parentElement.getBoundingClientRect();
                if (r.right > W + 0.5 && pr.right <= W + 0.5) out.push(e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(r.right));
              }
              return out.slice(0, 8);
            }""")]
    assert wide == {}, wide
    # Three panels side by side on a wide screen: the tools wrap as whole controls inside each panel.
    narrow.set_viewport_size({"width": 1400, "height": 800})
    narrow.goto(f"{proxy.url}/pipelines/{p}/live?views=v,big,t")
    expect(narrow.locator(".panel")).to_have_count(3)
    out = narrow.evaluate("""() => [...document.querySelectorAll('.panel')].flatMap(panel => {
      const box = panel.getBoundingClientRect();
      return [...panel.querySelectorAll('.panel-head button, .panel-head select, .panel-head summary')]
        .filter(e => { const r = e.getBoundingClientRect(); return r.right > box.right || r.height > 40; })
        .map(e => `${panel.dataset.view}: ${e.textContent}`);
    })""")
    assert out == [], out  # nothing past its panel's edge, no button on two lines
