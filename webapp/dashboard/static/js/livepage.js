// The live page: one or more views side by side over one connection. The chosen views and each one's
// mode, sort, filters and key live in the URL, so a reload or a shared link restores them:
//   /pipelines/demo/live?views=big_orders,city_totals&city_totals.mode=log&big_orders.sort=-amount
//   &big_orders.f.amount=>100&big_orders.key=order_id&city_totals.from=oldest&transport=ndjson

import { LiveConnection } from "./connection.js";
import { el, pageData } from "./dom.js";
import { Panel } from "./panel.js";
import { watchConnection } from "./status.js";

const data = pageData();
const params = new URLSearchParams(location.search);
const conn = new LiveConnection({ transport: params.get("transport") || "auto" });
const relations = new Map((data.relations || []).map((r) => [r.name, r]));
const panels = [];
const box = document.getElementById("panels");

function viewState(v) {
  const p = (name) => params.get(`${v}.${name}`);
  const sort = p("sort");
  const filters = {};
  for (const [k, val] of params) if (k.startsWith(`${v}.f.`)) filters[k.slice(v.length + 3)] = val;
  const key = p("key");
  return {
    mode: p("mode") === "log" ? "log" : "state",
    sort: sort ? { col: sort.replace(/^-/, ""), desc: sort.startsWith("-") } : {},
    filters,
    key: key === null ? null : key ? key.split(",") : [],
    from: p("from"),
    chart: p("chart"),
  };
}

function writeUrl() {
  const q = new URLSearchParams();
  const views = panels.map((p) => p.opts.view);
  const single = location.pathname.includes("/views/") && views.length === 1 && views[0] === data.views[0];
  if (!single) q.set("views", views.join(","));
  for (const p of panels) {
    const v = p.opts.view, s = p.state;
    if (s.mode === "log") q.set(`${v}.mode`, "log");
    if (s.sort.col) q.set(`${v}.sort`, (s.sort.desc ? "-" : "") + s.sort.col);
    for (const [c, t] of Object.entries(s.filters)) q.set(`${v}.f.${c}`, t);
    if (s.key !== null && s.key !== undefined) q.set(`${v}.key`, s.key.join(","));
    if (s.mode === "log" && s.from) q.set(`${v}.from`, s.from);
    if (p.chart && p.chart.state) q.set(`${v}.chart`, p.chart.state);
  }
  if (params.get("transport")) q.set("transport", params.get("transport"));
  const base = single ? location.pathname : `/pipelines/${encodeURIComponent(data.pipeline)}/live`;
  const url = `${base}${q.toString() ? "?" + q : ""}`;
  history.replaceState(null, "", url);
}

function addPanel(view) {
  if (panels.some((p) => p.opts.view === view)) return;
  const panel = new Panel(box, {
    pipeline: data.pipeline, view, relation: relations.get(view) || null, others: data.relations || [],
    conn, state: viewState(view),
    onChange: writeUrl,
    onFeed: () => showConn(),
    onClose: (p) => {
      p.close();
      panels.splice(panels.indexOf(p), 1);
      writeUrl();
      layout();
    },
  });
  panel.connState(conn.state);
  panels.push(panel);
  layout();
}

function layout() {
  box.dataset.count = String(panels.length);
  const select = document.getElementById("add-view");
  if (!select) return;
  const shown = new Set(panels.map((p) => p.opts.view));
  select.replaceChildren(el("option", { value: "" }, "add a view…"),
    ...[...relations.values()].filter((r) => !shown.has(r.name))
      .map((r) => el("option", { value: r.name }, `${r.name} (${r.kind})`)));
}

conn.addEventListener("state", (ev) => panels.forEach((p) => p.connState(ev.detail)));
const showConn = watchConnection(conn, () => panels.some((p) => p.feed.state === "upstream_down"));

const add = document.getElementById("add-view");
if (add) {
  add.addEventListener("change", () => {
    if (add.value) {
      addPanel(add.value);
      writeUrl();
    }
  });
}

for (const v of data.views || []) addPanel(v);
layout();
writeUrl(); // a panel may have recorded a choice it made on opening (where its change log starts)
window.sluiceLive = { conn, panels }; // for tests and the curious: read-only use
