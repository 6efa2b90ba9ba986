// The editable grid of the data-entry page: one row of typed inputs per row to send, a NULL box for
// nullable columns (ticked until a value is typed), and each field's error right under it. Values are read as the text typed (the
// server turns text into typed values with the same rules); rules.js checks them before sending.

import { el } from "./dom.js";
import { fieldError, randomText } from "./rules.js";

function widget(rule, label) {
  const attrs = { name: rule.name, "aria-label": label, class: "entry-input", dataset: { kind: rule.kind } };
  if (rule.input === "boolean") {
    return el("select", attrs, el("option", { value: "" }, "–"), el("option", { value: "true" }, "true"),
      el("option", { value: "false" }, "false"));
  }
  const hint = rule.example || { integer: "123", decimal: "12.34", float: "1.5", array: "[1, 2]", json: "JSON" }[rule.kind];
  return el("input", { ...attrs, type: "text", autocomplete: "off", spellcheck: "false", placeholder: hint || "",
    inputmode: rule.input === "numeric" ? "numeric" : rule.input === "decimal" ? "decimal" : null });
}

export class EntryGrid {
  // rules: the validator's rules (one per column, in column order)
  constructor(head, body, rules) {
    this.head = head;
    this.body = body;
    this.rules = rules;
    this.rows = [];
    this.head.replaceChildren(el("tr", {}, el("th", { class: "meta" }, "#"),
      ...rules.map((r) => el("th", { dataset: { field: r.name } }, el("code", {}, r.name),
        r.key ? el("span", { class: "keymark" }, "key") : null, el("div", { class: "muted small" }, r.label))),
      el("th", { class: "meta" }, "")));
    this.addRow();
  }

  addRow() {
    const n = this.rows.length + 1;
    const row = { fields: {}, tr: null, note: el("div", { class: "field-error row-error", hidden: true }) };
    const cells = this.rules.map((rule) => {
      const input = widget(rule, `${rule.name}, row ${n}`);
      const error = el("div", { class: "field-error", hidden: true, dataset: { field: rule.name } });
      const f = { rule, input, error, nullBox: null };
      let nullLabel = null;
      if (rule.nullable) {
        // A nullable field starts as NULL; typing a value unticks it, ticking it clears the value.
        f.nullBox = el("input", { type: "checkbox", class: "null-box", checked: true,
          "aria-label": `${rule.name} is NULL, row ${n}` });
        f.nullBox.addEventListener("change", () => {
          if (f.nullBox.checked) input.value = "";
          this.checkField(f);
        });
        nullLabel = el("label", { class: "null-toggle small muted", title: "NULL: no value" }, f.nullBox, "NULL");
      }
      const typed = () => { if (f.nullBox && input.value !== "") f.nullBox.checked = false; };
      input.addEventListener("change", () => { typed(); this.checkField(f); });
      input.addEventListener("input", () => { typed(); if (!f.error.hidden) this.checkField(f); });
      row.fields[rule.name] = f;
      return el("td", { dataset: { field: rule.name } }, el("div", { class: "entry-cell" }, input, nullLabel), error);
    });
    const remove = el("button", { type: "button", class: "close", title: "remove this row", "aria-label": `remove row ${n}`,
      onclick: () => this.removeRow(row) }, "×");
    row.tr = el("tr", { class: "entry-row" }, el("td", { class: "meta muted" }, String(n)), ...cells,
      el("td", { class: "meta" }, remove, row.note));
    this.rows.push(row);
    this.body.append(row.tr);
    return row;
  }

  removeRow(row) {
    row.tr.remove();
    this.rows.splice(this.rows.indexOf(row), 1);
    if (!this.rows.length) this.addRow();
    this.rows.forEach((r, i) => { r.tr.firstChild.textContent = String(i + 1); });
  }

  clear() {
    for (const r of [...this.rows]) r.tr.remove();
    this.rows = [];
    this.addRow();
  }

  // The text of a field, or null when its NULL box is ticked.
  static value(f) {
    return f.nullBox && f.nullBox.checked ? null : f.input.value;
  }

  static blank(row) {
    return Object.values(row.fields).every((f) => f.input.value === "");
  }

  setError(f, message) {
    f.error.textContent = message || "";
    f.error.hidden = !message;
    f.input.classList.toggle("invalid", !!message);
    f.input.setAttribute("aria-invalid", message ? "true" : "false");
  }

  checkField(f, keyOnly = false) {
    const skip = keyOnly && !f.rule.key;
    const message = skip ? null : fieldError(f.rule, EntryGrid.value(f));
    this.setError(f, message);
    return !message;
  }

  clearErrors() {
    for (const row of this.rows) {
      for (const f of Object.values(row.fields)) this.setError(f, null);
      row.note.hidden = true;
      row.tr.classList.remove("has-error");
    }
  }

  // The rows to send (blank rows skipped) as {index, values}; null when a field is wrong (errors shown).
  // keyOnly: a delete on a table with a primary key needs, and sends, only the key columns.
  collect(keyOnly = false) {
    this.clearErrors();
    const out = [];
    let ok = true;
    this.rows.forEach((row, index) => {
      if (EntryGrid.blank(row) && this.rows.length > 1) return;
      const values = {};
      let rowOk = true;
      for (const f of Object.values(row.fields)) {
        if (keyOnly && !f.rule.key) continue;
        if (!this.checkField(f, keyOnly)) rowOk = false;
        values[f.rule.name] = EntryGrid.value(f);
      }
      row.tr.classList.toggle("has-error", !rowOk);
      ok = ok && rowOk;
      out.push({ index, values });
    });
    return ok ? out : null;
  }

  // Errors from the server ({row, field, message}; row: the grid row) shown at their field.
  showErrors(errors) {
    for (const e of errors) {
      const row = this.rows[e.row];
      if (!row) continue;
      row.tr.classList.add("has-error");
      const f = e.field !== null && e.field !== undefined ? row.fields[e.field] : null;
      if (f) this.setError(f, e.message);
      else {
        row.note.textContent = e.field ? `${e.field}: ${e.message}` : e.message;
        row.note.hidden = false;
      }
    }
  }

  // Random values of the right type in every row (a blank grid of one row gets filled too).
  fillRandom() {
    for (const row of this.rows) {
      for (const f of Object.values(row.fields)) {
        const v = randomText(f.rule);
        if (f.nullBox) f.nullBox.checked = v === null;
        f.input.value = v === null ? "" : v;
        this.setError(f, null);
      }
    }
  }
}
