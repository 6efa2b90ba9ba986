"""Helpers for the browser tests: push through the engine's ingress, read a view by query, find rows, and put
text into the SQL editor (CodeMirror) and read it back."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

from webapp.engine.testing import push_and_wait

SQL = """
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR, n INT) WITH ('materialized' = 'true');
CREATE MATERIALIZED VIEW v AS SELECT id, name, n FROM t WHERE n >= 0;
CREATE VIEW big AS SELECT id, n FROM t WHERE n > 50;
"""


push = push_and_wait  # insert/delete events, then wait until processed


def query(http, pipeline: str, sql: str) -> list[dict]:
    r = http.get(f"/pipelines/{pipeline}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    # read as Feldera's client reads ad-hoc answers: a DECIMAL is a number, kept whole as a Decimal
    return [json.loads(line, parse_float=Decimal) for line in r.text.splitlines() if line.strip()]


def rows_text(rows: list[dict], cols: list[str]) -> Counter:
    return Counter("|".join("∅" if r[c] is None else str(r[c]) for c in cols) for r in rows)


def row(panel, id_: int):
    """The rows of ``panel`` whose id cell is exactly ``id_``."""
    return panel.locator(f'tr.row:has(td[data-col="id"]:text-is("{id_}"))')


def cell(panel, id_: int, col: str):
    return row(panel, id_).locator(f'td[data-col="{col}"]')


def grid_rows(page, view: str, cols: list[str]) -> Counter:
    texts = page.eval_on_selector_all(
        f'.panel[data-view="{view}"] tr.row',
        "(trs, cols) => trs.map(tr => cols.map(c => tr.querySelector(`td[data-col='${c}']`).textContent).join('|'))",
        cols)
    return Counter(texts)


_PASTE = """(el, text) => {
  const data = new DataTransfer();
  data.setData("text/plain", text);
  el.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
}"""


def set_sql(page, editor: str, text: str) -> None:
    """Replace what the SQL editor at ``editor`` holds with ``text``, as a user does: click into it, select
    all, paste (CodeMirror's own paste handler takes it; typing would add auto-indentation and brackets)."""
    content = page.locator(f"{editor} .cm-content")
    content.click()
    page.keyboard.press("Control+a")
    content.evaluate(_PASTE, text)


def editor_text(page, editor: str) -> str:
    """The text the SQL editor at ``editor`` shows, line by line (a short program: every line is drawn)."""
    page.locator(f"{editor} .cm-line").first.wait_for()
    return page.locator(f"{editor} .cm-line").evaluate_all("(ls) => ls.map((l) => l.textContent).join('\\n')")


def colour(page, css: str) -> str:
    """The computed colour ``css`` (a colour or ``var(--x)``) stands for on this page."""
    return page.evaluate("""(css) => {
        const probe = document.createElement("span");
        probe.style.color = css;
        document.body.append(probe);
        const got = getComputedStyle(probe).color;
        probe.remove();
        return got;
    }""", css)


def token_colours(page, editor: str, word: str) -> set[str]:
    """The colours the SQL editor at ``editor`` draws each ``word`` in (a word the highlighter does not know
    is drawn in the text's colour)."""
    return set(page.locator(f"{editor} .cm-line").evaluate_all("""(lines, word) => {
        const out = [];
        for (const line of lines) {
            const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
            for (let t = walker.nextNode(); t; t = walker.nextNode()) {
                for (const m of t.data.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) {
                    if (m[0] === word) out.push(getComputedStyle(t.parentElement).color);
                }
            }
        }
        return out;
    }""", word))
