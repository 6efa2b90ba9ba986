// The query page: run one statement, show its rows in a paged table, show an error at its line and column,
// and offer the result as CSV, NDJSON or Parquet downloads (plain links: the browser streams them to disk).
// Reads go by GET; a statement that may write (INSERT) goes by POST with the CSRF token, editors only:
// the server decides both, this page only picks the method. The editor (sqleditor.js) completes the names in
// the schema sidebar; the history is kept in this browser (queryhistory.js); Cancel aborts a running read,
// and the dashboard then stops the engine's query (hangup.py).

import { ApiError, send, streamLines } from "./api.js";
import { canEdit, cellText, el, fmtAgo, fmtNumber, pageData, statusClass } from "./dom.js";
import * as History from "./queryhistory.js";
import { quoteName, sqlEditor } from "./sqleditor.js";

const MAX_ROWS = 10000; // rows kept for the table; exports always get the whole result
const PAGE = 100;
const WRITE_WORDS = /\b(INSERT|UPDATE|DELETE|MERGE|UPSERT|INTO|CREATE|DROP|ALTER|COPY|ATTACH|DETACH|TRUNCATE)\b/i;

const data = pageData();
const name = data.pipeline;
const api = `/api/pipelines/${encodeURIComponent(name)}/query`;
const $ = (id) => document.getElementById(id);
const relations = data.relations || [];
const box = sqlEditor($("sql"), { doc: data.sql || "", label: "SQL statement", relations, onRun: () => run() });
let rows = [];
let columns = [];
let page = 0;
let running = null; // the AbortController of the read in flight
let runs = 0; // counts runs: a run that a newer one replaced leaves the page to it

function queryUrl(sql, format, download) {
  const q = new URLSearchParams({ sql, format });
  if (download) q.set("download", "1");
  return `${api}?${q}`;
}

