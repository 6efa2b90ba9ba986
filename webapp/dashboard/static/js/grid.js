// A virtualised table: only the rows in view (plus a margin) exist in the DOM, whatever the row count,
// so a 100,000-row view scrolls smoothly and memory stays with the data. Rows have a fixed height; two
// padding rows stand in for the rest. Every value is set with textContent.
//
// Modes: "state" (current rows: sortable, updated cells highlighted, new rows flash) and "log" (the
// change log, newest first, with insert/delete badges, step and time).

import { cellText, el, fmtTime } from "./dom.js";

export const ROW_H = 28;
const OVERSCAN = 12;
export const HIGHLIGHT_MS = 4000;
export const FLASH_MS = 2000;

function num(v) {
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

export class Grid {
  // opts: {onSort(col), onFilter(col, text), filters: {col: text}, sort: {col, desc}}
  constructor(root, opts) {
    this.root = root;
    this.opts = opts;
    this.columns = [];
    this.key = [];
    this.mode = "state";
    this.order = [];
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
        names.append(el("th", { class: "meta" }, c.slice(1)));
        filters.append(el("th", { class: "meta" }));
        continue;
      }
      const col = this.columns.find((x) => x.name === c);
      const arrow = sort.col === c ? (sort.desc ? " ▼" : " ▲") : "";
      const btn = el("button", { type: "button", class: "sort", title: `${col.type} — sort`, dataset: { col: c },
        onclick: () => this.opts.onSort(c) }, c + arrow);
      const th = el("th", { dataset: { col: c } }, btn);
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
    const entries = Array.from(model.rows.values());
    if (sort.col) this.order = sortEntries(entries, sort.col, sort.desc);
    else this.order = entries;
    return true;
  }

  // Draw the rows in view. Returns true while something is still highlighted (so the caller repaints).
  paint() {
    const total = this.order.length;
    const viewH = this.scroller.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(total, Math.ceil((this.scroller.scrollTop + viewH) / ROW_H) + OVERSCAN);
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
      const text = cellText(e.row[name]);
      if (td.textContent !== text) td.textContent = text;
      if (td.dataset.col !== name) td.dataset.col = name;
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
      const text = item.kind === "marker" ? (i === 0 ? item.text : "") : cellText(item.row[cols[i].name]);
      if (td.textContent !== text) td.textContent = text;
      td.dataset.col = cols[i].name;
      td.classList.remove("changed");
    }
    return false;
  }
}
