// The data-entry page of one table: the grid of typed rows (entrygrid.js), the JSON editor, the state of
// the last submission (sending → queued → processed, by its completion token), the paused pipeline's
// "push anyway (force)", and a live panel of the table or a view, where the rows a change touched flash.
// Rows are checked here with the validator's rules (rules.js) and again, authoritatively, by the server.

import { getJSON, send } from "./api.js";
import { LiveConnection } from "./connection.js";
import { canEdit, el, pageData, statusClass } from "./dom.js";
import { EntryGrid } from "./entrygrid.js";
import { Panel } from "./panel.js";
import { checkValue, randomText } from "./rules.js";
import { lateText } from "./late.js";
import { showSignedOut, signedOut } from "./signedout.js";
import { watchConnection } from "./status.js";

const data = pageData();
const table = data.table;
const base = `/api/pipelines/${encodeURIComponent(data.pipeline)}`;
const $ = (id) => document.getElementById(id);

// -- pipeline status: the badge and the paused note ------------------------------------------------
let status = data.status ? data.status.deployment_status : null;
let statusPoller = null;

function showStatus(s) {
  status = s;
  const badge = $("status");
  badge.textContent = s || "?";
  badge.className = `badge ${statusClass(s)}`;
  $("paused-note").hidden = s !== "Paused";
  $("stopped-note").hidden = !s || s === "Running" || s === "Paused";
}

async function pollStatus() {
  try {
    const answer = await getJSON(`${base}/stats`);
    showStatus(answer.status && answer.status.deployment_status);
  } catch (e) {  // else the live panel shows the connection's state
    if (signedOut(e)) {
      clearInterval(statusPoller);
      showStatus("signed out");
      showSignedOut();
    }
  }
}

// -- the last submission ----------------------------------------------------------------------------
let generation = 0;
let retry = null; // what to send again with force, after a paused refusal

function setSub(state, text, errors = []) {
  $("submission").hidden = false;
  const badge = $("sub-state");
  badge.dataset.state = state;
  badge.textContent = state;
  $("sub-text").textContent = text;
  const list = $("sub-errors");
  list.replaceChildren(...errors.map((e) => el("li", {}, e)));
  list.hidden = !errors.length;
  const force = $("force-push");
  if (force) force.hidden = state !== "paused";
}

function describeError(e) {
  return [e.where, e.field].filter(Boolean).join(" · ") + (e.where || e.field ? ": " : "") + e.message;
}

// What was sent, in words. Deletes are counted by what the table held when the server could ask it (a
// delete of a key the table does not hold changes nothing: "nothing to delete"); an upsert of a key the
// table held is an update. `nothing` is true when the submission can change no row at all.
function sentText(answer, op) {
  const n = answer.deleted;
  const found = answer.deletes_found;
  const known = found !== null && found !== undefined;
  const keys = n === 1 ? "that key is" : `those ${n} keys are`;
  let deletes = null;
  if (n && !known) deletes = `${n} delete${n === 1 ? "" : "s"} sent (${table.key ? "keys" : "rows"} not in the table change nothing)`;
  else if (n && found === 0) deletes = `nothing to delete: ${keys} not in the table`;
  else if (n && found < n) deletes = `${found} deleted; ${n - found} not in the table (nothing to delete)`;
  else if (n) deletes = `${n} deleted`;
  const upsertUnknown = op === "upsert" && (answer.updated === null || answer.updated === undefined);
  const inserted = !answer.inserted ? null : upsertUnknown
    ? `${answer.inserted} upserted (inserted or replaced: the table is not materialized, so the dashboard cannot tell)`
    : `${answer.inserted} inserted`;
  const updated = answer.updated ? `${answer.updated} updated` : null;
  const text = [inserted, updated, deletes].filter(Boolean).join(", ") +
    (answer.forced ? " (forced)" : "") + (answer.note ? `. Note: ${answer.note}` : "");
  return { text, nothing: !answer.inserted && !answer.updated && !!n && found === 0 };
}

// How many of a submission's rows the table's LATENESS dropped: the table's late count once they are
// processed, less the count before they went out (answer.late_records; null where the server does not
// count them). At most the rows sent; another writer's late rows meanwhile would count too.
function droppedLate(answer, after) {
  const before = answer.late_records;
  if (typeof before !== "number" || typeof after !== "number") return 0;
  return Math.max(0, Math.min(after - before, answer.inserted + (answer.updated || 0) + answer.deleted));
}

