// The pipeline page: lifecycle buttons, live statistics with a throughput chart, its tables and views
// (with links to watch one, or several side by side), and the demo generator's switch.

import { dashboardDown, getJSON, send } from "./api.js";
import { lineChart } from "./charts.js";
import { confirmStep, deletedNote, needsConfirmation, sendStep } from "./lifecycle.js";
import { RetryNote } from "./retrynote.js";
import { canEdit, el, fmtBytes, fmtNumber, pageData, statusClass } from "./dom.js";
import { showSignedOut, signedOut } from "./signedout.js";

const data = pageData();
const name = data.pipeline;
const base = `/api/pipelines/${encodeURIComponent(name)}`;
const statusBadge = document.getElementById("status");
const actionNote = document.getElementById("action-note");
const chart = document.getElementById("throughput");

// Which buttons make sense in which state (the server refuses the rest anyway).
const ENABLED = {
  Stopped: ["start", "start_paused", "clear", "delete"],
  Running: ["pause", "stop", "kill"],
  Paused: ["resume", "stop", "kill"],
  Stopping: ["kill"],
};

function showStatus(st) {
  if (!st) return;
  const s = st.deployment_status || "?";
  statusBadge.textContent = s + (st.deployment_desired_status && st.deployment_desired_status !== s
    ? ` → ${st.deployment_desired_status}` : "");
  statusBadge.className = `badge ${statusClass(s)}`;
  delete statusBadge.dataset.state;
  const ok = (ENABLED[s] || []).filter((a) => a !== "clear" || st.storage_status !== "Cleared");
  for (const b of document.querySelectorAll("button[data-action]")) b.disabled = !ok.includes(b.dataset.action);
  const err = document.getElementById("deployment-error");
  err.textContent = st.deployment_error || "";
  err.hidden = !st.deployment_error;
}

for (const b of document.querySelectorAll("button[data-action]")) {
  b.addEventListener("click", async () => {
    const step = b.dataset.action;
    if (needsConfirmation(step) && !(await confirmStep(step, name))) return;
    actionNote.textContent = `${b.textContent}…`;
    try {
      const answer = await sendStep(step, name);
      if (step === "delete") {
        sessionStorage.setItem("sluice.deleted", deletedNote(answer));  // the pipelines page says so
        location.assign("/");
        return;
      }
      actionNote.textContent = "";
      refresh();
    } catch (e) {
      actionNote.textContent = `${b.textContent} failed: ${e.message}`;
    }
  });
}

// -- outages: what cannot be reached, in words, with the transport's text behind "details" ---------------
const outage = document.getElementById("outage");
const outageText = document.getElementById("outage-text");
const outageDetails = document.getElementById("outage-details");
const outageRaw = document.getElementById("outage-raw");
const retryNote = new RetryNote(outageText);
// A page served during an outage says so already (the server's text): its first attempt says it is trying.
if (!outage.hidden) retryNote.noteUp(outageText.textContent);

// `e` is the failed refresh's error (null once a refresh works again). Returns the note's text, to which
// the caller adds when the next try is.
function showOutage(e) {
  if (!e) {
    outage.hidden = true;
    return null;
  }
  let state = "unreachable";
  let text = e.message;
  let raw = e.details && e.details.error ? e.details.error : "";
  if (signedOut(e)) {
    state = "signed out";
    text = "signed out: the status is no longer updated";
  } else if (e.status === 404) {
    state = "missing";
    text = `no pipeline named '${name}' (it may have been deleted)`;
  } else if (dashboardDown(e)) {
    state = "dashboard-down";
    text = "the dashboard is not answering";
    raw = e.message;
  } else if (e.code !== "UpstreamUnreachable" && e.status < 500) {
    state = null; // the server answered: an ordinary error, the status stays as it was
  }
  if (state) {
    statusBadge.textContent = state === "dashboard-down" ? "unknown" : state;
    statusBadge.className = "badge";
    statusBadge.dataset.state = state.replace(" ", "-");
    for (const b of document.querySelectorAll("button[data-action]")) b.disabled = true;
    // The last figures are not the server's now, whether it refuses connections or hangs: a count, a
    // rate or a chart left standing would look live.
    for (const card of Object.values(cards)) card.textContent = "–";
    lineChart(chart, [], "records/s");
  }
  outageText.textContent = text;
  outageRaw.textContent = raw;
  outageDetails.hidden = !raw;
  outage.hidden = false;
  return text;
}

// -- statistics ---------------------------------------------------------------------------------
const cards = {};
for (const node of document.querySelectorAll("[data-stat]")) cards[node.dataset.stat] = node;

// Counters that go down mean the pipeline (or the whole server) started again: say so once, with the time.
let lastSteps = null;
function noteRestart(gm) {
  const steps = gm.total_completed_steps;
  if (typeof steps !== "number") return;
  if (lastSteps !== null && steps < lastSteps) {
    const note = document.getElementById("restart-note");
    note.textContent = `the pipeline restarted at ${new Date().toLocaleTimeString()}: ` +
      "statistics and step numbers start again";
    note.hidden = false;
  }
  lastSteps = steps;
}

