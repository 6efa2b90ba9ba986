// The logs page: the pipeline's log as the dashboard proxies it (NDJSON frames with a cursor), a level filter
// and a search (both in the URL), at most `max_lines` lines kept, and the health events beside it.

import { getJSON, streamLines } from "./api.js";
import { el, pageData } from "./dom.js";
import { eventItem } from "./events.js";

const data = pageData();
const name = data.pipeline;
const base = `/api/pipelines/${encodeURIComponent(name)}`;
const MAX_LINES = data.max_lines || 5000;
const LEVELS = { all: null, warning: ["WARNING", "ERROR", "CRITICAL"], error: ["ERROR", "CRITICAL"] };

const logBox = document.getElementById("log");
const levelSelect = document.getElementById("log-level");
const search = document.getElementById("log-search");
const follow = document.getElementById("log-follow");
const count = document.getElementById("log-count");
const note = document.getElementById("log-note");
const conn = document.getElementById("conn");

// -- the filter, from and into the URL ---------------------------------------------------------------
const params = new URLSearchParams(location.search);
const asked = params.get("level");
if (asked && !(asked in LEVELS)) {
  note.textContent = `unknown level '${asked}': showing everything (use all, warning or error)`;
  note.className = "flag bad";
  note.hidden = false;
} else if (asked) {
  levelSelect.value = asked;
}
search.value = params.get("q") || "";

function keepInUrl() {
  const p = new URLSearchParams(location.search);
  for (const [k, v] of [["level", levelSelect.value === "all" ? "" : levelSelect.value], ["q", search.value]]) {
    if (v) p.set(k, v);
    else p.delete(k);
  }
  const qs = p.toString();
  history.replaceState(null, "", qs ? `?${qs}` : location.pathname);
}

function matches(entry) {
  const levels = LEVELS[levelSelect.value];
  if (levels && !levels.includes(entry.dataset.level)) return false;
  const q = search.value.trim().toLowerCase();
  return !q || entry.textContent.toLowerCase().includes(q);
}

let lines = 0;      // lines held (an entry holds its continuation lines too)
let dropped = 0;    // older lines let go to stay within MAX_LINES
let lost = 0;       // lines the server had dropped before this page read them

function showCount() {
  const shown = logBox.querySelectorAll(".log-entry:not([hidden])").length;
  const entries = logBox.children.length;
  count.textContent = `${shown} of ${entries} entries shown` +
    (dropped ? `; ${dropped} older lines dropped (the page keeps ${MAX_LINES})` : "") +
    (lost ? `; ${lost} lines were gone from the server before this page read them` : "");
  count.dataset.dropped = String(dropped);
}

function refilter() {
  for (const entry of logBox.children) entry.hidden = !matches(entry);
  keepInUrl();
  showCount();
}
levelSelect.addEventListener("change", refilter);
search.addEventListener("input", refilter);

// -- lines into entries --------------------------------------------------------------------------------
// "<time> <LEVEL> <logger>: <message>" (Sluice's engine); other servers' lines are searched for a level word.
const LEVEL_RE = /^\S+\s+(CRITICAL|ERROR|WARNING|WARN|INFO|DEBUG|TRACE)\b/;
const ANY_LEVEL_RE = /\b(CRITICAL|ERROR|WARNING|WARN|INFO|DEBUG|TRACE)\b/;

function levelOf(line) {
  const m = LEVEL_RE.exec(line) || ANY_LEVEL_RE.exec(line.slice(0, 80));
  const level = m ? m[1] : "INFO";
  return level === "WARN" ? "WARNING" : level;
}

function trim() {
  while (lines > MAX_LINES && logBox.firstChild) {
    const n = Number(logBox.firstChild.dataset.lines);
    lines -= n;
    dropped += n;
    logBox.firstChild.remove();
  }
}

