// Where a panel's change log starts (the "start" menu in change-log mode), kept in the URL as
// `<view>.from=`: "oldest" (the oldest change the dashboard still holds), "last:N" (the newest N),
// "since:MS" (changes the dashboard received from that time on). The subscription asks the hub for those
// steps (`log_from`, docs/websocket.md); they arrive once, after the snapshot, as a `history` frame.

import { el, fmtNumber, fmtTime } from "./dom.js";

// The subscription's `log_from` for a URL value, or null (from now).
export function logFrom(text) {
  const m = /^(oldest)$|^last:(\d+)$|^since:(\d+)$/.exec(text || "");
  if (!m) return null;
  if (m[1]) return "oldest";
  return m[2] ? { last: Math.max(1, Number(m[2])) } : { since: Number(m[3]) };
}

const CHOICES = [["oldest", "oldest held"], ["last:100", "newest 100"], ["last:1000", "newest 1,000"],
  ["now", "from now"], ["pick", "since a time…"]];

export class LogStart {
  // panel: the Panel whose `state.from` this keeps.
  constructor(panel) {
    this.panel = panel;
    this.openedAt = Date.now();
    this.select = el("select", { class: "from-select", title: "where the change log starts",
      "aria-label": "change log starts", onchange: () => this._choose(this.select.value) });
    this.pick = el("input", { type: "datetime-local", class: "from-pick", step: "1", hidden: "",
      "aria-label": "change log since", onchange: () => this._picked() });
    this.node = el("label", { class: "from-label" }, "start ", this.select, this.pick);
    if (panel.state.mode === "log") this.entered();
  }

  // Change-log mode began. A log shown without a chosen start began with the page: record that start in
  // the URL, so a reload shows the same lines (from the hub's history) rather than an empty log.
  entered() {
    if (!logFrom(this.panel.state.from)) this.panel.state.from = `since:${this.openedAt}`;
  }

  show(on) {
    this.node.hidden = !on;
    const cur = this.panel.state.from || "";
    const opts = [...CHOICES];
    if (/^since:/.test(cur)) opts.unshift([cur, `since ${fmtTime(Number(cur.slice(6)))}`]);
    else if (/^last:/.test(cur) && !opts.some(([v]) => v === cur)) opts.unshift([cur, `newest ${cur.slice(5)}`]);
    this.select.replaceChildren(...opts.map(([v, label]) => el("option", { value: v }, label)));
    this.select.value = cur;
  }

  // What the change log reaches back to, and what it does not have: [[level, text]].
  notes() {
    const out = [];
    const model = this.panel.model;
    const h = model.held;
    const from = logFrom(this.panel.state.from);
    if (h && from) {
      const reach = h.oldest_t ? `the dashboard holds changes since ${fmtTime(h.oldest_t)}` :
        "the dashboard holds no changes of this view yet";
      out.push(["info", `${reach} (${fmtNumber(h.changes)} in ${fmtNumber(h.steps)} steps)`]);
      if (h.trimmed_changes) {
        out.push(["warn", `${fmtNumber(h.trimmed_changes)} older changes in ${fmtNumber(h.trimmed_steps)} steps ` +
          `were trimmed (the dashboard keeps ${fmtNumber(h.limits.RING_CHANGES)} changes and ` +
          `${fmtNumber(h.limits.RING_STEPS)} steps per view)`]);
      }
      if (from.since && h.epoch_t && from.since < h.epoch_t) {
        out.push(["warn", `the history starts at ${fmtTime(h.epoch_t)}, when the dashboard last (re)read ` +
          "this view: older changes are not held"]);
      }
    }
    if (model.logDropped) {
      out.push(["info", `showing the newest ${fmtNumber(model.log.length)} lines: ` +
        `${fmtNumber(model.logDropped)} older ones left the page`]);
    }
    return out;
  }

  _choose(value) {
    if (value === "pick") {
      this.pick.hidden = false;
      this.pick.focus();
      return;
    }
    this.pick.hidden = true;
    this._start(value === "now" ? `since:${Date.now()}` : value);
  }

  _picked() {
    const ms = new Date(this.pick.value).getTime();
    if (!Number.isFinite(ms)) return;
    this.pick.hidden = true;
    this._start(`since:${ms}`);
  }

  _start(from) {
    const p = this.panel;
    p.state.from = from;
    this.show(true);
    p.askedFresh = true;
    p.conn.resubscribe(p.sub, { logFrom: logFrom(from) });
    p.dirty = true;
    p.opts.onChange();
  }
}