// The processed submission in words once `late` of its rows were dropped: only inserts, they are counted
// out of the inserted; else said of the rows as a whole (which of the changes were late is not known).
function lateSentText(answer, op, late) {
  const dropped = lateText(late, table.lateness || []);
  if (answer.deleted || answer.updated || op === "upsert") return `${sentText(answer, op).text}; of these, ${dropped}`;
  const kept = sentText({ ...answer, inserted: answer.inserted - late }, op).text;
  return kept ? `${kept}; ${dropped}` : dropped;
}

// Follow a completion token until the engine has processed the input it stands for; then bring the live
// panel's changed rows into view (they may be below the fold, or far down a long table).
async function follow(token, answer, gen, op, since) {
  const { text: what, nothing } = sentText(answer, op);
  setSub("queued", `queued: ${what}; waiting for the engine to process it…`);
  const deadline = Date.now() + 120000;
  // Asked with the table, a complete token's answer has the table's late count (a table with a LATENESS).
  const late = typeof answer.late_records === "number" ? `&table=${encodeURIComponent(answer.table)}` : "";
  while (gen === generation) {
    try {
      const st = await noteIfLate(getJSON(`${base}/completion?token=${encodeURIComponent(token)}&wait=1${late}`), gen,
        "no answer", `queued: ${what}; the pipeline server is not answering (no answer after ` +
        `${answerMs / 1000} s), so whether the engine processed the rows is not known; ${checkText()}. ` +
        "Still waiting for its answer…");
      if (gen !== generation) return;
      if (st.status === "complete") {
        const dropped = droppedLate(answer, st.late_records);
        if (dropped) {
          setSub("processed", `processed: ${lateSentText(answer, op, dropped)}` +
            `${st.step !== undefined ? ` (step ${st.step})` : ""}.`);
          if (live.panel) live.panel.reveal(since);
          return;
        }
        if (nothing) {
          setSub("nothing to delete", `${what}${st.step !== undefined ? ` (step ${st.step})` : ""}.`);
          return;
        }
        setSub("processed", `processed: ${what}${st.step !== undefined ? ` (step ${st.step})` : ""}. ` +
          "The rows it changed are highlighted in the live view.");
        if (live.panel) live.panel.reveal(since);
        return;
      }
    } catch (e) {
      if (gen === generation) setSub("error", `cannot follow the submission: ${e.message}`);
      return;
    }
    if (Date.now() > deadline) {
      setSub("queued", `${what} still queued after 2 minutes${status === "Paused" ? ": the pipeline is paused" : ""}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

// After ENTRY_TIMEOUT seconds without an answer the page says so instead of "sending" for as long as the
// server is hung (its process stopped, say: the connection is accepted, nothing answers). `promise` goes on:
// an answer that comes later still replaces the note.
const answerMs = (data.entry_timeout || 10) * 1000;
function noteIfLate(promise, gen, state, text) {
  const timer = setTimeout(() => { if (gen === generation) setSub(state, text); }, answerMs);
  return promise.finally(() => clearTimeout(timer));
}

function checkText() {
  const q = `/pipelines/${encodeURIComponent(data.pipeline)}/query`;
  return `check the live view below, or count the table's rows on the query page (${q}), once the server ` +
    "answers again, before sending them again";
}

// Send a body to `url`. Errors go to `onErrors`, which returns those it could not place (shown in the
// submission line).
async function submit(url, body, onErrors) {
  const gen = ++generation;
  const since = Date.now();
  setSub("sending", "checking and sending…");
  try {
    const answer = await noteIfLate(send(url, body), gen, "no answer",
      `the pipeline server is not answering (no answer after ${answerMs / 1000} s): the rows may or may not ` +
      `have been stored; ${checkText()}. Still waiting for its answer…`);
    retry = null;
    await follow(answer.token, answer, gen, body.op, since);
  } catch (e) {
    if (gen !== generation) return;
    const errors = (e.details && e.details.errors) || [];
    if (e.code === "PipelinePaused") {
      retry = { url, body, onErrors };
      setSub("paused", e.message);
    } else if (errors.length) {
      setSub("invalid", e.message, onErrors(errors).map(describeError));
    } else {
      setSub("error", e.message || "the request failed");
    }
  }
}

// -- the grid ---------------------------------------------------------------------------------------
function setupGrid() {
  const grid = new EntryGrid($("entry-head"), $("entry-body"), data.rules);
  $("add-row").addEventListener("click", () => grid.addRow());
  $("clear-rows").addEventListener("click", () => grid.clear());
  $("random-fill").addEventListener("click", () => grid.fillRandom());
  // Enter in a field sends the form, as Insert (the first of its buttons) does.
  $("entry-body").addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || ev.shiftKey || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return;
    if (!ev.target.matches("input, select")) return;
    ev.preventDefault();
    document.querySelector('#entry button[data-op="insert"]').click();
  });
  for (const b of document.querySelectorAll("#entry button[data-op]")) {
    b.addEventListener("click", () => {
      const op = b.dataset.op;
      const picked = grid.collect(op === "delete" && !!table.key);
      if (picked === null) {
        generation++;
        setSub("invalid", "some fields are wrong: nothing was sent. Correct the fields marked in red.");
        return;
      }
      const rows = picked.map((p) => p.values);
      submit(`${base}/tables/${encodeURIComponent(table.name)}/rows`, { op, rows, force: false }, (errors) => {
        const placed = errors.filter((e) => e.row !== null && e.row !== undefined && picked[e.row]);
        grid.showErrors(placed.map((e) => ({ ...e, row: picked[e.row].index })));
        return errors.filter((e) => !placed.includes(e));
      });
    });
  }
}

// -- the JSON editor --------------------------------------------------------------------------------
function exampleRow() {
  const row = {};
  for (const rule of data.rules) {
    const text = randomText(rule);
    row[rule.name] = text === null ? null : checkValue(rule, text);
  }
  return row;
}

function setupJson() {
  const box = $("json-text");
  const list = $("json-errors");
  const show = (errors) => {
    list.replaceChildren(...errors.map((e) => el("li", {}, describeError(e))));
    list.hidden = !errors.length;
    return [];
  };
  $("json-example").addEventListener("click", () => {
    const plain = (v) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? Number(x) : x));
    const a = exampleRow(), b = exampleRow();
    box.value = [plain(a), plain({ insert: b }), plain({ delete: a })].join("\n");
  });
  box.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      $("json-send").click();
    }
  });
  $("json-send").addEventListener("click", () => {
    show([]);
    if (!box.value.trim()) { // one message, and no earlier submission's state above it
      generation++;
      $("submission").hidden = true;
      show([{ message: "nothing to send: type rows or documents" }]);
      return;
    }
    submit(`${base}/tables/${encodeURIComponent(table.name)}/json`, { text: box.value, force: false }, show);
  });
}