function addLines(batch) {
  const atBottom = logBox.scrollHeight - logBox.scrollTop - logBox.clientHeight < 24;
  const fresh = [];
  let last = logBox.lastElementChild;
  for (const line of batch) {
    if (/^\s/.test(line) && last) {  // a continuation: the rest of a message or a traceback
      last.textContent += `\n${line}`;
      last.dataset.lines = String(Number(last.dataset.lines) + 1);
    } else {
      last = el("div", { class: "log-entry", dataset: { level: levelOf(line), lines: "1" } }, line);
      logBox.append(last);
      fresh.push(last);
    }
    lines += 1;
  }
  for (const entry of fresh) {
    entry.hidden = !matches(entry);
    noteFromLog(entry);
  }
  trim();
  showCount();
  if (follow.checked && atBottom) logBox.scrollTop = logBox.scrollHeight;
}

// -- health events: the sampler's, and what the log lines say ----------------------------------------
const eventList = document.getElementById("event-list");
const eventsEmpty = document.getElementById("events-empty");
const stored = [];
const fromLog = [];

function timeOfLine(text) {
  const t = Date.parse(text.split(/\s/, 1)[0]);
  return Number.isNaN(t) ? Date.now() : t;
}

function noteFromLog(entry) {
  const text = entry.textContent;
  let kind = null;
  if (/checkpoint written/i.test(text)) kind = "checkpoint";
  else if (/checkpoint\b.*\bfailed/i.test(text)) kind = "checkpoint failed";
  else if (["ERROR", "CRITICAL"].includes(entry.dataset.level)) kind = "error";
  if (!kind) return;
  fromLog.push({ t: timeOfLine(text), kind, detail: text.split("\n")[0].replace(/^\S+\s+\S+\s+/, ""), log: true });
  if (fromLog.length > 200) fromLog.shift();
  showEvents();
}

function showEvents() {
  const all = [...stored, ...fromLog].sort((a, b) => b.t - a.t).slice(0, 200);
  eventList.replaceChildren(...all.map(eventItem));
  eventsEmpty.hidden = all.length > 0;
}

async function pollEvents() {
  try {
    const answer = await getJSON(`${base}/events`);
    stored.splice(0, stored.length, ...answer.events);
    showEvents();
  } catch (_) { /* the log stream says when the dashboard is unreachable */ }
}

// -- the stream, resumed from the last line after any end ----------------------------------------------
let cursor = null;
let failures = 0;

function setConn(state, text) {
  conn.dataset.state = state;
  conn.textContent = text;
  conn.className = `badge ${state === "live" ? "status-running" : state === "ended" ? "status-bad" : ""}`;
}

const problem = el("p", { class: "flag bad", role: "alert", id: "log-problem", hidden: true });
note.after(problem);
function showProblem(text) {
  problem.textContent = text;
  problem.hidden = false;
}

function onFrame(text) {
  const frame = JSON.parse(text);
  if (conn.dataset.state !== "live") setConn("live", "live");  // the first frame ("open") says it is
  if (frame.op === "open") {
    conn.dataset.connects = String(Number(conn.dataset.connects || 0) + 1);
    problem.hidden = true;
  } else if (frame.op === "lines") {
    failures = 0;
    if (frame.cursor) cursor = frame.cursor;
    addLines(frame.lines);
  } else if (frame.op === "gap") {
    lost += frame.lost;
    showCount();
  } else if (frame.op === "error") {
    throw new Error(frame.message);
  }
}

async function run() {
  for (;;) {
    setConn(failures ? "reconnecting" : "connecting", failures ? "reconnecting" : "connecting");
    const url = `${base}/logs${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`;
    try {
      await streamLines(url, onFrame);
    } catch (e) {
      if (e.status === 404) {
        setConn("ended", "no such pipeline");
        note.textContent = e.message;
        note.className = "flag bad";
        note.hidden = false;
        return;
      }
      if (e.status >= 400) showProblem(e.message);  // e.g. too many log streams open: said, then tried again
    }
    // The stream ended (the server restarted, or stopped answering): again from the last line read.
    failures += 1;
    setConn("reconnecting", "reconnecting");
    await new Promise((r) => setTimeout(r, Math.min(8, 2 ** (failures - 1)) * 1000));
  }
}

showCount();
showEvents();
pollEvents();
setInterval(pollEvents, 5000);
run();
