// The browser's copy of one view: its current rows (snapshot + changes applied), keyed by the view's key,
// a bounded change log, and counters. A delete and an insert of the same key in one step become one
// updated row whose changed cells are remembered (for highlighting); new rows remember when they came.

export const LOG_LIMIT = 20000; // change-log lines the page keeps (the hub holds RING_CHANGES)
const RATE_SECONDS = 60;

// A row as text with its columns in a fixed order, so equal rows give equal text.
export function rowText(row) {
  return JSON.stringify(Object.keys(row).sort().map((k) => [k, row[k]]));
}

export function keyText(row, cols) {
  if (!cols || !cols.length) return rowText(row);
  return JSON.stringify(cols.map((c) => row[c]));
}

function sameRow(a, b) {
  return rowText(a) === rowText(b);
}

export class ViewModel {
  constructor(key) {
    this.key = key && key.length ? key : null;
    this.rows = new Map(); // key text -> {row, n, born, changedAt, changed:Set|null}
    this.count = 0;
    this.log = []; // ring of {t, kind, row, seq}
    this.logStart = 0;
    this.logDropped = 0; // entries the log's own bound (LOG_LIMIT) pushed out
    this.held = null; // what the hub held when the log started earlier than now (a `history` frame's `held`)
    this.changes = 0;
    this.snapshots = 0;
    this.lastChange = null;
    this.cursor = null;
    this.version = 0; // bumps on every mutation, for the renderer
    this.buckets = new Array(RATE_SECONDS).fill(0);
    this.bucketAt = Math.floor(Date.now() / 1000);
  }

  setKey(key) {
    this.key = key && key.length ? key : null;
    const rows = [];
    for (const e of this.rows.values()) for (let i = 0; i < e.n; i++) rows.push(e.row);
    this._load(rows, false);
  }

  _load(rows, flash) {
    this.rows.clear();
    this.count = 0;
    const now = Date.now();
    for (const row of rows) this._insert(row, flash ? now : 0);
    this.version++;
  }

  snapshot(rows, cursor) {
    this.snapshots++;
    this.cursor = cursor;
    this._load(rows, false);
  }

  // changes: [{insert|delete: row}], steps: [{seq, n, t}] (their boundaries, in order).
  apply(changes, steps, cursor) {
    const now = Date.now();
    let at = 0;
    const marks = steps && steps.length ? steps : [{ seq: cursor && cursor.seq, n: changes.length, t: now }];
    for (const step of marks) {
      this._step(changes.slice(at, at + step.n), step, now);
      at += step.n;
    }
    if (at < changes.length) this._step(changes.slice(at), { seq: cursor && cursor.seq, t: now }, now);
    this.cursor = cursor;
    this.changes += changes.length;
    if (changes.length) this.lastChange = now;
    this._rate(changes.length);
    this.version++;
  }

  _step(changes, step, now) {
    const dels = new Map();
    const ins = new Map();
    for (const ch of changes) {
      const kind = ch.delete !== undefined ? "delete" : "insert";
      const row = ch[kind];
      const k = keyText(row, this.key);
      const m = kind === "delete" ? dels : ins;
      if (!m.has(k)) m.set(k, []);
      m.get(k).push(row);
      this._log({ t: step.t || now, kind, row, seq: step.seq });
    }
    for (const [k, gone] of dels) {
      const added = ins.get(k) || [];
      const pairs = Math.min(gone.length, added.length);
      for (let i = 0; i < pairs; i++) this._update(k, gone[i], added[i], now);
      for (let i = pairs; i < gone.length; i++) this._delete(k, gone[i]);
      ins.set(k, added.slice(pairs));
    }
    for (const added of ins.values()) for (const row of added) this._insert(row, now);
  }

  // Find the entry holding `row` under key text `k` (a non-unique key keeps duplicates apart by row).
  _find(k, row) {
    const e = this.rows.get(k);
    if (e && (!this.key || sameRow(e.row, row))) return k;
    const alt = k + "\u0000" + rowText(row);
    if (this.rows.has(alt)) return alt;
    return e ? k : null;
  }

  _insert(row, now) {
    let k = keyText(row, this.key);
    const e = this.rows.get(k);
    if (e) {
      if (!this.key) {
        e.n++;
        this.count++;
        e.changedAt = now;
        return;
      }
      k = k + "\u0000" + rowText(row);
      const dup = this.rows.get(k);
      if (dup) {
        dup.n++;
        this.count++;
        return;
      }
    }
    this.rows.set(k, { row, n: 1, born: now, changedAt: 0, changed: null });
    this.count++;
  }

  _delete(k, row) {
    const at = this._find(k, row);
    if (at === null) return;
    const e = this.rows.get(at);
    e.n--;
    this.count--;
    if (e.n <= 0) this.rows.delete(at);
  }

  _update(k, before, after, now) {
    const at = this._find(k, before);
    if (at === null) {
      this._insert(after, now);
      return;
    }
    const e = this.rows.get(at);
    if (e.n > 1) {
      e.n--;
      this.count--;
      this._insert(after, now);
      return;
    }
    const changed = new Set();
    for (const c of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (JSON.stringify(before[c]) !== JSON.stringify(after[c])) changed.add(c);
    }
    e.row = after;
    e.changed = changed;
    e.changedAt = now;
  }

  // The steps a change log asked to start from (a `history` frame). They fill the log only: the snapshot
  // before them already holds their effect. They replace the log, so a reload shows the same lines.
  history(changes, steps, held) {
    this.log = [];
    this.logStart = 0;
    this.logDropped = 0;
    let at = 0;
    for (const step of steps) {
      for (const ch of changes.slice(at, at + step.n)) {
        const kind = ch.delete !== undefined ? "delete" : "insert";
        this._log({ t: step.t, kind, row: ch[kind], seq: step.seq });
      }
      at += step.n;
    }
    this.held = held;
    this.version++;
  }

  // A line in the change log that is not a change (e.g. "the pipeline restarted upstream").
  mark(text) {
    this._log({ t: Date.now(), kind: "marker", row: {}, seq: null, text });
    this.version++;
  }

  _log(entry) {
    if (this.log.length < LOG_LIMIT) this.log.push(entry);
    else {
      this.log[this.logStart] = entry;
      this.logStart = (this.logStart + 1) % LOG_LIMIT;
      this.logDropped++;
    }
  }

  // The change log, newest first.
  logEntries() {
    const out = [];
    const n = this.log.length;
    for (let i = 0; i < n; i++) out.push(this.log[(this.logStart + n - 1 - i) % n]);
    return out;
  }

  _rate(n) {
    const now = Math.floor(Date.now() / 1000);
    this._roll(now);
    this.buckets[this.buckets.length - 1] += n;
  }

  _roll(now) {
    const shift = Math.min(RATE_SECONDS, now - this.bucketAt);
    for (let i = 0; i < shift; i++) {
      this.buckets.shift();
      this.buckets.push(0);
    }
    this.bucketAt = Math.max(this.bucketAt, now);
  }

  // Changes per second over the last minute (oldest first), the current second excluded.
  rates() {
    this._roll(Math.floor(Date.now() / 1000));
    return this.buckets.slice(0, -1);
  }
}