// -- the live panel -----------------------------------------------------------------------------------
const live = { panel: null };

function setupLive() {
  const conn = new LiveConnection();
  watchConnection(conn);
  const relations = new Map((data.relations || []).map((r) => [r.name, r]));
  const choices = (data.relations || []).filter((r) => r.kind === "view" || (r.name === table.name && r.materialized));
  const select = $("watch");
  select.replaceChildren(el("option", { value: "" }, "nothing"), ...choices.map((r) =>
    el("option", { value: r.name }, r.name === table.name ? `${r.name} (this table)` : `${r.name} (view)`)));
  let panel = null;
  const watch = (name) => {
    if (panel) panel.close();
    live.panel = panel = null;
    select.value = name;
    if (!name) return;
    live.panel = panel = new Panel($("panels"), { pipeline: data.pipeline, view: name, relation: relations.get(name) || null, conn,
      state: {}, onChange: () => {}, onClose: () => watch("") });
    panel.connState(conn.state);
  };
  conn.addEventListener("state", (ev) => { if (panel) panel.connState(ev.detail); });
  select.addEventListener("change", () => watch(select.value));
  const first = choices.find((r) => r.name === table.name) || choices.find((r) => r.materialized) || choices[0];
  watch(first ? first.name : "");
  window.sluiceLive = { conn, get panels() { return panel ? [panel] : []; } }; // for tests: read-only use
}

if (table) {
  showStatus(status);
  statusPoller = setInterval(pollStatus, 2000);
  if (canEdit() && $("entry")) {
    setupGrid();
    setupJson();
    $("force-push").addEventListener("click", () => {
      if (!retry) return;
      const { url, body, onErrors } = retry;
      submit(url, { ...body, force: true }, onErrors);
    });
  }
  setupLive();
}
