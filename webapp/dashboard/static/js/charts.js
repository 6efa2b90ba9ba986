// Canvas charts with no library: a sparkline, a small line chart with axes, and a chart over a fixed time
// range (clock-time ticks, breaks, event marks). Colours come from the
// CSS variables, so they follow dark mode.

function colors(canvas) {
  const css = getComputedStyle(canvas);
  return {
    line: css.getPropertyValue("--accent").trim() || "#2563eb",
    fill: css.getPropertyValue("--accent-soft").trim() || "rgba(37,99,235,.15)",
    text: css.getPropertyValue("--muted").trim() || "#666",
    grid: css.getPropertyValue("--border").trim() || "#ddd",
    mark: css.getPropertyValue("--warn").trim() || "#a16207",
  };
}

function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

export function sparkline(canvas, values) {
  const { ctx, w, h } = prepare(canvas);
  const c = colors(canvas);
  if (!values.length) return;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = i * step;
    const y = h - 1 - (v / max) * (h - 2);
    if (i) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
  });
  ctx.strokeStyle = c.line;
  ctx.lineWidth = 1.25;
  ctx.stroke();
  ctx.lineTo(w, h);
  ctx.lineTo(0, h);
  ctx.closePath();
  ctx.fillStyle = c.fill;
  ctx.fill();
}

// Round tick values for an axis from 0 to at least `max`: a step of 1, 2 or 5 times a power of ten, so
// labels read 0, 5, 10 rather than 0, 2.3, 4.6, 6.9.
export function niceTicks(max, count = 4) {
  const raw = Math.max(max, 1e-9) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  const ticks = [];
  for (let i = 0; i * step < max + step * 1e-9 || i <= 1; i++) ticks.push(+(i * step).toPrecision(12));
  if (ticks[ticks.length - 1] < max) ticks.push(+(ticks.length * step).toPrecision(12));
  return ticks;
}

// Tick labels that stay short whatever the scale: "2k", "1.5M" for counts and rates, "1.5 MB" for bytes,
// "20 ms" / "1.5 s" for durations. The unit is written once above the axis (lineChart) or by the labels.
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 2 });
export const FORMATS = {
  number: (v) => (Math.abs(v) >= 1000 ? compact.format(v) : v.toLocaleString(undefined, { maximumFractionDigits: 3 })),
  bytes: (v) => {
    const units = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return `${+v.toFixed(1)} ${units[i]}`;
  },
  ms: (v) => (v >= 1000 ? `${+(v / 1000).toFixed(1)} s` : `${+v.toFixed(v < 10 ? 1 : 0)} ms`),
};

// Draws the horizontal grid and the y labels for values 0..max; returns the plot area.
function yAxis(ctx, c, w, h, values, unit, format, bottom = 18) {
  ctx.font = "11px system-ui, sans-serif";
  // An axis of zeros still reads as round numbers of its unit: 0, 0.5, 1 records; 0, 500 B, 1 kB.
  const ticks = niceTicks(Math.max(format === FORMATS.bytes ? 1000 : 1, ...values));
  const max = ticks[ticks.length - 1];
  const labels = ticks.map(format);
  const left = Math.max(28, ...labels.map((l) => ctx.measureText(l).width + 10));
  const top = unit ? 18 : 8, right = 8;
  const area = { left, top, pw: w - left - right, ph: h - top - bottom, max, labels };
  ctx.fillStyle = c.text;
  ctx.strokeStyle = c.grid;
  ctx.lineWidth = 1;
  if (unit) ctx.fillText(unit, 2, 11);
  ticks.forEach((v, i) => {
    const y = top + area.ph - (v / max) * area.ph;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + area.pw, y);
    ctx.stroke();
    ctx.fillText(labels[i], left - 6 - ctx.measureText(labels[i]).width, y + 4);
  });
  return area;
}

