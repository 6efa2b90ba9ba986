// Canvas charts with no library: a sparkline and a small line chart with axes. Colours come from the
// CSS variables, so they follow dark mode.

function colors(canvas) {
  const css = getComputedStyle(canvas);
  return {
    line: css.getPropertyValue("--accent").trim() || "#2563eb",
    fill: css.getPropertyValue("--accent-soft").trim() || "rgba(37,99,235,.15)",
    text: css.getPropertyValue("--muted").trim() || "#666",
    grid: css.getPropertyValue("--border").trim() || "#ddd",
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

// points: [{t: ms, v: number}], drawn over their time range with a y axis from 0; `unit` (e.g. "rec/s")
// is written once, above the axis, so tick labels are plain round numbers.
export function lineChart(canvas, points, unit = "") {
  const { ctx, w, h } = prepare(canvas);
  const c = colors(canvas);
  ctx.font = "11px system-ui, sans-serif";
  const ticks = niceTicks(Math.max(1, ...points.map((p) => p.v)));
  const max = ticks[ticks.length - 1];
  const labels = ticks.map((v) => v.toLocaleString(undefined, { maximumFractionDigits: 2 }));
  const left = Math.max(28, ...labels.map((l) => ctx.measureText(l).width + 10));
  const bottom = 18, top = unit ? 18 : 8, right = 8;
  const pw = w - left - right, ph = h - top - bottom;
  ctx.fillStyle = c.text;
  ctx.strokeStyle = c.grid;
  ctx.lineWidth = 1;
  if (unit) ctx.fillText(unit, 2, 11);
  ticks.forEach((v, i) => {
    const y = top + ph - (v / max) * ph;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + pw, y);
    ctx.stroke();
    ctx.fillText(labels[i], left - 6 - ctx.measureText(labels[i]).width, y + 4);
  });
  canvas.dataset.ticks = labels.join(" ");  // what the axis says, for tests and screen readers' neighbours
  if (points.length < 2) {
    ctx.fillText("waiting for samples…", left + 8, top + ph / 2);
    return;
  }
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  const span = Math.max(1, t1 - t0);
  ctx.fillText(`${Math.round(span / 1000)} s ago`, left, h - 4);
  ctx.fillText("now", left + pw - ctx.measureText("now").width, h - 4);
  ctx.beginPath();
  points.forEach((p, i) => {
    const x = left + ((p.t - t0) / span) * pw;
    const y = top + ph - (p.v / max) * ph;
    if (i) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
  });
  ctx.strokeStyle = c.line;
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.lineTo(left + pw, top + ph);
  ctx.lineTo(left, top + ph);
  ctx.closePath();
  ctx.fillStyle = c.fill;
  ctx.fill();
}
