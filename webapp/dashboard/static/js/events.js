// One health event as a list item: its time, its kind (started, stopped, restarted, error, checkpoint, …) and
// what it says; events read from log lines are marked as such.

import { el } from "./dom.js";

export function eventItem(e) {
  const when = new Date(e.t);
  return el("li", { dataset: { kind: e.kind } },
    el("time", { datetime: when.toISOString(), title: when.toLocaleString() }, when.toLocaleTimeString()),
    el("b", { dataset: { kind: e.kind } }, e.kind),
    e.status && e.kind !== e.status.toLowerCase() ? ` (${e.status})` : null,
    e.detail ? `: ${e.detail}` : null,
    e.log ? el("span", { class: "from-log" }, "from the log") : null);
}
