// A virtualised table: only the rows in view (plus a margin) exist in the DOM, whatever the row count,
// so a 100,000-row view scrolls smoothly and memory stays with the data. Rows have a fixed height; two
// padding rows stand in for the rest. Every value is set with textContent.
//
// Modes: "state" (current rows: sortable, in key order until a column is chosen, updated cells
// highlighted, new rows flash) and "log" (the change log, newest first, with insert/delete badges, step
// and time: in step order, so it has no sort). Numbers are right-aligned; floating-point ones rounded for
// display (the exact value in the cell's title).

import { cellText, el, fmtTime } from "./dom.js";

export const ROW_H = 28;
const OVERSCAN = 12;
export const HIGHLIGHT_MS = 4000;
export const FLASH_MS = 2000;

// A value as a number: numbers, and numeric strings (DECIMAL arrives as a string); else null.
export function num(v) {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v.trim())) return Number(v);
  return null;
}

// Sort rows by one column: each value is turned into a sort key once (numbers, including DECIMAL strings,
// as numbers; nulls last), which keeps re-sorting 100,000 rows cheap enough to do on every redraw.
function sortEntries(entries, col, desc) {
  const n = entries.length;
  let numeric = true;
  const keys = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = entries[i].row[col];
    const k = v === null || v === undefined ? null : num(v);
    if (k === null && v !== null && v !== undefined) numeric = false;
    keys[i] = k;
  }
  if (!numeric) {
    for (let i = 0; i < n; i++) {
      const v = entries[i].row[col];
      keys[i] = v === null || v === undefined ? null : typeof v === "string" ? v : JSON.stringify(v);
    }
  }
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const dir = desc ? -1 : 1;
  idx.sort((a, b) => {
    const x = keys[a], y = keys[b];
    if (x === y) return a - b;
    if (x === null) return 1;
    if (y === null) return -1;
    return (x < y ? -1 : 1) * dir;
  });
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = entries[idx[i]];
  return out;
}

const NUMERIC = /^(TINYINT|SMALLINT|INT|INTEGER|BIGINT|DECIMAL|NUMERIC|DOUBLE|REAL|FLOAT)\b/i;
const FLOATING = /^(DOUBLE|REAL|FLOAT)\b/i;
const ROUNDED = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 6, useGrouping: false });

// How a value of SQL type `type` shows: DOUBLE/REAL rounded to 6 significant digits, the rest as cellText.
export function displayText(v, type) {
  if (typeof v === "number" && FLOATING.test(type || "") && Number.isFinite(v)) return ROUNDED.format(v);
  return cellText(v);
}

export function isNumeric(type) {
  return NUMERIC.test(type || "");
}

export class Grid {
  // opts: {onSort(col), onFilter(col, text), filters: {col: text}, sort: {col, desc}}
  constructor(root, opts) {
    this.root = root;
    this.opts = opts;
    this.columns = [];
    this.key = [];
    this.mode = "state";
    this.order = [];
    this.numeric = [];
    this.builtFor = null;
    this.scroller = el("div", { class: "grid-scroll", tabindex: "0" });
    this.table = el("table", { class: "grid" });
    this.thead = el("thead");
    this.tbody = el("tbody");
    this.padTop = el("tr", { class: "pad" }, el("td"));
    this.padBottom = el("tr", { class: "pad" }, el("td"));
    this.tbody.append(this.padTop, this.padBottom);
    this.table.append(this.thead, this.tbody);
    this.scroller.append(this.table);
    root.append(this.scroller);
    this.pool = [];
    this.scroller.addEventListener("scroll", () => this.paint(), { passive: true });
  }

  setColumns(columns, key) {
    this.columns = columns;
    this.key = key || [];
    this._header();
    this.builtFor = null;
  }

  setMode(mode) {
    if (mode === this.mode) return;
    this.mode = mode;
    this._header();
    this.builtFor = null;
    this.scroller.scrollTop = 0;
  }

