// Exports of a live view (the Export menu in each panel's header):
// - its current state as CSV, JSON or Parquet: links to the dashboard's query export of `SELECT * FROM view`,
//   so the rows are the engine's at that moment, typed (CSV formula escaping needs the column types), every
//   row (not only those loaded or matching the panel's filters), and streamed to disk by the browser;
// - its change log as insert/delete NDJSON, built here from the frames the panel already receives: the
//   snapshot as inserts, then every change in order. Uploaded with update_format=insert_delete into a table
//   with the view's columns it reproduces the view, when the log starts from a full snapshot; the menu
//   says when it cannot (not materialized, filtered, changes lost, too big).

import { el, fmtNumber, fmtTime } from "./dom.js";

export const LOG_BOUND = 200000;

export class ChangeLog {
  constructor(bound = LOG_BOUND) {
    this.bound = bound;
    this.entries = [];
    this.since = null; // when the log's first snapshot arrived
    this.compactedAt = null;
    this.tooBig = false;
  }

  snapshot(rows) {
    this.since = Date.now();
    this.compactedAt = null;
    this.tooBig = rows.length > this.bound;
    this.entries = this.tooBig ? [] : rows.map((row) => ({ insert: row }));
  }

  changes(list, model) {
    if (this.since === null || this.tooBig) return;
    for (const ch of list) this.entries.push(ch);
    if (this.entries.length > this.bound) this._compact(model);
  }

  // Past the bound, the log restarts from the rows the panel holds now (as inserts): the history is lost,
  // reproducing the view is not.
  _compact(model) {
    const rows = [];
    for (const e of model.rows.values()) for (let i = 0; i < e.n; i++) rows.push({ insert: e.row });
    this.compactedAt = Date.now();
    this.tooBig = rows.length > this.bound;
    this.entries = this.tooBig ? [] : rows;
  }

  blob() {
    return new Blob(this.entries.map((e) => JSON.stringify(e) + "\n"), { type: "application/x-ndjson" });
  }
}

function stamp() {
  return new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

function safe(text) {
  return text.replace(/[^A-Za-z0-9_-]/g, "_");
}

// Why the change log would not reproduce the view, or how it was shortened: [[class, text], ...].
export function logNotes(panel) {
  const log = panel.changeLog;
  const rel = panel.relation;
  const notes = [];
  if (log.since === null) notes.push(["warn", "No data received yet."]);
  if (rel && !rel.materialized) {
    notes.push(["bad", `Not materialized: the dashboard has followed this view since ${fmtTime(panel.feed.since)}, ` +
      "with no snapshot of what it held before, so the log holds only the changes since then. Uploaded, it " +
      "will not reproduce the view."]);
  }
  if (Object.keys(panel.state.filters || {}).length) {
    notes.push(["warn", "Filtered: the log holds only rows that match this panel's filters."]);
  }
  if (panel.feed.incomplete_since) {
    notes.push(["bad", `Changes were lost upstream since ${fmtTime(panel.feed.incomplete_since)}: the log ` +
      "cannot reproduce the view."]);
  }
  if (log.tooBig) notes.push(["bad", `Over ${fmtNumber(log.bound)} rows: no change log is kept for this view.`]);
  else if (log.compactedAt) {
    notes.push(["info", `Over ${fmtNumber(log.bound)} changes: at ${fmtTime(log.compactedAt)} the log was ` +
      "restarted from the rows shown then (as inserts). It still reproduces the view, without the older history."]);
  }
  return notes;
}

export function exportMenu(panel) {
  const { pipeline, view } = panel.opts;
  const sql = `SELECT * FROM "${view.replace(/"/g, '""')}"`;
  const api = `/api/pipelines/${encodeURIComponent(pipeline)}/query`;
  const link = (format, label) => el("a", { class: "button", download: "", dataset: { export: `state-${format}` },
    href: `${api}?${new URLSearchParams({ sql, format, download: "1", what: view })}` }, label);
  const notes = el("div", { class: "export-notes" });
  const count = el("span", { class: "muted small" });
  const logBtn = el("button", { type: "button", dataset: { export: "changes" } }, "Change log (insert/delete NDJSON)");
  logBtn.addEventListener("click", () => {
    const url = URL.createObjectURL(panel.changeLog.blob());
    const a = el("a", { href: url, download: `${safe(pipeline)}-${safe(view)}-changes-${stamp()}.ndjson` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  });
  const menu = el("details", { class: "export-menu" }, el("summary", {}, "Export"),
    el("div", { class: "menu" },
      el("div", { class: "muted small" }, "Current state, queried from the engine now (every row, no filters):"),
      el("div", { class: "row" }, link("csv", "CSV"), link("json", "JSON"), link("parquet", "Parquet")),
      el("div", { class: "muted small" }, "Changes received by this panel, to upload again with " +
        "update_format=insert_delete into a table with the view's columns:"),
      el("div", { class: "row" }, logBtn, count), notes));
  menu.addEventListener("toggle", () => {
    if (!menu.open) return;
    const log = panel.changeLog;
    count.textContent = `${fmtNumber(log.entries.length)} entries`;
    logBtn.disabled = log.since === null || log.tooBig;
    notes.replaceChildren(...logNotes(panel).map(([cls, text]) => el("div", { class: `flag ${cls}` }, text)));
  });
  return menu;
}