// The line (and the area under it) through [x, y] canvas points; `null` entries break it.
function drawLine(ctx, c, pts, base) {
  let run = [];
  const flush = () => {
    if (run.length > 1) {
      ctx.beginPath();
      run.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.strokeStyle = c.line;
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.lineTo(run[run.length - 1][0], base);
      ctx.lineTo(run[0][0], base);
      ctx.closePath();
      ctx.fillStyle = c.fill;
      ctx.fill();
    } else if (run.length === 1) {
      ctx.fillStyle = c.line;
      ctx.fillRect(run[0][0] - 1.5, run[0][1] - 1.5, 3, 3);
    }
    run = [];
  };
  for (const p of pts) {
    if (p) run.push(p);
    else flush();
  }
  flush();
}

// points: [{t: ms, v: number}], drawn over their time range with a y axis from 0; `unit` (e.g. "rec/s")
// is written once, above the axis, so tick labels are plain round numbers.
export function lineChart(canvas, points, unit = "") {
  const { ctx, w, h } = prepare(canvas);
  const c = colors(canvas);
  const a = yAxis(ctx, c, w, h, points.map((p) => p.v), unit, FORMATS.number);
  canvas.dataset.ticks = a.labels.join(" ");  // what the axis says, for tests and screen readers' neighbours
  if (points.length < 2) {
    ctx.fillText("waiting for samples…", a.left + 8, a.top + a.ph / 2);
    return;
  }
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  const span = Math.max(1, t1 - t0);
  ctx.fillText(`${Math.round(span / 1000)} s ago`, a.left, h - 4);
  ctx.fillText("now", a.left + a.pw - ctx.measureText("now").width, h - 4);
  drawLine(ctx, c, points.map((p) => [a.left + ((p.t - t0) / span) * a.pw, a.top + a.ph - (p.v / a.max) * a.ph]),
    a.top + a.ph);
}

// Clock-time ticks for [from, to]: the smallest step of this list giving at most `count` ticks, on round times.
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200]
  .map((s) => s * 1000);
export function timeTicks(from, to, count = 6) {
  const step = TIME_STEPS.find((s) => (to - from) / s <= count) || TIME_STEPS[TIME_STEPS.length - 1];
  const offset = new Date(from).getTimezoneOffset() * 60_000;  // round in local time: 10:00, not 09:00 UTC+1
  const ticks = [];
  for (let t = Math.ceil((from - offset) / step) * step + offset; t <= to; t += step) ticks.push(t);
  const withSeconds = step < 60_000;
  const label = (t) => new Date(t).toLocaleTimeString([], withSeconds
    ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" });
  return ticks.map((t) => ({ t, label: label(t) }));
}

// A chart over a fixed time range: `points` [[t, v|null]] (null breaks the line), `from`/`to` in ms,
// `format` one of FORMATS' names, `marks` [{t, kind}] drawn as thin vertical lines (health events).
export function timeChart(canvas, points, { from, to, unit = "", format = "number", marks = [] } = {}) {
  const { ctx, w, h } = prepare(canvas);
  const c = colors(canvas);
  const values = points.map((p) => p[1]).filter((v) => v !== null && v !== undefined);
  const a = yAxis(ctx, c, w, h, values, unit, FORMATS[format] || FORMATS.number);
  const x = (t) => a.left + ((t - from) / Math.max(1, to - from)) * a.pw;
  const times = timeTicks(from, to);
  ctx.fillStyle = c.text;
  for (const { t, label } of times) {
    const lw = ctx.measureText(label).width;
    ctx.fillText(label, Math.min(Math.max(x(t) - lw / 2, a.left), a.left + a.pw - lw), h - 4);
  }
  canvas.dataset.ticks = a.labels.join(" ");
  canvas.dataset.timeTicks = times.map((tt) => tt.label).join(", ");
  canvas.dataset.points = String(values.length);
  ctx.strokeStyle = c.mark;
  ctx.setLineDash([3, 3]);
  for (const m of marks) {
    if (m.t < from || m.t > to) continue;
    ctx.beginPath();
    ctx.moveTo(x(m.t), a.top);
    ctx.lineTo(x(m.t), a.top + a.ph);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  if (!values.length) {
    ctx.fillStyle = c.text;
    ctx.fillText("no samples in this range", a.left + 8, a.top + a.ph / 2);
    return;
  }
  drawLine(ctx, c, points.map(([t, v]) => (v === null || v === undefined ? null
    : [x(t), a.top + a.ph - (v / a.max) * a.ph])), a.top + a.ph);
}
