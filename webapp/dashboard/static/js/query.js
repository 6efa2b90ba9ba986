// The query page: run one statement, show its rows in a paged table, show an error at its line and column,
// and offer the result as CSV, NDJSON or Parquet downloads (plain links: the browser streams them to disk).
// Reads go by GET; a statement that may write (INSERT) goes by POST with the CSRF token, editors only:
// the server decides both, this page only picks the method.

import { ApiError, send, streamLines } from "./api.js";
import { canEdit, cellText, el, fmtNumber, pageData, statusClass } from "./dom.js";

const MAX_ROWS = 10000; // rows kept for the table; exports always get the whole result
const PAGE = 100;
const WRITE_WORDS = /\b(INSERT|UPDATE|DELETE|MERGE|UPSERT|INTO|CREATE|DROP|ALTER|COPY|ATTACH|DETACH|TRUNCATE)\b/i;

const data = pageData();
const name = data.pipeline;
const api = `/api/pipelines/${encodeURIComponent(name)}/query`;
const $ = (id) => document.getElementById(id);
const box = $("sql");
if (data.sql && !box.value) box.value = data.sql;
let rows = [];
let columns = [];
let page = 0;
let running = null;

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
  let at = 0;
  for (let i = 0; i < d.line - 1; i++) at += lines[i].length + 1;
  at += col - 1;
  box.focus();
  box.setSelectionRange(at, Math.min(box.value.length, at + 1));
}

function clearError() {
  $("query-error").hidden = true;
  delete $("query-error").dataset.line;
  delete $("query-error").dataset.column;
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
      const cls = r[c] === null || r[c] === undefined ? "null" : typeof r[c] === "number" ? "num" : null;
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
  const sql = box.value.trim();
  if (running) running.abort();
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
      try {
        await streamLines(queryUrl(sql, "json", false), (line) => {
          if (rows.length >= MAX_ROWS) {
            truncated = true;
            ctl.abort();
            return;
          }
          rows.push(JSON.parse(line));
        }, ctl.signal);
      } catch (e) {
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
      ? `${fmtNumber(rows.length)}${truncated ? "+" : ""} rows in ${fmtNumber(ms)} ms` +
        (truncated ? ` (the table keeps the first ${fmtNumber(rows.length)}; exports get all)` : "")
      : `no rows (${fmtNumber(ms)} ms)`;
    $("result-count").textContent = note.textContent;
    note.textContent = "";
    if (exportable) setExports(sql, rows.length, truncated, at);
    draw();
  } catch (e) {
    note.textContent = "";
    $("results").hidden = true;
    showError(e, sql);
  } finally {
    $("run").disabled = false;
    running = null;
  }
}

$("query-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  run();
});
box.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    run();
  }
});
$("prev").addEventListener("click", () => { page--; draw(); });
$("next").addEventListener("click", () => { page++; draw(); });
$("run").disabled = false; // disabled in the HTML until this module runs
$("status").className = `badge ${statusClass(data.status && data.status.deployment_status)}`;
if (box.value.trim()) run();
