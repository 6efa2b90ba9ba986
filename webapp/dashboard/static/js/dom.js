// Small DOM helpers. Values always go in as text (textContent), never as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// The signed-in user's role ("viewer" or "editor"; "editor" when the dashboard has no users file).
// The server refuses a viewer's state changes anyway; this only hides controls that would fail.
export function canEdit() {
  return (document.body.dataset.role || "editor") === "editor";
}

export function pageData() {
  const node = document.getElementById("page-data");
  return node ? JSON.parse(node.textContent) : {};
}

// How a value shows in a cell: strings as they are, null as an empty marker, the rest as JSON.
export function cellText(v) {
  if (v === null || v === undefined) return "∅";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

export function fmtNumber(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits });
}

export function fmtBytes(n) {
  if (!n && n !== 0) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function fmtAgo(ms) {
  if (ms === null || ms === undefined) return "never";
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 1) return "just now";
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

export function fmtTime(ms) {
  return ms ? new Date(ms).toLocaleTimeString() : "–";
}

export function statusClass(status) {
  return "status-" + String(status || "unknown").toLowerCase();
}
