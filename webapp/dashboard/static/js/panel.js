// One live view on the page: its subscription, its ViewModel, its Grid and its controls and counters.
// Pausing stops drawing, not receiving: frames wait in a queue and apply on resume (beyond MAX_PAUSED
// changes the queue is dropped and a fresh snapshot asked for, and the drop is counted on screen).

import { sparkline } from "./charts.js";
import { el, fmtAgo, fmtNumber, fmtTime } from "./dom.js";
import { Grid } from "./grid.js";
import { ChangeLog, exportMenu } from "./liveexport.js";
import { parseFilter } from "./filter.js";
import { LiveChart } from "./livechart.js";
import { LogStart, logFrom } from "./logstart.js";
import { Watches } from "./watches.js";
import { ViewModel } from "./viewmodel.js";

const MAX_PAUSED = 200000;

export class Panel {
  // opts: {pipeline, view, relation (or null), others (the pipeline's relations, linked when this view is
  // missing), conn, state: {mode, sort, filters, key}, onChange(), onClose()}
  constructor(root, opts) {
    this.opts = opts;
    this.conn = opts.conn;
    this.state = { mode: "state", sort: {}, filters: {}, key: null, from: null, chart: null, ...opts.state };
    this.logStart = new LogStart(this);
    this.paused = false;
    this.queue = [];
    this.queued = 0;
    this.dropped = 0;
    this.resyncs = 0;
    this.feed = {}; // last status frame
    this.relation = opts.relation || null;
    this.model = new ViewModel(this._key());
    this.changeLog = new ChangeLog(); // for the change-log export
    this._dom(root);
    this.grid = new Grid(this.gridBox, {
      sort: this.state.sort, filters: this.state.filters,
      onSort: (c) => this._sort(c), onFilter: (c, text) => this._filter(c, text),
    });
    this.chart = new LiveChart(this, this.state.chart);
    this.counters.after(this.chart.node);
    if (this.relation) this._columns();
    this.grid.setMode(this.state.mode);
    this.sub = this.conn.subscribe({ pipeline: opts.pipeline, view: opts.view, filter: this._predicates(),
      logFrom: logFrom(this.state.from), onFrame: (f) => this._frame(f) });
    this.watches = new Watches(this);
    this.flags.after(this.watches.node);
    this.dirty = true;
    this._loop();
    this.ticker = setInterval(() => this._counters(), 1000);
  }

  _key() {
    if (this.state.key) return this.state.key;
    return this.relation && this.relation.key ? this.relation.key : null;
  }

  _dom(root) {
    const v = this.opts.view;
    this.node = el("section", { class: "panel", dataset: { view: v } });
    this.connBadge = el("span", { class: "badge conn-badge", dataset: { state: "connecting" } }, "connecting");
    this.kindBadge = el("span", { class: "badge kind" }, "");
    this.modeBtns = ["state", "log"].map((m) => el("button", { type: "button", class: "seg", dataset: { mode: m },
      onclick: () => this._mode(m) }, m === "state" ? "Table" : "Change log"));
    this.pauseBtn = el("button", { type: "button", class: "pause", onclick: () => this.togglePause() }, "Pause");
    const watchBtn = el("button", { type: "button", class: "watch", title: "be told when a row starts or stops matching a condition",
      onclick: () => this.watches.toggle() }, "Watch");
    const chartBtn = el("button", { type: "button", class: "chart", title: "chart a numeric column over time",
      onclick: () => this.chart.toggle() }, "Chart");
    this.keySelect = el("select", { class: "key-select", title: "key: rows with the same key are one row",
      "aria-label": "key", onchange: () => this._setKey(this.keySelect.value) });
    const close = el("button", { type: "button", class: "close", title: "close", "aria-label": "close",
      onclick: () => this.opts.onClose && this.opts.onClose(this) }, "×");
    const head = el("header", { class: "panel-head" },
      el("h2", {}, el("a", { href: `/pipelines/${encodeURIComponent(this.opts.pipeline)}/views/${encodeURIComponent(v)}` }, v)),
      this.kindBadge, this.connBadge,
      el("div", { class: "tools" }, el("span", { class: "segs" }, ...this.modeBtns),
        this.logStart.node, this.pauseBtn, watchBtn, chartBtn,
        el("label", { class: "key-label" }, "key ", this.keySelect), exportMenu(this), close));
    this.flags = el("div", { class: "flags" });
    this.c = {};
    const counter = (name, label) => {
      this.c[name] = el("b", { class: `count-${name}` }, "0");
      return el("span", { class: "counter" }, label, " ", this.c[name]);
    };
    this.spark = el("canvas", { class: "spark", width: "120", height: "22", "aria-label": "changes per second" });
    this.counters = el("div", { class: "counters" },
      counter("rows", "rows"), counter("changes", "changes"), counter("rate", "changes/s"), this.spark,
      counter("last", "last change"), counter("resyncs", "resyncs"), counter("dropped", "dropped"),
      counter("cursor", "cursor"));
    this.c.last.textContent = "never";
    this.gridBox = el("div", { class: "grid-box" });
    this.node.append(head, this.flags, this.counters, this.gridBox);
    root.append(this.node);
    this._modeButtons();
  }

