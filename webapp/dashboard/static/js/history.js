// The history page: the dashboard's stored samples over 5 min, 1 h or 24 h (the range is in the URL), as
// charts for the pipeline and for each table and view, with health events marked on the time axis.

import { getJSON } from "./api.js";
import { timeChart } from "./charts.js";
import { el, fmtNumber, pageData } from "./dom.js";
import { eventItem } from "./events.js";

const data = pageData();
const name = data.pipeline;
const url = `/api/pipelines/${encodeURIComponent(name)}/history?range=${encodeURIComponent(data.range)}`;
const note = document.getElementById("history-note");
const eventList = document.getElementById("event-list");
const eventsEmpty = document.getElementById("events-empty");

function figure(caption, series, unit, format) {
  return el("figure", {}, el("figcaption", {}, caption),
    el("canvas", { class: "chart", dataset: { series, unit: unit || "", format: format || "" }, "aria-label": caption }));
}

// Per table: records in per second and buffered records; per view: records sent per second and compute time.
const KINDS = {
  tables: [["records in", "rate", "records/s"], ["buffered", "buffered", "records"]],
  views: [["records out (to its output streams)", "rate", "records/s"],
    ["compute time", "compute_ms_per_s", "ms per second"]],
};

function relationCharts(box, kind, relations) {
  const names = Object.keys(relations);
  if (box.dataset.names === names.join("\n")) return;  // same tables and views: keep the canvases
  box.dataset.names = names.join("\n");
  box.replaceChildren(...(names.length ? names.map((n) => el("div", { class: "relation", dataset: { relation: n } },
    el("h3", {}, n),
    el("div", { class: "pair" }, ...KINDS[kind].map(([cap, key, unit]) => figure(`${n}: ${cap}`, key, unit))),
  )) : [el("p", { class: "muted small" }, `no samples of ${kind} in this range`)]));
}

function draw(answer) {
  const opts = { from: answer.from, to: answer.to, marks: answer.events };
  for (const canvas of document.querySelectorAll("#pipeline-charts canvas")) {
    const d = canvas.dataset;
    timeChart(canvas, answer.pipeline[d.series] || [], { ...opts, unit: d.unit, format: d.format || "number" });
  }
  for (const kind of ["tables", "views"]) {
    const box = document.getElementById(`${kind.slice(0, -1)}-charts`);
    relationCharts(box, kind, answer[kind]);
    for (const rel of box.querySelectorAll(".relation")) {
      const series = answer[kind][rel.dataset.relation] || {};
      for (const canvas of rel.querySelectorAll("canvas")) {
        timeChart(canvas, series[canvas.dataset.series] || [], { ...opts, unit: canvas.dataset.unit });
      }
    }
  }
  eventList.replaceChildren(...answer.events.slice().reverse().map(eventItem));
  eventsEmpty.hidden = answer.events.length > 0;
  note.textContent = `${fmtNumber(answer.samples)} points, one per ${fmtNumber(answer.bucket_ms / 1000, 1)} s` +
    ` (sampled every ${fmtNumber(answer.interval_s, 1)} s)` +
    (answer.kept ? "" : "; kept in memory: a dashboard restart starts the history again");
  note.dataset.samples = String(answer.samples);
}

let timer = null;
async function refresh() {
  clearTimeout(timer);
  try {
    draw(await getJSON(url));
  } catch (e) {
    note.textContent = `could not read the history: ${e.message}`;
  }
  timer = setTimeout(refresh, data.range === "5m" ? 5000 : 30000);
}

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(refresh, 200);
});
refresh();
