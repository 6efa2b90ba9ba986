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

// points: [{t: ms, v: number}], drawn over their time range with a y axis from 0.
export function lineChart(canvas, points, unit = "") {
  const { ctx, w, h } = prepare(canvas);
  const c = colors(canvas);
  const left = 48, bottom = 18, top = 8, right = 8;
  const pw = w - left - right, ph = h - top - bottom;
  const max = Math.max(1, ...points.map((p) => p.v));
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = c.text;
  ctx.strokeStyle = c.grid;
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + ph - (i / 4) * ph;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + pw, y);
    ctx.stroke();
    const label = ((max * i) / 4).toLocaleString(undefined, { maximumFractionDigits: 1 });
    ctx.fillText(label + unit, 2, y + 4);
  }
  if (points.length < 2) {
    ctx.fillText("waiting for samples…", left + 8, top + ph / 2);
    return;
  }
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  const span = Math.max(1, t1 - t0);
  ctx.fillText(`${Math.round(span / 1000)} s`, left, h - 4);
  ctx.fillText("now", left + pw - 22, h - 4);
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
