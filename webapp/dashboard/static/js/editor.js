// The program editor (/pipelines/new and /pipelines/<p>/program): the SQL editor (sqleditor.js) with compile
// errors underlined at their line and column and listed below, Save (PUT through the dashboard, which uses
// webapp.client), then Start. A new pipeline starts from the starter template. Before a save that can delete
// stored rows the page asks in its <dialog id="confirm">; what the save did to stored data is what the server
// reported, as a warning when tables lost their rows.

import { getJSON, send } from "./api.js";
import { ask } from "./confirm.js";
import { canEdit, el, pageData, statusClass } from "./dom.js";
import { sqlEditor } from "./sqleditor.js";

const data = pageData();
const $ = (id) => document.getElementById(id);
const note = $("editor-note");
// the names of the program as last compiled complete while editing it
const code = sqlEditor($("code"), { doc: data.program_code || "", label: "SQL program", readOnly: !canEdit(),
  relations: data.relations || [] });
let name = data.pipeline;
let errors = data.errors || [];
let programStatus = data.program_status;
let deployment = data.status ? data.status.deployment_status : null;
// the program on the server as this page last knew it, and its version (another tab may save one meanwhile)
let savedCode = data.pipeline ? data.program_code || "" : null;
let savedVersion = data.status ? data.status.program_version : null;

function say(text) {
  if (note) note.textContent = text;
}

function goTo(m) {
  const from = code.offsetOf(m.start_line_number, m.start_column);
  const to = m.end_line_number ? Math.max(from + 1, code.offsetOf(m.end_line_number, (m.end_column || 0) + 1)) : from + 1;
  code.select(from, Math.min(to, code.value.length));
}

// Each message with a place is underlined there (and marked in the gutter); all are listed below.
function underline() {
  code.setErrors(errors.map((m) => ({ line: m.start_line_number, column: m.start_column, endLine: m.end_line_number,
    endColumn: m.end_column, warning: m.warning, message: `${m.error_type ? m.error_type + ": " : ""}${m.message || ""}` })));
}

function drawErrors() {
  $("errors").replaceChildren(...errors.map((m) => {
    const where = m.start_line_number ? `line ${m.start_line_number}, column ${m.start_column}: ` : "";
    const item = el("li", { class: m.warning ? "warn" : "err", dataset: { line: String(m.start_line_number || "") } },
      el("button", { type: "button", class: "where", onclick: () => goTo(m), disabled: !m.start_line_number },
        where || "program"),
      el("span", {}, `${m.error_type ? m.error_type + ": " : ""}${m.message || ""}`));
    if (m.snippet) item.append(el("pre", { class: "snippet" }, m.snippet));
    return item;
  }));
  underline();
}

function drawStatus() {
  const badge = $("status");
  badge.textContent = deployment || "new";
  badge.className = `badge ${statusClass(deployment)}`;
  const ps = $("program-status");
  ps.textContent = programStatus || "";
  ps.className = `badge ${programStatus === "Success" ? "status-running" : programStatus ? "status-failed" : ""}`;
  if (!canEdit() || !$("save")) return;
  $("start").disabled = !(name && programStatus === "Success" && deployment === "Stopped");
  $("stop").hidden = !(deployment === "Running" || deployment === "Paused");
  $("save").disabled = !!deployment && deployment !== "Stopped";
  if (deployment && deployment !== "Stopped") say(`${name} is ${deployment}: stop it to change its program`);
}

// What the save did to stored data, and whether that is a warning: a table the pipeline had lost its rows.
function keptText(a) {
  if (a.program_status !== "Success") {
    return { text: "Saved, but the program has errors (listed below): fix them and save again before it can start." };
  }
  if (a.created) return { text: `Created ${a.pipeline}. Its tables start empty.` };
  if (!a.had_data) return { text: "Saved. The pipeline had no stored data: its tables start empty." };
  if (a.unchanged) return { text: "Saved. The program did not change: every table keeps its data." };
  if (a.kept_tables === null || a.kept_tables === undefined) {
    return { text: "Saved. The server did not say which tables kept their data." };
  }
  const kept = a.kept_tables;
  const before = a.tables_before || [];
  const empty = (a.tables || []).filter((t) => !kept.includes(t));
  const removed = before.filter((t) => !(a.tables || []).includes(t));
  let text = `Saved. Tables that kept their data: ${kept.length ? kept.join(", ") : "none"}. ` +
    `Tables that start empty: ${empty.length ? empty.join(", ") : "none"}.`;
  if (removed.length) text += ` Tables removed with their rows: ${removed.join(", ")}.`;
  return { text, warn: before.some((t) => !kept.includes(t)) };
}

// The tables the pipeline has now and whether it holds stored data, as the server says at this moment (the
// page's own data may be old: the pipeline may have run since); the page's data if the server does not answer.
async function storedState() {
  try {
    const st = await getJSON(`/api/pipelines/${encodeURIComponent(name)}`);
    return { inUse: st.storage_status === "InUse", version: st.program_version,
      tables: (st.relations || []).filter((r) => r.kind === "table").map((r) => r.name) };
  } catch {
    return { inUse: (data.storage_status || (data.status || {}).storage_status) === "InUse", version: savedVersion,
      tables: data.tables || [] };
  }
}

