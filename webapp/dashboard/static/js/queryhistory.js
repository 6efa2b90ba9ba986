// The query page's history: the statements a user ran, newest first, kept in this browser's localStorage
// under a key per user (so two people sharing a browser profile with sign-in do not see each other's), each
// entry with its pipeline. Never sent to the server.

const MAX = 100; // entries kept per user, over all pipelines; the oldest go first

function key(user) {
  return `sluice.query-history.${user || "-"}`;
}

function load(user) {
  try {
    const list = JSON.parse(localStorage.getItem(key(user)) || "[]");
    return Array.isArray(list) ? list.filter((e) => e && typeof e.sql === "string") : [];
  } catch (_) {
    return []; // unreadable (another version's format, or edited by hand): start again
  }
}

function store(user, list) {
  try {
    localStorage.setItem(key(user), JSON.stringify(list.slice(0, MAX)));
  } catch (_) {
    // storage full or disabled: the history is a convenience, the query still ran
  }
}

// The entries of `pipeline`, newest first.
export function entries(user, pipeline) {
  return load(user).filter((e) => e.pipeline === pipeline);
}

// Puts `sql` first (once: running it again moves it up) with what came of it.
export function remember(user, pipeline, sql, outcome) {
  const rest = load(user).filter((e) => !(e.pipeline === pipeline && e.sql === sql));
  store(user, [{ pipeline, sql, at: Date.now(), outcome }, ...rest]);
}

export function forget(user, pipeline) {
  store(user, load(user).filter((e) => e.pipeline !== pipeline));
}
