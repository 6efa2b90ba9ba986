// Keys that work on every page: "/" focuses the global search over pipelines, tables and views, and "?"
// lists the shortcuts. Neither fires while the user is typing in a field. The search reads the catalog
// (names only) once, when it is first used, and matches as you type, prefixes first.

import { getJSON } from "./api.js";
import { canEdit, el } from "./dom.js";

const box = document.getElementById("global-search");
const list = document.getElementById("search-results");
const help = document.getElementById("shortcuts");
const LIMIT = 20;

function typing(target) {
  return !!(target && target.closest && target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
}

// -- the catalog, as search entries --------------------------------------------------------------
let catalog = null;

function entries(pipelines) {
  const out = [];
  for (const p of pipelines) {
    const base = `/pipelines/${encodeURIComponent(p.name)}`;
    out.push({ name: p.name, kind: "pipeline", where: p.status || "", href: base });
    for (const r of p.relations) {
      // an editor goes to a table's data-entry page (which watches it too); a viewer to its live view
      const page = r.kind === "table" && canEdit() ? "tables" : "views";
      out.push({ name: r.name, kind: r.kind, where: p.name, href: `${base}/${page}/${encodeURIComponent(r.name)}` });
    }
  }
  return out;
}

async function load() {
  if (!catalog) catalog = getJSON("/api/catalog").then((a) => entries(a.pipelines));
  try {
    return await catalog;
  } catch (e) {
    catalog = null;  // try again on the next keystroke
    throw e;
  }
}

function matches(all, query) {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const rank = (e) => {
    const n = e.name.toLowerCase();
    return n === q ? 0 : n.startsWith(q) ? 1 : n.includes(q) ? 2 : e.where.toLowerCase().includes(q) ? 3 : -1;
  };
  return all.map((e) => [rank(e), e]).filter(([r]) => r >= 0)
    .sort((a, b) => a[0] - b[0] || a[1].name.localeCompare(b[1].name)).slice(0, LIMIT).map(([, e]) => e);
}

// -- the result list -------------------------------------------------------------------------------
let shown = [];
let selected = -1;

function close() {
  list.hidden = true;
  box.setAttribute("aria-expanded", "false");
  box.removeAttribute("aria-activedescendant");
}

function select(i) {
  selected = i;
  [...list.children].forEach((li, k) => li.setAttribute("aria-selected", String(k === i)));
  if (i >= 0 && list.children[i]) {
    box.setAttribute("aria-activedescendant", list.children[i].id);
    list.children[i].scrollIntoView({ block: "nearest" });
  }
}

function render(items, note) {
  shown = items;
  list.replaceChildren(...items.map((e, i) => el("li", { role: "option", id: `search-result-${i}`,
    dataset: { kind: e.kind }, "aria-selected": "false" },
  el("a", { href: e.href, tabindex: "-1" }, e.name), " ", el("span", { class: "muted small" },
    e.kind === "pipeline" ? `pipeline${e.where ? ` · ${e.where}` : ""}` : `${e.kind} · ${e.where}`))));
  if (note) list.append(el("li", { class: "muted small", role: "presentation" }, note));
  list.hidden = !items.length && !note;
  box.setAttribute("aria-expanded", String(!list.hidden));
  select(items.length ? 0 : -1);
}

let asked = 0;
async function search() {
  const n = ++asked;
  if (!box.value.trim()) {
    render([], null);
    return;
  }
  try {
    const found = matches(await load(), box.value);
    if (n === asked) render(found, found.length ? null : `nothing named like "${box.value.trim()}"`);
  } catch (e) {
    if (n === asked) render([], `cannot search: ${e.message}`);
  }
}

if (box) {
  box.addEventListener("input", search);
  box.addEventListener("focus", () => { load().catch(() => {}); if (box.value.trim()) search(); });
  box.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      if (shown.length) select((selected + (ev.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length);
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      if (selected >= 0 && shown[selected]) location.assign(shown[selected].href);
    } else if (ev.key === "Escape") {
      box.value = "";
      close();
      box.blur();
    }
  });
  box.addEventListener("blur", () => setTimeout(close, 150));  // after a click on a result
}

// -- the global keys ----------------------------------------------------------------------------------
document.addEventListener("keydown", (ev) => {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
  if (document.querySelector("dialog[open]")) return;  // a dialog has the keyboard
  if (ev.key === "/" && box) {
    ev.preventDefault();
    box.focus();
    box.select();
  } else if (ev.key === "?" && help) {
    ev.preventDefault();
    help.showModal();
  }
});

document.body.dataset.keys = "ready";  // for tests: the keys work from here on
