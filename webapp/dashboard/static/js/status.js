// The connection badge in the page header: live, upstream down (connected to the dashboard, but the
// pipeline server is not answering: panels keep their last rows), reconnecting (the dashboard itself is
// not answering; stale data stays on screen), signed out (the sign-in ended: no more updates) or connecting.

// `upstreamDown()` says whether any panel's view has lost its pipeline server; call the returned
// function when that may have changed.
export function watchConnection(conn, upstreamDown = () => false) {
  const badge = document.getElementById("conn");
  if (!badge) return () => {};
  const show = () => {
    let state = conn.state;
    if (state === "live" && upstreamDown()) state = "upstream down";
    badge.dataset.state = state.replace(" ", "-");
    badge.textContent = state;
    badge.title = state === "live"
      ? `connected (${conn.transport === "ws" ? "WebSocket" : "NDJSON over HTTP"})`
      : state === "upstream down"
        ? "connected to the dashboard, but the pipeline server is not answering: showing the last data received"
        : state === "reconnecting" ? "connection lost: showing the last data received, reconnecting…"
          : state === "signed out" ? "your sign-in has ended: showing the last data received; sign in again"
            : "connecting…";
  };
  show();
  conn.addEventListener("state", show);
  return show;
}
