// The connection badge in the page header: live, reconnecting (stale data stays on screen) or connecting.

export function watchConnection(conn) {
  const badge = document.getElementById("conn");
  if (!badge) return;
  const show = (state) => {
    badge.dataset.state = state;
    badge.textContent = state;
    badge.title = state === "live"
      ? `connected (${conn.transport === "ws" ? "WebSocket" : "NDJSON over HTTP"})`
      : state === "reconnecting" ? "connection lost: showing the last data received, reconnecting…" : "connecting…";
  };
  show(conn.state);
  conn.addEventListener("state", (ev) => show(ev.detail));
}
