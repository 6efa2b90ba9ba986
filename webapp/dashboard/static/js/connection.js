// One live connection per tab: a WebSocket to /ws carrying every subscription (or, where WebSockets are
// blocked, one NDJSON request to /stream per subscription). It reconnects with backoff and resubscribes
// with each subscription's last cursor as `since`, so the server sends exactly the steps that were
// missed, or a snapshot. Messages: docs/websocket.md.
//
// Events (on the connection): "state" {detail: "connecting"|"live"|"reconnecting"|"signed out"}. Signed out
// (the sign-in ended: retrying cannot help) is final: no more reconnects.
// Each subscription's `onFrame(frame)` gets its snapshot / changes / status / resumed / error frames.

import { getJSON, streamLines } from "./api.js";
import { showSignedOut, signedOut } from "./signedout.js";

const MAX_DELAY = 5000;

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

export class LiveConnection extends EventTarget {
  constructor({ transport = "auto" } = {}) {
    super();
    this.transport = transport === "ndjson" ? "ndjson" : "ws";
    this.auto = transport === "auto";
    this.subs = new Map();
    this.state = "connecting";
    this.ws = null;
    this.attempt = 0;
    this.everOpened = false;
    this.nextId = 1;
    this.timer = null;
    this.reconnects = 0;
    if (this.transport === "ws") this._openWs();
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  // spec: {pipeline, view, filter, columns, logFrom, onFrame}; returns the subscription (its `cursor` updates).
  subscribe(spec) {
    const sub = { id: `s${this.nextId++}`, cursor: null, ...spec };
    this.subs.set(sub.id, sub);
    if (this.transport === "ws") this._sendSubscribe(sub);
    else this._openStream(sub);
    return sub;
  }

  // Subscribe again with new options (filter, columns); `keepCursor` resumes instead of re-snapshotting.
  resubscribe(sub, changes = {}, keepCursor = false) {
    Object.assign(sub, changes);
    if (!keepCursor) sub.cursor = null;
    if (this.transport === "ws") this._sendSubscribe(sub);
    else {
      this._closeStream(sub);
      this._openStream(sub);
    }
  }

  unsubscribe(sub) {
    this.subs.delete(sub.id);
    if (this.transport === "ws") this._send({ op: "unsubscribe", id: sub.id });
    else this._closeStream(sub);
  }

  _message(sub) {
    return { op: "subscribe", id: sub.id, pipeline: sub.pipeline, view: sub.view, since: sub.cursor,
      filter: sub.filter && sub.filter.length ? sub.filter : null, columns: sub.columns || null,
      log_from: sub.logFrom || null };
  }

  _sendSubscribe(sub) {
    this._send(this._message(sub));
  }

  _send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  _frame(frame) {
    if (frame.op === "ping" || frame.op === "pong") return;
    const sub = this.subs.get(frame.id);
    if (!sub) return;
    if (frame.cursor && (frame.op === "snapshot" || frame.op === "changes" || frame.op === "resumed")) {
      sub.cursor = frame.cursor;
    }
    sub.onFrame(frame);
  }

  // -- WebSocket ---------------------------------------------------------------------------------
  _openWs() {
    const ws = new WebSocket(wsUrl());
    this.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      this.attempt = 0;
      this.everOpened = true;
      this._setState("live");
      for (const sub of this.subs.values()) this._sendSubscribe(sub);
    });
    ws.addEventListener("message", (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      this._frame(frame);
    });
    ws.addEventListener("close", async (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // 1008: the server ended it for the sign-in; a refused handshake (401) shows the browser no status
      if ((ev.code === 1008 || !opened) && (await this._endedSignIn())) return;
      if (this.auto && !this.everOpened && this.attempt >= 2) {
        this._fallBack();
        return;
      }
      this._retry(() => this._openWs());
    });
  }

  // Whether the dashboard says this page's sign-in has ended; if so the connection stops for good.
  async _endedSignIn(e = null) {
    if (!e) {
      try {
        await getJSON("/api/session");
        return false;
      } catch (err) {
        e = err;
      }
    }
    if (!signedOut(e)) return false;
    clearTimeout(this.timer);
    this.ended = true;
    this._setState("signed out");
    showSignedOut();
    return true;
  }

  _retry(fn) {
    this._setState(this.everOpened ? "reconnecting" : "connecting");
    const delay = Math.min(MAX_DELAY, 250 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt++;
    this.reconnects++;
    clearTimeout(this.timer);
    this.timer = setTimeout(fn, delay);
  }

  _fallBack() {
    this.transport = "ndjson";
    for (const sub of this.subs.values()) this._openStream(sub);
  }

  // -- NDJSON fallback ---------------------------------------------------------------------------
  _streamUrl(sub) {
    const q = new URLSearchParams({ pipeline: sub.pipeline, view: sub.view, id: sub.id });
    if (sub.cursor) q.set("since", `${sub.cursor.epoch}:${sub.cursor.seq}`);
    if (sub.filter && sub.filter.length) q.set("filter", JSON.stringify(sub.filter));
    if (sub.columns && sub.columns.length) q.set("columns", sub.columns.join(","));
    if (sub.logFrom) q.set("log_from", JSON.stringify(sub.logFrom));
    return `/stream?${q}`;
  }

  _openStream(sub) {
    const ctl = new AbortController();
    sub.abort = ctl;
    sub.streamAttempt = sub.streamAttempt || 0;
    let opened = false;
    const onLine = (line) => {
      if (!opened) {
        opened = true;
        sub.streamAttempt = 0;
        sub.streamLive = true;
        this.everOpened = true;
        this._streamState();
      }
      let frame;
      try {
        frame = JSON.parse(line);
      } catch (_) {
        return;
      }
      this._frame(frame);
    };
    streamLines(this._streamUrl(sub), onLine, ctl.signal)
      .then(() => null, (e) => e)
      .then(async (e) => {
        if (ctl.signal.aborted || !this.subs.has(sub.id) || this.ended) return;
        if (await this._endedSignIn(e || { status: 0 })) return;
        sub.streamLive = false;
        this._streamState();
        const delay = Math.min(MAX_DELAY, 250 * 2 ** sub.streamAttempt) * (0.75 + Math.random() / 2);
        sub.streamAttempt++;
        this.reconnects++;
        setTimeout(() => {
          if (this.subs.has(sub.id) && sub.abort === ctl) this._openStream(sub);
        }, delay);
      });
  }

  _closeStream(sub) {
    if (sub.abort) sub.abort.abort();
    sub.abort = null;
  }

  _streamState() {
    if (this.ended) return;
    const subs = [...this.subs.values()];
    const live = subs.every((s) => s.streamLive);
    this._setState(live ? "live" : this.everOpened ? "reconnecting" : "connecting");
  }
}