function showError(e, sql) {
  $("query-error").hidden = false;
  $("query-error-message").textContent = e.message;
  const where = $("query-error-where");
  const d = (e.details && typeof e.details === "object") ? e.details : {};
  where.hidden = true;
  if (!d.line) return;
  const lines = sql.split("\n");
  const line = lines[d.line - 1];
  if (line === undefined) return;
  const col = Math.max(1, d.column || 1);
  const guess = d.guessed ? " (where the name it mentions first appears)" : "";
  where.textContent = `line ${d.line}, column ${col}${guess}:\n${line}\n${" ".repeat(col - 1)}^`;
  where.hidden = false;
  $("query-error").dataset.line = String(d.line);
  $("query-error").dataset.column = String(col);
  const word = /^[\w$"]+/.exec(line.slice(col - 1));
  box.setErrors([{ line: d.line, column: col, endLine: d.line, endColumn: col - 1 + (word ? word[0].length : 1),
    message: e.message }]);
  const at = box.offsetOf(d.line, col);
  box.select(at, Math.min(box.value.length, at + 1));
}

function clearError() {
  box.setErrors([]);
  $("query-error").hidden = true;
  delete $("query-error").dataset.line;
  delete $("query-error").dataset.column;
}

// A DECIMAL comes as a JSON number with every digit (Feldera's ad-hoc JSON, see docs/api.md); a double keeps
// about 17 of them and drops the scale's trailing zeros (1.50 would show as 1.5). So a number whose text a
// double does not give back is kept as that text, read through the reviver's source text access, as a raw
// JSON value, which JSON.stringify (cellText) writes as it is.
function exactNumber(key, value, context) {
  if (typeof value !== "number" || context?.source === undefined || String(value) === context.source) return value;
  return JSON.rawJSON ? JSON.rawJSON(context.source) : context.source;
}

function isNumber(v) {
  return typeof v === "number" || (JSON.isRawJSON?.(v) ?? false);
}

function draw() {
  $("results").hidden = false;
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  page = Math.min(Math.max(0, page), pages - 1);
  $("result-head").replaceChildren(el("tr", {}, ...columns.map((c) => el("th", { scope: "col" }, c))));
  const shown = rows.slice(page * PAGE, (page + 1) * PAGE);
  $("result-body").replaceChildren(...shown.map((r) => el("tr", { class: "row" },
    ...columns.map((c) => {
      const text = cellText(r[c]); // a long value is cut short by the CSS; the title holds all of it
      const cls = r[c] === null || r[c] === undefined ? "null" : isNumber(r[c]) ? "num" : null;
      return el("td", { class: cls, dataset: { col: c },
        title: text.length > 60 ? text : null }, el("span", { class: "cut" }, text));
    }))));
  $("page-label").textContent = `page ${page + 1} of ${pages}`;
  $("prev").disabled = page === 0;
  $("next").disabled = page >= pages - 1;
}

// The exports are links that run the query again (streamed to disk by the browser, every row, typed), so
// they say so, with the number of rows shown: a live pipeline may have changed in between.
function setExports(sql, shown, truncated, at) {
  $("exports").hidden = !sql;
  if (!sql) return;
  $("export-note").textContent = `Export runs the query again now: the file holds the rows at that moment, ` +
    `which may differ from the ${fmtNumber(shown)}${truncated ? "+" : ""} row${shown === 1 ? "" : "s"} shown ` +
    `(run at ${at.toLocaleTimeString()}).`;
  $("export-csv").href = queryUrl(sql, "csv", true);
  $("export-json").href = queryUrl(sql, "json", true);
  $("export-parquet").href = queryUrl(sql, "parquet", true);
}

async function run() {
  box.closeCompletion(); // Ctrl+Enter keeps the focus in the editor, which would keep the list open
  const sql = box.value.trim();
  if (running) running.abort();
  running = null;
  const id = ++runs;
  clearError();
  setExports(null);
  if (!sql) {
    showError(new Error("write a SQL statement first"), "");
    return;
  }
  history.replaceState(null, "", `${location.pathname}?${new URLSearchParams({ sql })}`);
  const note = $("query-note");
  note.textContent = "running…";
  $("run").disabled = true;
  let outcome = "error";
  const t0 = performance.now();
  rows = [];
  page = 0;
  let truncated = false;
  let exportable = false;
  const at = new Date();
  try {
    if (canEdit() && WRITE_WORDS.test(sql)) {
      const answer = await send(api, { sql });
      rows = answer.rows || [];
      truncated = !!answer.truncated;
    } else {
      const ctl = new AbortController();
      running = ctl;
      $("cancel").hidden = false;
      try {
        await streamLines(queryUrl(sql, "json", false), (line) => {
          if (rows.length >= MAX_ROWS) {
            truncated = true;
            ctl.abort();
            return;
          }
          rows.push(JSON.parse(line, exactNumber));
        }, ctl.signal);
      } catch (e) {
        if (e.name === "AbortError" && !truncated) {
          if (ctl === running) throw new Cancelled(); // the Cancel button, not a newer run
          return;
        }
        if (!(truncated && e.name === "AbortError")) throw e;
      }
      exportable = true;
    }
    const last = rows[rows.length - 1];
    if (last && rows.length > 1 && Object.keys(last).length === 1 && "error" in last &&
        !("error" in rows[0])) {
      rows.pop();
      throw new ApiError(400, { message: `the query failed part way: ${last.error}`, error_code: "AdHocQueryError" });
    }
    columns = rows.length ? Object.keys(rows[0]) : [];
    const ms = performance.now() - t0;
    note.textContent = rows.length
      ? `${fmtNumber(rows.length)}${truncated ? "+" : ""} row${rows.length === 1 && !truncated ? "" : "s"} in ${fmtNumber(ms)} ms` +
        (truncated ? ` (the table keeps the first ${fmtNumber(rows.length)}; exports get all)` : "")
      : `no rows (${fmtNumber(ms)} ms)`;
    $("result-count").textContent = note.textContent;
    note.textContent = "";
    if (exportable) setExports(sql, rows.length, truncated, at);
    outcome = `${fmtNumber(rows.length)}${truncated ? "+" : ""} row${rows.length === 1 ? "" : "s"}`;
    draw();
  } catch (e) {
    $("results").hidden = true;
    if (e instanceof Cancelled) {
      outcome = "cancelled";
      note.textContent = `cancelled after ${fmtNumber(performance.now() - t0)} ms`;
    } else {
      note.textContent = "";
      showError(e, sql);
    }
  } finally {
    if (id === runs) {
      $("run").disabled = false;
      $("cancel").hidden = true;
      running = null;
      History.remember(data.user, name, sql, outcome);
      drawHistory();
    }
  }
}

class Cancelled extends Error {}

function cancel() {
  if (running) running.abort();
}

// The sidebar: each table and view with its columns; a click inserts the name at the cursor.
function drawSchema() {
  $("schema").replaceChildren(...relations.map((r) => el("li", { class: "schema-rel", dataset: { rel: r.name } },
    el("details", { open: relations.length <= 6 },
      el("summary", {},
        el("button", { type: "button", class: "name", title: `insert ${r.name}`, onclick: () => box.insert(quoteName(r.name)) },
          r.name),
        el("span", { class: "muted small" }, ` ${r.kind}`)),
      el("ul", {}, ...(r.columns || []).map((c) => el("li", { dataset: { col: c.name } },
        el("button", { type: "button", class: "name", title: `insert ${c.name}`, onclick: () => box.insert(quoteName(c.name)) },
          c.name),
        el("span", { class: "muted small" }, ` ${c.type}`))))))));
  if (!relations.length) $("schema").append(el("li", { class: "muted small" }, "no tables or views"));
}

function drawHistory() {
  const list = History.entries(data.user, name);
  $("history-count").textContent = list.length ? `(${fmtNumber(list.length)})` : "";
  $("history-list").replaceChildren(...list.map((h) => el("li", {},
    el("button", { type: "button", class: "history-sql", title: "put it back in the editor",
      onclick: () => { box.value = h.sql; box.focus(); } }, h.sql),
    el("span", { class: "muted small" }, ` ${fmtAgo(h.at)} · ${h.outcome || ""}`))));
  $("history-clear").disabled = !list.length;
}

$("query-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  run();
});
$("cancel").addEventListener("click", cancel);
$("history-clear").addEventListener("click", () => { History.forget(data.user, name); drawHistory(); });
drawSchema();
drawHistory();
$("prev").addEventListener("click", () => { page--; draw(); });
$("next").addEventListener("click", () => { page++; draw(); });
$("run").disabled = false; // disabled in the HTML until this module runs
$("status").className = `badge ${statusClass(data.status && data.status.deployment_status)}`;
if (box.value.trim()) run();
