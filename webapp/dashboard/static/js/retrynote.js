// The "retrying" end of an outage note, true at every moment: "retrying in N s" counts down second by
// second to the next attempt, then "trying again…" stands while that attempt is in flight (a hung pipeline
// server holds it for up to STATUS_TIMEOUT seconds before the dashboard answers 502).

export class RetryNote {
  constructor(node) {
    this.node = node;
    this.text = null;  // what is wrong, while a note is up
    this.timer = null;
  }

  // Says `text; retrying in N s` from `seconds` down to 1, then starts the next attempt with `attempt`.
  countDown(text, seconds, attempt) {
    clearTimeout(this.timer);
    this.text = text;
    const due = Date.now() + seconds * 1000;
    const tick = () => {
      const left = Math.ceil((due - Date.now()) / 1000);
      if (left <= 0) {
        attempt();
        return;
      }
      this.node.textContent = `${text}; retrying in ${left} s`;
      this.timer = setTimeout(tick, due - Date.now() - (left - 1) * 1000);  // when the count goes down
    };
    tick();
  }

  // A note is up already, saying `text` (a page served during an outage): the next attempt says it is trying.
  noteUp(text) {
    this.text = text;
  }

  // An attempt starts (at the end of the count, or early after a button): no count; say so if a note is up.
  trying() {
    clearTimeout(this.timer);
    if (this.text !== null) this.node.textContent = `${this.text}; trying again…`;
  }

  // The server answered, or retrying has stopped (the caller says why): no count, nothing to try again.
  clear() {
    clearTimeout(this.timer);
    this.text = null;
  }
}