// Asked before saving a changed program of a pipeline that holds stored data; true when the user chose Save.
// The program counts as changed when the text differs from the one saved, or when the server's program is
// not the one this page knows. A stopped pipeline answers no queries, so the dialog names the tables without
// their row counts.
async function confirmSave(text) {
  if (!name) return true;
  const { inUse, version, tables } = await storedState();
  if (!inUse || (text === savedCode && version === savedVersion)) return true;
  return ask({
    title: `Save the changed program of ${name}?`,
    text: `${name} holds stored data${tables.length ? ` in its tables ${tables.join(", ")}` : ""}. Saving decides ` +
      "now which tables keep their rows; deleted rows do not come back.",
    items: [
      "A table whose columns, column types, NOT NULL or primary key change starts empty: its rows are deleted. " +
        "A table removed from the program is deleted with its rows.",
      "A table whose columns only widen (a wider integer or DECIMAL, REAL to DOUBLE, NOT NULL dropped) or that " +
        "gains columns that may be NULL keeps its rows (the new columns read NULL).",
      "A table whose definition does not change keeps its rows.",
      "Views are rebuilt from the tables.",
    ],
    button: "Save",
  });
}

// After the first save of a new pipeline the page is its program page: heading, crumbs and title say so.
function showSaved(pipeline) {
  $("editor-title").textContent = `Program of ${pipeline}`;
  document.title = `program · ${pipeline} · Sluice`;
  const crumbs = document.querySelector("nav.crumbs");
  if (crumbs) {
    crumbs.replaceChildren(el("a", { href: "/" }, "pipelines"), " / ",
      el("a", { href: `/pipelines/${encodeURIComponent(pipeline)}` }, pipeline), " / ", el("span", {}, "program"));
  }
}

async function save(ev) {
  ev.preventDefault();
  const newName = name || $("name").value.trim();
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(newName)) {
    say("a pipeline name is 1 to 100 letters, digits, '_' or '-'");
    return;
  }
  const text = code.value;
  $("save").disabled = true;
  try {
    if (!(await confirmSave(text))) {
      say("not saved: the editor keeps your changes");
      return;
    }
    say("saving and compiling…");
    const a = await send(`/api/pipelines/${encodeURIComponent(newName)}/program`,
      { program_code: text, description: $("description").value, create: !name }, "PUT");
    savedCode = text;
    savedVersion = a.program_version;
    if (!name) {
      name = newName;
      history.replaceState(null, "", `/pipelines/${encodeURIComponent(name)}/program`);
      $("name").disabled = true;
      $("starter-note").hidden = true;
      showSaved(name);
    }
    errors = a.errors || [];
    programStatus = a.program_status;
    deployment = a.deployment_status;
    drawErrors();
    if (errors.length && errors[0].start_line_number) goTo(errors[0]);
    const kept = keptText(a);
    $("saved").textContent = kept.text;
    $("saved").className = `flag ${kept.warn ? "warn" : "info"}`;
    $("saved").hidden = false;
    say(a.program_status === "Success" ? "saved: you can start it" : "saved with errors");
  } catch (e) {
    say(`save failed: ${e.message}`);
  } finally {
    drawStatus();
  }
}

async function lifecycle(action, target) {
  say(`${action}…`);
  try {
    await send(`/api/pipelines/${encodeURIComponent(name)}/${action}`);
    for (let i = 0; i < 300; i++) {
      const st = await getJSON(`/api/pipelines/${encodeURIComponent(name)}`);
      deployment = st.deployment_status;
      drawStatus();
      if (deployment === target) break;
      if (st.deployment_error && deployment === "Stopped") throw new Error(st.deployment_error);
      await new Promise((r) => setTimeout(r, 200));
    }
    say(deployment === target ? `${name} is ${deployment}` : `${name} is still ${deployment}`);
    if (deployment === "Running") {
      $("saved").replaceChildren(`${name} is running. `,
        el("a", { href: `/pipelines/${encodeURIComponent(name)}` }, "Open the pipeline"), " · ",
        el("a", { href: `/pipelines/${encodeURIComponent(name)}/query` }, "query it"));
      $("saved").className = "flag info";
      $("saved").hidden = false;
    }
  } catch (e) {
    say(`${action} failed: ${e.message}`);
  }
}

if ($("starter")) {
  // the template back, over what is in the editor: asked first unless the editor holds the template already
  $("starter").addEventListener("click", () => {
    if (code.value.trim() && code.value !== data.starter &&
        !confirm("Replace the program in the editor with the template?")) return;
    code.value = data.starter;
    code.focus();
  });
}
if ($("save")) {
  $("editor-form").addEventListener("submit", save);
  $("start").addEventListener("click", () => lifecycle("start", "Running"));
  $("stop").addEventListener("click", () => lifecycle("stop", "Stopped"));
}
drawErrors();
drawStatus();