function showStats(stats, series) {
  const gm = (stats && stats.global_metrics) || {};
  noteRestart(gm);
  const samples = (series && series.samples) || [];
  const points = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i].t - samples[i - 1].t) / 1000;
    if (dt > 0) points.push({ t: samples[i].t, v: Math.max(0, (samples[i].r - samples[i - 1].r) / dt) });
  }
  const rate = points.length ? points[points.length - 1].v : null;
  const set = (k, v) => { if (cards[k]) cards[k].textContent = v; };
  set("throughput", rate === null ? "–" : `${fmtNumber(rate, 1)} rec/s`);
  set("processed", fmtNumber(gm.total_processed_records));
  set("input", fmtNumber(gm.total_input_records));
  set("buffered", fmtNumber(gm.buffered_input_records));
  set("steps", fmtNumber(gm.total_completed_steps));
  set("memory", fmtBytes(gm.rss_bytes));
  set("latency", gm.step_latency_msecs && gm.step_latency_msecs.p99 !== null && gm.step_latency_msecs.p99 !== undefined
    ? `${fmtNumber(gm.step_latency_msecs.p99, 2)} ms` : "–");
  set("outputs", fmtNumber(((stats && stats.outputs) || []).filter((o) => !o.closed).length));
  lineChart(chart, points, "records/s");
}

// Every second while the server answers; after failures in a row, 1, 2, 4, then every 8 s, counted down.
let failures = 0;
let timer = null;
async function refresh() {
  clearTimeout(timer);
  retryNote.trying();
  try {
    const answer = await getJSON(`${base}/stats`);
    failures = 0;
    retryNote.clear();
    showOutage(null);
    showStatus(answer.status);
    showStats(answer.stats, answer.time_series);
    clearTimeout(timer);  // a button's refresh may have been in flight too: one loop
    timer = setTimeout(refresh, 1000);
  } catch (e) {
    if (signedOut(e)) {  // retrying cannot help: stop, say so, offer to sign in again
      retryNote.clear();
      showOutage(e);
      showSignedOut();
      return;
    }
    failures += 1;
    retryNote.countDown(showOutage(e), Math.min(8, 2 ** (failures - 1)), refresh);
  }
}

// -- tables and views -----------------------------------------------------------------------------
function relationRow(r) {
  const watch = `/pipelines/${encodeURIComponent(name)}/views/${encodeURIComponent(r.name)}`;
  const cols = el("ul", { class: "cols" }, ...r.columns.map((c) =>
    el("li", {}, el("code", {}, c.name), " ", el("span", { class: "muted" }, c.type),
      r.key && r.key.includes(c.name) ? el("span", { class: "keymark" }, "key") : null)));
  return el("tr", { dataset: { relation: r.name } },
    el("td", {}, el("input", { type: "checkbox", class: "pick", value: r.name, "aria-label": `pick ${r.name}` })),
    el("td", {}, el("a", { href: watch }, r.name), r.kind === "table" && canEdit() ? " " : null,
      r.kind === "table" && canEdit() ? el("a", { class: "enter-data small",
        href: `/pipelines/${encodeURIComponent(name)}/tables/${encodeURIComponent(r.name)}` }, "enter data") : null),
    el("td", {}, r.kind),
    el("td", {}, r.materialized ? "yes" : el("span", { class: "warn-text" }, "no")),
    el("td", {}, r.strategy || "–"),
    el("td", {}, r.key ? r.key.join(", ") : "–"),
    el("td", {}, cols));
}

const relBody = document.getElementById("relations-body");
relBody.replaceChildren(...(data.relations || []).map(relationRow));
const together = document.getElementById("watch-together");
function updateTogether() {
  const picked = [...document.querySelectorAll("input.pick:checked")].map((i) => i.value);
  together.disabled = picked.length === 0;
  together.dataset.views = picked.join(",");
}
relBody.addEventListener("change", updateTogether);
together.addEventListener("click", () => {
  location.href = `/pipelines/${encodeURIComponent(name)}/live?views=${encodeURIComponent(together.dataset.views)}`;
});
updateTogether();

// -- demo generator -------------------------------------------------------------------------------
const demo = document.getElementById("demo");
async function showDemo(state) {
  const box = document.getElementById("demo-enabled");
  box.checked = !!state.enabled;
  document.getElementById("demo-note").textContent = state.enabled
    ? `${fmtNumber(state.pushed)} changes pushed${state.error ? ` — waiting: ${state.error}` : ""}` : "off";
}
if (demo && data.demo_pipeline === name) {
  demo.hidden = false;
  const box = document.getElementById("demo-enabled");
  box.disabled = !canEdit();  // a viewer sees the generator's state but cannot switch it
  box.addEventListener("change", async () => showDemo(await send("/api/demo", { enabled: box.checked })));
  const poll = async () => {
    try {
      const st = await getJSON("/api/demo");
      if (!st.available) demo.hidden = true;
      else showDemo(st);
    } catch (_) { /* shown by the stats refresh */ }
  };
  poll();
  setInterval(poll, 2000);
}

showStatus(data.status);
refresh();