  _columns() {
    const rel = this.relation;
    this.grid.setColumns(rel.columns, this._key() || []);
    this.kindBadge.textContent = `${rel.kind}${rel.materialized ? " · materialized" : ""}` +
      (rel.strategy ? ` · ${rel.strategy}` : "");
    const current = JSON.stringify(this._key() || []);
    const options = [["[]", "whole row"]];
    if (rel.key) options.push([JSON.stringify(rel.key), rel.key.join(", ") + " (server)"]);
    for (const c of rel.columns) {
      const k = JSON.stringify([c.name]);
      if (!options.some((o) => o[0] === k)) options.push([k, c.name]);
    }
    if (!options.some((o) => o[0] === current)) options.push([current, (this._key() || []).join(", ")]);
    this.keySelect.replaceChildren(...options.map(([val, label]) => el("option", { value: val }, label)));
    this.keySelect.value = current;
    if (this.chart) this.chart.columnsKnown();
  }

  _frame(f) {
    if (f.op === "status") return this._status(f);
    if (f.op === "error") {
      this.feed = { state: "error", message: f.message };
      this._flags();
      return;
    }
    if (this.paused && (f.op === "snapshot" || f.op === "changes" || f.op === "history")) {
      this.queued += f.op === "snapshot" ? f.rows.length : f.op === "changes" ? f.changes.length : 0;
      this.queue.push(f);
      if (f.op === "snapshot") {
        this.queue = [f];
        this.queued = f.rows.length;
      }
      if (this.queued > MAX_PAUSED) {
        this.dropped += this.queued;
        this.queue = [];
        this.queued = 0;
        this.askedFresh = true;
        this.conn.resubscribe(this.sub);
      }
      this._counters();
      return;
    }
    this._apply(f);
  }

  _apply(f) {
    if (f.op === "snapshot") {
      // A snapshot we did not ask for (a resync upstream, too far behind, or a cursor the server no
      // longer had after a reconnect) is counted; one after a filter change is not.
      if (this.model.snapshots > 0 && !this.askedFresh) this.resyncs++;
      this.askedFresh = false;
      this.model.snapshot(f.rows, f.cursor);
      this.changeLog.snapshot(f.rows);
    } else if (f.op === "changes") {
      this.model.apply(f.changes, f.steps, f.cursor);
      this.changeLog.changes(f.changes, this.model);
    } else if (f.op === "history") {
      this.model.history(f.changes, f.steps, f.held);
      this._flags();
    } else if (f.op === "resumed") {
      this.model.cursor = f.cursor;
    }
    this.dirty = true;
  }

  _status(f) {
    // The feed counts the times its pipeline started again upstream (step numbers went back): mark the
    // change log there, so the restarted step numbers are not read as a continuation.
    if (typeof f.restarts === "number" && this.restarts !== undefined && f.restarts > this.restarts) {
      this.model.mark("the pipeline restarted upstream: statistics and step numbers start again");
      this.dirty = true;
    }
    if (typeof f.restarts === "number") this.restarts = f.restarts;
    this.feed = f;
    if (f.relation && (!this.relation || JSON.stringify(f.relation.columns) !== JSON.stringify(this.relation.columns))) {
      this.relation = f.relation;
      if (!this.state.key && this.relation.key) this.model.setKey(this.relation.key);
      this._columns();
      this.dirty = true;
    }
    this._flags();
    this._counters();
    if (this.opts.onFeed) this.opts.onFeed(this);
  }

  // The connection's state, and the upstream's, on this panel.
  connState(state) {
    this.connection = state;
    this._flags();
  }

  _flags() {
    const conn = this.connection || "connecting";
    const state = conn === "live" ? (this.feed.state || "connecting") : conn;
    // The server answered that it has no such view (or pipeline): not an outage; the message says which.
    const missing = state === "missing";
    this.connBadge.textContent = missing ? "not found" : state.replace("_", " ");
    this.connBadge.dataset.state = state.replace(/[_ ]/g, "-");
    const notes = [];
    if (conn !== "live" && this.model.snapshots) {
      notes.push(["warn", conn === "signed out" ? "showing the last data received: signed out"
        : "showing the last data received while reconnecting"]);
    }
    if (this.feed.message) notes.push([missing ? "bad" : "warn", this.feed.message]);
    if (missing && this.opts.others && this.opts.others.length) notes.push(["info", this._others()]);
    if (this.relation && !this.relation.materialized) {
      notes.push(["info", `not materialized: rows shown are those changed since ${fmtTime(this.feed.since)}, ` +
        "when the dashboard started following this view"]);
    }
    if (this.feed.incomplete_since) {
      notes.push(["bad", `incomplete since ${fmtTime(this.feed.incomplete_since)}: changes were lost upstream`]);
    }
    if (this.paused) notes.push(["info", `paused: ${fmtNumber(this.queued)} changes waiting`]);
    if (this.state.mode === "log") notes.push(...this.logStart.notes());
    this.flags.replaceChildren(...notes.map(([cls, text]) => el("div", { class: `flag ${cls}` }, text)));
  }

