// Watches on a live view: a named condition on one column, in the filter boxes' syntax ("=London", or a
// threshold on a number: ">900"), saved in this browser for the pipeline and view. Each watch is its own
// subscription with that filter, so the hub decides what matches by the same rules as the table's filters
// (webapp/dashboard/state.py). In the filtered stream a row that starts matching arrives as an insert and
// one that stops matching as a delete; an update that keeps matching is a delete and an insert of the same
// key in one step, and is neither. Each start or stop shows a notice on the page and a note line in the
// panel's change log. Watches run while the page is open (nothing watches for you once it is closed).

import { el, fmtNumber } from "./dom.js";
import { describeFilter, parseFilter } from "./filter.js";
import { keyText } from "./viewmodel.js";

const NOTICE_MS = 10000;
const MAX_NOTICES = 5;
const MAX_NOTICES_PER_STEP = 3; // a step that moves many rows says how many, not every one

function storeKey(pipeline, view) {
  return `sluice.watches.${pipeline}.${view}`;
}

function load(pipeline, view) {
  try {
    const v = JSON.parse(localStorage.getItem(storeKey(pipeline, view)) || "[]");
    return Array.isArray(v) ? v.filter((w) => w && w.name && w.column && w.text) : [];
  } catch (_) {
    return [];
  }
}

