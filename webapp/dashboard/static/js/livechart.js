// A live chart of one numeric column of a view over time: its sum, average, minimum, maximum or the row
// count over the rows the panel holds, sampled once a second while changes arrive, for the last
// WINDOW_MS. It reads the rows the page already has: no extra stream, nothing kept on the server. The
// current value is also written out, since the chart's axis starts at zero.

import { lineChart } from "./charts.js";
import { el, fmtNumber } from "./dom.js";
import { isNumeric, num } from "./grid.js";

const WINDOW_MS = 10 * 60 * 1000;
const MEASURES = ["sum", "avg", "min", "max", "count"];

function number(v) {
  const n = num(v);
  return n !== null && Number.isFinite(n) ? n : null;
}

// The measure over the model's rows (duplicates counted as often as they occur); null with no values.
export function measure(model, column, how) {
  let n = 0, sum = 0, min = Infinity, max = -Infinity;
  for (const e of model.rows.values()) {
    const v = how === "count" ? 0 : number(e.row[column]);
    if (v === null) continue;
    n += e.n;
    sum += v * e.n;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (how === "count") return n;
  if (!n) return null;
  return { sum, avg: sum / n, min, max }[how];
}

export class LiveChart {
  // panel: the Panel it draws for; spec: "column:measure" (from the URL) or null.
  constructor(panel, spec) {
    this.panel = panel;
    this.samples = [];
    this.columnSel = el("select", { class: "chart-column", "aria-label": "chart column",
      onchange: () => this._choose() });
    this.measureSel = el("select", { class: "chart-measure", "aria-label": "chart measure",
      onchange: () => this._choose() }, ...MEASURES.map((m) => el("option", { value: m }, m)));
    this.value = el("b", { class: "chart-value" }, "–");
    this.canvas = el("canvas", { class: "live-chart", width: "600", height: "140", "aria-label": "live chart" });
    this.node = el("div", { class: "chart-box", hidden: "" },
      el("div", { class: "chart-tools" }, el("label", {}, "chart ", this.measureSel, " of ", this.columnSel),
        " now ", this.value),
      this.canvas);
    const [col, how] = (spec || "").split(":");
    this.spec = col ? { column: col, how: MEASURES.includes(how) ? how : "sum" } : null;
    this.timer = setInterval(() => this.sample(), 1000);
  }

  // Show the chart (with the first numeric column if none is chosen) or hide it.
  toggle(open = this.node.hidden) {
    this.node.hidden = !open;
    if (open && !this.spec) {
      const first = this._numericColumns()[0];
      if (first) this.spec = { column: first, how: "sum" };
    }
    if (!open) this.spec = null;
    this._options();
    this.samples = [];
    this.sample();
    this.panel.opts.onChange();
  }

  // The choice as kept in the URL, or null when the chart is closed.
  get state() {
    return this.spec && !this.node.hidden ? `${this.spec.column}:${this.spec.how}` : null;
  }

  // Called by the panel once its columns are known: a chart asked for in the URL opens.
  columnsKnown() {
    this._options();
    if (this.spec && this.node.hidden) {
      this.node.hidden = false;
      this.sample();
    }
  }

  _numericColumns() {
    const cols = (this.panel.relation && this.panel.relation.columns) || [];
    return cols.filter((c) => isNumeric(c.type)).map((c) => c.name);
  }

  _options() {
    const cols = this._numericColumns();
    this.columnSel.replaceChildren(...cols.map((c) => el("option", { value: c }, c)));
    if (this.spec) {
      this.columnSel.value = this.spec.column;
      this.measureSel.value = this.spec.how;
    }
  }

  _choose() {
    this.spec = { column: this.columnSel.value, how: this.measureSel.value };
    this.samples = [];
    this.sample();
    this.panel.opts.onChange();
  }

  sample() {
    if (!this.spec || this.node.hidden || this.panel.paused || !this.panel.model.snapshots) return;
    const now = Date.now();
    const v = measure(this.panel.model, this.spec.column, this.spec.how);
    this.value.textContent = v === null ? "no values" : fmtNumber(v, this.spec.how === "count" ? 0 : 2);
    this.node.dataset.value = v === null ? "" : String(v);
    if (v !== null) this.samples.push({ t: now, v });
    while (this.samples.length && this.samples[0].t < now - WINDOW_MS) this.samples.shift();
    lineChart(this.canvas, this.samples.map((p) => ({ t: p.t, v: Math.max(0, p.v) })),
      `${this.spec.how}(${this.spec.column})`);
  }

  close() {
    clearInterval(this.timer);
  }
}