  // "its tables and views: a, b", each a link to its live table: where to go from a view that is not there.
  _others() {
    const p = encodeURIComponent(this.opts.pipeline);
    const links = this.opts.others.flatMap((r, i) => [i ? ", " : "",
      el("a", { href: `/pipelines/${p}/views/${encodeURIComponent(r.name)}` }, r.name)]);
    return el("span", { class: "others" }, `pipeline ${this.opts.pipeline} has these tables and views: `, ...links);
  }

  _counters() {
    const m = this.model;
    this.c.rows.textContent = fmtNumber(m.count);
    this.c.changes.textContent = fmtNumber(m.changes);
    const rates = m.rates();
    this.c.rate.textContent = fmtNumber(rates[rates.length - 1] || 0);
    this.c.last.textContent = fmtAgo(m.lastChange);
    this.c.resyncs.textContent = fmtNumber(this.resyncs);
    this.c.resyncs.title = `this table was replaced by a fresh snapshot ${this.resyncs} time(s); ` +
      `the dashboard resynchronised this view from upstream ${this.feed.resyncs || 0} time(s)`;
    this.c.dropped.textContent = fmtNumber(this.dropped + (this.feed.dropped || 0));
    this.c.cursor.textContent = m.cursor ? `${m.cursor.epoch.slice(0, 6)}:${m.cursor.seq}` : "–";
    this.node.dataset.rows = String(m.count);
    this.node.dataset.snapshots = String(m.snapshots);
    sparkline(this.spark, rates);
    if (this.paused) this._flags();
  }

  // Draw at most every `interval` ms; the interval grows with the cost of a redraw (big sorted views).
  _loop() {
    let cost = 0;
    let lit = false;
    const tick = () => {
      if (this.closed) return;
      if (!this.paused && (this.dirty || lit) && this.relation) {
        const t0 = performance.now();
        const rebuilt = this.grid.build(this.model);
        if (this.revealing) this._reveal();
        if (this.dirty || rebuilt || lit) lit = this.grid.paint();
        if (this.dirty) this._counters();
        this.dirty = false;
        cost = performance.now() - t0;
        this.node.dataset.version = String(this.model.version);
      }
      setTimeout(() => requestAnimationFrame(tick), Math.max(50, cost * 4));
    };
    requestAnimationFrame(tick);
  }

  // Bring the rows changed at or after `since` (ms) into view: the panel on the page, and the first such
  // row in the grid. The changes may arrive after the caller learnt they were processed, so this keeps
  // trying for a few seconds; if none shows (a view the change did not touch) the panel is still shown.
  reveal(since) {
    this.revealing = { since, until: Date.now() + 5000 };
    this.dirty = true;
  }

  _reveal() {
    const r = this.revealing;
    const tr = this.grid.revealSince(r.since);
    if (tr) {
      tr.scrollIntoView({ block: "center" });  // the page too: the panel may be below the fold
      this.revealing = null;
    } else if (Date.now() > r.until) {
      this.node.scrollIntoView({ block: "start" });
      this.revealing = null;
    } else this.dirty = true;  // look again on the next frame
  }

  togglePause() {
    this.paused = !this.paused;
    this.pauseBtn.textContent = this.paused ? "Resume" : "Pause";
    this.node.classList.toggle("paused", this.paused);
    if (!this.paused) {
      for (const f of this.queue) this._apply(f);
      this.queue = [];
      this.queued = 0;
      this.dirty = true;
    }
    this._flags();
  }

  _mode(m) {
    this.state.mode = m;
    this.logStart.entered();
    this.grid.setMode(m);
    this._modeButtons();
    this.dirty = true;
    this.opts.onChange();
  }

  _modeButtons() {
    for (const b of this.modeBtns) b.classList.toggle("on", b.dataset.mode === this.state.mode);
    this.node.dataset.mode = this.state.mode;
    this.logStart.show(this.state.mode === "log");
    this._flags();
  }

  _sort(col) {
    const s = this.state.sort;
    if (s.col !== col) Object.assign(s, { col, desc: false });
    else if (!s.desc) s.desc = true;
    else Object.assign(s, { col: null, desc: false });
    this.grid.opts.sort = s;
    this.grid.setColumns(this.relation.columns, this._key() || []);
    this.dirty = true;
    this.opts.onChange();
  }

  _predicates() {
    return Object.entries(this.state.filters).map(([c, t]) => parseFilter(c, t)).filter(Boolean);
  }

  _filter(col, text) {
    if (text.trim()) this.state.filters[col] = text;
    else delete this.state.filters[col];
    this.askedFresh = true;
    this.conn.resubscribe(this.sub, { filter: this._predicates() });
    this.opts.onChange();
  }

  _setKey(text) {
    const key = JSON.parse(text);
    this.state.key = key.length ? key : [];
    this.model.setKey(key);
    this.grid.setColumns(this.relation.columns, key);
    this.dirty = true;
    this.opts.onChange();
  }

  close() {
    this.closed = true;
    clearInterval(this.ticker);
    this.watches.close();
    this.chart.close();
    this.conn.unsubscribe(this.sub);
    this.node.remove();
  }
}