  _shown() {
    const cols = this.columns.map((c) => c.name);
    return this.mode === "log" ? ["\u0001time", "\u0001change", "\u0001step", ...cols] : cols;
  }

  _header() {
    const names = el("tr", { class: "h-names" });
    const filters = el("tr", { class: "h-filters" });
    const sort = this.opts.sort || {};
    for (const c of this._shown()) {
      if (c.startsWith("\u0001")) {
        names.append(el("th", { class: `meta meta-${c.slice(1)}` }, c.slice(1)));
        filters.append(el("th", { class: `meta meta-${c.slice(1)}` }));
        continue;
      }
      const col = this.columns.find((x) => x.name === c);
      const num = isNumeric(col.type) ? "num" : null;
      // The change log is in step order: a sort arrow there would claim an order that is not shown.
      const arrow = this.mode === "state" && sort.col === c ? (sort.desc ? " ▼" : " ▲") : "";
      const head = this.mode === "state"
        ? el("button", { type: "button", class: "sort", title: `${col.type} — sort`, dataset: { col: c },
          onclick: () => this.opts.onSort(c) }, c + arrow)
        : el("span", { class: "col-name", title: col.type }, c);
      const th = el("th", { dataset: { col: c }, class: num }, head);
      if (this.key.includes(c)) th.append(el("span", { class: "keymark", title: "key column" }, "key"));
      names.append(th);
      const input = el("input", { type: "search", class: "filter", placeholder: "filter", dataset: { col: c },
        title: "text (contains), =x, !=x, >n, >=n, <n, <=n, ^prefix", "aria-label": `filter ${c}` });
      input.value = (this.opts.filters || {})[c] || "";
      let timer = null;
      input.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => this.opts.onFilter(c, input.value), 350);
      });
      filters.append(el("th", {}, input));
    }
    this.thead.replaceChildren(names, filters);
    this.pool.forEach((tr) => tr.remove());
    this.pool = [];
    this.padTop.firstChild.colSpan = this._shown().length;
    this.padBottom.firstChild.colSpan = this._shown().length;
    this.numeric = this.columns.map((c) => isNumeric(c.type));
  }

  // Recompute the order of rows when the data (model.version) or the sort changed.
  build(model) {
    const sort = this.opts.sort || {};
    const sig = `${model.version}|${this.mode}|${sort.col}|${sort.desc}`;
    if (sig === this.builtFor) return false;
    this.builtFor = sig;
    if (this.mode === "log") {
      this.order = model.logEntries();
      return true;
    }
    let entries = Array.from(model.rows.values());
    if (sort.col) entries = sortEntries(entries, sort.col, sort.desc);
    else {
      // Key order until the user picks a column (a stable sort per key column, last first), so a row
      // stays where its key puts it rather than where it happened to arrive.
      for (let i = this.key.length - 1; i >= 0; i--) entries = sortEntries(entries, this.key[i], false);
    }
    this.order = entries;
    return true;
  }

  // Scroll so that the first row inserted or changed at or after `since` (ms) is drawn, and return its
  // element (null when no such row is in the table yet). Only the table mode has such rows.
  revealSince(since) {
    if (this.mode !== "state") return null;
    const at = this.order.findIndex((e) => (e.born && e.born >= since) || (e.changedAt && e.changedAt >= since));
    if (at < 0) return null;
    const viewH = this.scroller.clientHeight || 400;
    const top = at * ROW_H;
    if (top < this.scroller.scrollTop || top + ROW_H > this.scroller.scrollTop + viewH - 2 * ROW_H) {
      this.scroller.scrollTop = Math.max(0, top - Math.floor(viewH / 3));
    }
    this.paint();
    return this.pool[at - this.first] || null;
  }

  // Draw the rows in view. Returns true while something is still highlighted (so the caller repaints).
  paint() {
    const total = this.order.length;
    const viewH = this.scroller.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(total, Math.ceil((this.scroller.scrollTop + viewH) / ROW_H) + OVERSCAN);
    this.first = first;
    this._fit(total);
    this.padTop.style.height = `${first * ROW_H}px`;
    this.padBottom.style.height = `${Math.max(0, (total - last) * ROW_H)}px`;
    const need = last - first;
    while (this.pool.length < need) {
      const tr = el("tr", { class: "row" });
      for (let i = 0; i < this._shown().length; i++) tr.append(el("td"));
      this.pool.push(tr);
    }
    while (this.pool.length > need) this.pool.pop().remove();
    const now = Date.now();
    let active = false;
    let prev = this.padTop;
    for (let i = 0; i < need; i++) {
      const tr = this.pool[i];
      const item = this.order[first + i];
      active = (this.mode === "log" ? this._logRow(tr, item) : this._stateRow(tr, item, now)) || active;
      if (prev.nextSibling !== tr) prev.after(tr);
      prev = tr;
    }
    return active;
  }

  // The box is as tall as its rows, up to the CSS max-height (then it scrolls): a view of three rows
  // does not leave a screen of blank space under them. Sized only when the row count changes.
  _fit(total) {
    if (total === this.fittedFor) return;
    this.fittedFor = total;
    this.scroller.style.height = `${this.thead.offsetHeight + total * ROW_H + 2}px`;
  }

  _stateRow(tr, e, now) {
    const cols = this.columns;
    const flash = e.born && now - e.born < FLASH_MS;
    const lit = e.changed && now - e.changedAt < HIGHLIGHT_MS;
    tr.classList.toggle("flash", !!flash);
    tr.classList.toggle("updated", !!lit);
    tr.dataset.key = this.key.length ? JSON.stringify(this.key.map((k) => e.row[k])) : "";
    if (e.changed) tr.dataset.changed = [...e.changed].join(",");
    else delete tr.dataset.changed;
    for (let i = 0; i < cols.length; i++) {
      const td = tr.children[i];
      const name = cols[i].name;
      this._cell(td, e.row[name], cols[i], i);
      td.classList.toggle("null", e.row[name] === null || e.row[name] === undefined);
      td.classList.toggle("changed", !!(lit && e.changed.has(name)));
    }
    if (e.n > 1) tr.children[0].textContent = `${cellText(e.row[cols[0].name])} ×${e.n}`;
    return !!(flash || lit);
  }

  _logRow(tr, item) {
    const cols = this.columns;
    tr.classList.remove("flash", "updated");
    tr.dataset.kind = item.kind;
    const cells = tr.children;
    cells[0].textContent = fmtTime(item.t);
    cells[0].dataset.col = "\u0001time";
    const badge = cells[1].firstChild && cells[1].firstChild.nodeType === 1
      ? cells[1].firstChild : cells[1].appendChild(el("span"));
    badge.className = `badge ${item.kind}`;
    badge.textContent = item.kind === "marker" ? "note" : item.kind;
    cells[2].textContent = item.seq === undefined || item.seq === null ? "" : String(item.seq);
    for (let i = 0; i < cols.length; i++) {
      const td = cells[i + 3];
      if (item.kind === "marker") {
        const text = i === 0 ? item.text : "";
        if (td.textContent !== text) td.textContent = text;
        td.dataset.col = cols[i].name;
      } else this._cell(td, item.row[cols[i].name], cols[i], i);
      td.classList.remove("changed");
    }
    return false;
  }

  _cell(td, v, col, i) {
    const text = displayText(v, col.type);
    if (td.textContent !== text) {
      td.textContent = text;
      td.title = typeof v === "number" && text !== String(v) ? String(v) : "";
    }
    if (td.dataset.col !== col.name) td.dataset.col = col.name;
    td.classList.toggle("num", !!this.numeric[i]);
  }
}