// A notice in the page's corner (announced politely to screen readers), gone after NOTICE_MS.
export function notice(text, level = "info") {
  let box = document.getElementById("notices");
  if (!box) {
    box = el("div", { id: "notices", class: "notices", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const n = el("div", { class: `notice ${level}` }, text);
  box.append(n);
  while (box.children.length > MAX_NOTICES) box.firstChild.remove();
  setTimeout(() => n.remove(), NOTICE_MS);
}

export class Watches {
  // panel: the Panel it belongs to (its connection, names, key, columns and change log).
  constructor(panel) {
    this.panel = panel;
    this.list = [];
    this.chips = el("span", { class: "watch-chips" });
    this.form = this._form();
    this.node = el("div", { class: "watches" }, this.chips, this.form);
    for (const w of load(panel.opts.pipeline, panel.opts.view)) this._start(w);
    this._render();
  }

  _form() {
    this.column = el("select", { class: "watch-column", "aria-label": "watch column" });
    this.condition = el("input", { class: "watch-condition", "aria-label": "watch condition",
      placeholder: ">900, =London, ^Lon, null", title: "text (contains), =x, !=x, >n, >=n, <n, <=n, ^prefix, null, !null" });
    this.name = el("input", { class: "watch-name", "aria-label": "watch name", placeholder: "name" });
    this.error = el("span", { class: "watch-error", role: "alert" });
    const form = el("form", { class: "watch-form", hidden: "" },
      el("label", {}, "when ", this.column), this.condition, this.name,
      el("button", { type: "submit" }, "Save watch"),
      el("button", { type: "button", onclick: () => this.toggle(false) }, "Cancel"), this.error);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const err = this.add(this.name.value, this.column.value, this.condition.value);
      this.error.textContent = err || "";
      if (!err) this.toggle(false);
    });
    return form;
  }

  // Open or close the form (the panel's Watch button).
  toggle(open = this.form.hidden) {
    this.form.hidden = !open;
    if (open) {
      const cols = (this.panel.relation && this.panel.relation.columns) || [];
      this.column.replaceChildren(...cols.map((c) => el("option", { value: c.name }, c.name)));
      this.error.textContent = "";
      this.condition.focus();
    }
  }

  // Save a watch; returns what is wrong with it, or null.
  add(name, column, text) {
    name = name.trim();
    if (!column) return "choose a column";
    if (!parseFilter(column, text)) return "write a condition, e.g. >900 or =London";
    if (!name) name = `${column} ${text.trim()}`;
    if (this.list.some((w) => w.name === name)) return `there is already a watch named "${name}"`;
    this._start({ name, column, text: text.trim() });
    this._save();
    this._render();
    return null;
  }

  remove(w) {
    this.panel.conn.unsubscribe(w.sub);
    this.list.splice(this.list.indexOf(w), 1);
    this._save();
    this._render();
  }

  close() {
    for (const w of this.list) this.panel.conn.unsubscribe(w.sub);
    this.list = [];
  }

  _save() {
    const { pipeline, view } = this.panel.opts;
    localStorage.setItem(storeKey(pipeline, view),
      JSON.stringify(this.list.map(({ name, column, text }) => ({ name, column, text }))));
  }

  _start(w) {
    const pred = parseFilter(w.column, w.text);
    const entry = { ...w, pred, matching: null, events: 0, error: null };
    const { pipeline, view } = this.panel.opts;
    entry.sub = this.panel.conn.subscribe({ pipeline, view, filter: [pred], onFrame: (f) => this._frame(entry, f) });
    this.list.push(entry);
  }

  _frame(w, f) {
    if (f.op === "snapshot") {
      w.matching = f.rows.length; // where it stands now; only later changes are events
      w.error = null;
    } else if (f.op === "error") {
      w.error = f.message;
    } else if (f.op === "changes") {
      let at = 0;
      for (const st of f.steps || [{ n: f.changes.length }]) {
        this._step(w, f.changes.slice(at, at + st.n));
        at += st.n;
      }
    } else return;
    this._render();
  }

  // One step of the filtered stream: inserts without a delete of the same key started matching, deletes
  // without an insert of the same key stopped.
  _step(w, changes) {
    const key = this.panel._key();
    const came = new Map(), gone = new Map();
    for (const ch of changes) {
      const del = ch.delete !== undefined;
      const row = del ? ch.delete : ch.insert;
      const m = del ? gone : came;
      const k = keyText(row, key);
      if (!m.has(k)) m.set(k, []);
      m.get(k).push(row);
    }
    const events = [];
    for (const [k, rows] of came) for (const row of rows.slice((gone.get(k) || []).length)) events.push(["started", row]);
    for (const [k, rows] of gone) for (const row of rows.slice((came.get(k) || []).length)) events.push(["stopped", row]);
    if (!events.length) return;
    w.events += events.length;
    if (w.matching !== null) {
      w.matching += events.filter((e) => e[0] === "started").length - events.filter((e) => e[0] === "stopped").length;
    }
    const cond = describeFilter(w.pred);
    events.forEach(([how, row], i) => {
      const text = `watch "${w.name}": ${this._label(row, key)} ${how} matching ${cond}`;
      this.panel.model.mark(text);
      if (i < MAX_NOTICES_PER_STEP) notice(text, how === "started" ? "warn" : "info");
    });
    if (events.length > MAX_NOTICES_PER_STEP) {
      notice(`watch "${w.name}": ${fmtNumber(events.length - MAX_NOTICES_PER_STEP)} more rows in the same step ` +
        "(each is in the change log)");
    }
    this.panel.dirty = true;
  }

  _label(row, key) {
    const cols = key && key.length ? key : Object.keys(row).slice(0, 3);
    return cols.map((c) => `${c}=${row[c] === null ? "null" : row[c]}`).join(", ");
  }

  _render() {
    this.chips.replaceChildren(...this.list.map((w) => el("span", { class: "watch-chip", dataset: { watch: w.name },
      title: w.error || `${describeFilter(w.pred)}: ${w.events} start/stop events while this page was open` },
    el("b", {}, w.name), ` ${describeFilter(w.pred)} · `,
    el("span", { class: "watch-matching" }, w.error ? "error" : w.matching === null ? "…" : `${fmtNumber(w.matching)} match`),
    ` · ${fmtNumber(w.events)} ${w.events === 1 ? "event" : "events"} `,
    el("button", { type: "button", class: "watch-remove", "aria-label": `remove watch ${w.name}`,
      onclick: () => this.remove(w) }, "×"))));
  }
}
