// The pipelines page: every pipeline with its status and throughput, refreshed two seconds after each
// answer; an editor can delete a stopped one (after a confirmation naming it).

import { dashboardDown, getJSON } from "./api.js";
import { canEdit, el, fmtNumber, pageData, statusClass } from "./dom.js";
import { deletedNote, runStep } from "./lifecycle.js";
import { RetryNote } from "./retrynote.js";
import { showSignedOut, signedOut } from "./signedout.js";

const body = document.getElementById("pipelines-body");
const note = document.getElementById("pipelines-error");
const done = document.getElementById("pipelines-note");

function deleteButton(p) {
  const stopped = p.deployment_status === "Stopped";
  return el("button", {
    type: "button", class: "danger small", dataset: { delete: p.name }, disabled: !stopped,
    title: stopped ? `clear the storage of ${p.name}, then delete it` : "stop it first: only a stopped pipeline can be deleted",
    onclick: async () => {
      try {
        const answer = await runStep("delete", p.name);
        if (!answer) return;
        done.textContent = deletedNote(answer);
        done.hidden = false;
        refresh();
      } catch (e) {
        done.textContent = `Deleting ${p.name} failed: ${e.message}`;
        done.hidden = false;
      }
    },
  }, "Delete");
}

function render(list, error) {
  note.textContent = error || "";
  note.hidden = !error;
  if (!list.length && !error) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No pipelines yet.")));
    return;
  }
  body.replaceChildren(...list.map((p) => {
    const href = `/pipelines/${encodeURIComponent(p.name)}`;
    return el("tr", { dataset: { pipeline: p.name } },
      el("td", {}, el("a", { href }, p.name)),
      el("td", {}, el("span", { class: `badge ${statusClass(p.deployment_status)}` }, p.deployment_status || "?"),
        p.deployment_error ? el("span", { class: "muted small" }, " " + p.deployment_error) : null),
      el("td", { class: "num rate" }, p.throughput === undefined || p.throughput === null ? "–"
        : `${fmtNumber(p.throughput, 1)} rec/s`),
      el("td", {}, p.program_status || ""),
      el("td", { class: "muted" }, p.description || ""),
      canEdit() ? el("td", {}, deleteButton(p)) : null);
  }));
}

const data = pageData();
render(data.pipelines || [], data.error);
// Deleted from its own page, which then came here (session storage, not the URL: a link cannot claim it).
const deleted = sessionStorage.getItem("sluice.deleted");
sessionStorage.removeItem("sluice.deleted");
if (deleted) {
  done.textContent = deleted;
  done.hidden = false;
}

const retryNote = new RetryNote(note);
// A page served during an outage says so already (the server's text): its first attempt says it is trying.
if (!note.hidden) retryNote.noteUp(note.textContent);
let timer = null;
async function refresh() {
  clearTimeout(timer);
  retryNote.trying();
  try {
    const answer = await getJSON("/api/pipelines");
    retryNote.clear();
    render(answer.pipelines, null);
    clearTimeout(timer);  // a refresh after a delete may have been in flight too: one loop
    timer = setTimeout(refresh, 2000);
  } catch (e) {
    const ended = signedOut(e);
    if (ended) {  // retrying cannot help: stop, say so, offer to sign in again
      retryNote.clear();
      note.textContent = "signed out: statuses are no longer updated";
      showSignedOut();
    } else {
      retryNote.countDown(dashboardDown(e) ? "the dashboard is not answering" : e.message, 2, refresh);
    }
    note.title = e.details && e.details.error ? e.details.error : "";
    note.hidden = false;
    // The last statuses and rates known are no longer true: say so on every row rather than keep a green
    // "Running", and a rate that would look live.
    for (const badge of body.querySelectorAll("tr[data-pipeline] .badge")) {
      badge.textContent = ended ? "signed out" : "unreachable";
      badge.className = "badge";
      badge.dataset.state = ended ? "signed-out" : "unreachable";
    }
    for (const rate of body.querySelectorAll("tr[data-pipeline] td.rate")) rate.textContent = "–";
  }
}
refresh();
