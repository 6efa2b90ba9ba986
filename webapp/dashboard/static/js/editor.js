// The program editor (/pipelines/new and /pipelines/<p>/program): the SQL editor (sqleditor.js) with compile
// errors underlined at their line and column and listed below, Save (PUT through the dashboard, which uses
// webapp.client), then Start. A new pipeline starts from the starter template. Before a save that can delete
// stored rows the page asks in its <dialog id="confirm">; what the save did to stored data is what the server
// reported, as a warning when tables lost their rows.

import { getJSON, send } from "./api.js";
import { ask, choose } from "./confirm.js";
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

// The stored program as the server says at this moment (the page's own data may be old: another client may
// have saved, the pipeline may have run since); null, with the reason said, when it could not be read: the
// save does not go ahead then, since neither question (another client's save, stored rows) could be asked.
async function storedState() {
  try {
    const st = await getJSON(`/api/pipelines/${encodeURIComponent(name)}/program`);
    return { inUse: st.storage_status === "InUse", version: st.program_version, code: st.program_code,
      tables: st.tables || [] };
  } catch (e) {
    say(`not saved: the stored program could not be checked first (${e.message || e}); the editor keeps your ` +
      "changes: save again in a moment");
    return null;
  }
}

// Another client saved a program since this page loaded (or last saved) it: saving now would replace theirs
// without anyone seeing it. Asked always, stored data or not: load theirs (the editor's text is kept beside it),
// replace it, or cancel. Resolves true to go on saving.
async function confirmReplace(server) {
  const change = server.version === savedVersion ? `version ${server.version}, its text changed`
    : `version ${savedVersion} -> ${server.version}`;
  const choice = await choose({
    title: `${name} was changed by another client`,
    text: `This program was changed by another client since you opened it (${change}); saving replaces that version.`,
    items: [
      "Load theirs: the editor shows the stored program; your text is kept below it, to copy or put back.",
      "Replace theirs: your text is saved over it.",
      "Cancel: nothing is saved and the editor keeps your text.",
    ],
    button: "Replace theirs",
    other: "Load theirs",
  });
  if (choice === "other") loadTheirs(server);
  return choice === "ok";
}

// The stored program into the editor; the user's text stays on the page (not saved anywhere) with a way back.
function loadTheirs(server) {
  const mine = code.value;
  code.value = server.code;
  savedCode = server.code;
  savedVersion = server.version;
  $("saved").replaceChildren(`Loaded version ${server.version} of the program, saved by another client. Your text `,
    "was not saved; it is kept here: ",
    el("button", { type: "button", id: "put-back", onclick: () => { code.value = mine; code.focus(); } },
      "put your text back in the editor"),
    el("details", {}, el("summary", {}, "your text"), el("pre", { id: "your-text", class: "snippet" }, mine)));
  $("saved").className = "flag warn";
  $("saved").hidden = false;
  say("not saved: the editor shows the stored program");
}

// Asked before saving: first when another client saved meanwhile, then when the save can delete stored rows
// (a changed program of a pipeline that holds stored data). Resolves the program_version the save replaces
// (sent as base_version, so a save between this question and the PUT is refused rather than overwritten),
// undefined for a new pipeline, false when the user did not choose Save, or null when the stored program could
// not be checked (nothing is saved; ``storedState`` said why).
// A stopped pipeline answers no queries, so the stored-data dialog names the tables without their row counts.
async function confirmSave(text) {
  if (!name) return undefined;
  const server = await storedState();
  if (!server) return null;
  if (server.version !== savedVersion || server.code !== savedCode) {
    if (!(await confirmReplace(server))) return false;
  } else if (text === savedCode) {
    return server.version;
  }
  if (!server.inUse || text === server.code) return server.version;
  const tables = server.tables;
  const yes = await ask({
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
  return yes ? server.version : false;
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
    const base = await confirmSave(text);
    if (base === null) return;
    if (base === false) {
      if (code.value === text) say("not saved: the editor keeps your changes");
      return;
    }
    say("saving and compiling…");
    const body = { program_code: text, description: $("description").value, create: !name };
    if (base !== undefined) body.base_version = base;
    const a = await send(`/api/pipelines/${encodeURIComponent(newName)}/program`, body, "PUT");
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
