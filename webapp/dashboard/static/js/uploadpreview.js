// The upload's preview: the first records of a file, parsed here and checked against the table before
// anything is sent. Unknown and missing columns are flagged, CSV columns are mapped to table columns
// (the user can change the mapping), and each value is checked with the validator's rules (rules.js).
// No DOM writes but through `el` (text only); upload.js owns the page.

import { el } from "./dom.js";
import { firstElements, parseCsv } from "./filecut.js";
import { fieldError } from "./rules.js";

export const PREVIEW_BYTES = 64 << 10;
export const PREVIEW_ROWS = 20;

// The start of a file for the preview: its first 64 KiB, or, for a CSV whose first two records (a header
// and a row) do not end in that, more (doubling) up to `limit` bytes (the part size: a record longer than
// a part is sent as one part anyway). {text, complete: the whole file, cut: the bytes read when that
// limit was reached without a whole first record, else 0}.
export async function previewText(file, limit) {
  let size = PREVIEW_BYTES;
  for (;;) {
    const text = await file.slice(0, size).text();
    const complete = file.size <= size;
    if (complete || sniffFormat(file.name, text) !== "csv" || csvRecords(text, false).length >= 2) {
      return { text, complete, cut: 0 };
    }
    if (size >= limit) return { text, complete, cut: size };
    size = Math.min(size * 2, limit);
  }
}

// What kind of file this is, from its name and first bytes: "csv", "ndjson" or "jsonarray".
export function sniffFormat(name, text) {
  const first = text.replace(/^\uFEFF/, "").trimStart().slice(0, 1);
  if (first === "[") return "jsonarray";
  if (first === "{") return "ndjson";
  return /\.(ndjson|jsonl)$/i.test(name) ? "ndjson" : "csv";
}

const lower = (s) => String(s).toLowerCase();

export function findColumn(rules, name) {
  let i = rules.findIndex((r) => r.name === name);
  if (i < 0) i = rules.findIndex((r) => lower(r.name) === lower(name));
  return i;
}

// The first records of a CSV text: a record cut off by the end of the preview window is left out.
function csvRecords(text, complete) {
  const recs = parseCsv(text, PREVIEW_ROWS + 2).filter((r) => !r.blank);
  if (!complete && recs.length > 1 && !recs[recs.length - 1].newline) recs.pop();
  return recs;
}

// Does the first record look like a header? Yes when one of its fields names a table column.
export function guessHeader(text, rules) {
  const first = csvRecords(text, true)[0];
  return !!first && first.fields.some((f) => findColumn(rules, f.value.trim()) >= 0);
}

// File column i -> table column index (or -1): by name with a header, else by position.
export function defaultMapping(names, rules, header) {
  return names.map((n, i) => (header ? findColumn(rules, n.trim()) : i < rules.length ? i : -1));
}

// {names: file column names, rows: [[{value, quoted}]]} of a CSV preview.
export function csvPreview(text, header, complete) {
  const recs = csvRecords(text, complete);
  const head = header && recs.length ? recs.shift() : null;
  const width = Math.max(head ? head.fields.length : 0, ...recs.map((r) => r.fields.length), 0);
  const names = [];
  for (let i = 0; i < width; i++) names.push(head && head.fields[i] ? head.fields[i].value : `column ${i + 1}`);
  return { names, rows: recs.slice(0, PREVIEW_ROWS), bad: recs.map((r) => r.bad) };
}

// Notes on a mapping: [{level: "bad"|"warn", text}]; any "bad" one stops the upload.
export function mappingNotes(names, mapping, rules) {
  const notes = [];
  const used = new Map();
  mapping.forEach((t, i) => {
    if (t < 0) notes.push({ level: "warn", text: `file column "${names[i]}" matches no column of the table: it is skipped (choose one for it)` });
    else if (used.has(t)) notes.push({ level: "bad", text: `file columns "${names[used.get(t)]}" and "${names[i]}" both go to ${rules[t].name}: choose one` });
    else used.set(t, i);
  });
  rules.forEach((r, t) => {
    if (used.has(t)) return;
    if (!r.nullable) notes.push({ level: "bad", text: `no file column goes to ${r.name}, which is NOT NULL: every row would fail; map a column to it` });
    else notes.push({ level: "warn", text: `no file column goes to ${r.name}: it will be NULL` });
  });
  return notes;
}

export function isIdentity(mapping, width) {
  return mapping.length <= width && mapping.every((t, i) => t === i);
}

function csvValue(f) {
  return !f || (!f.quoted && (f.value === "" || f.value === "NULL" || f.value === "null")) ? null : f.value;
}

// The preview table of a CSV in table order, each value checked against its column's rule.
export function csvTable(preview, mapping, rules) {
  const rows = preview.rows.map((rec, k) => {
    if (preview.bad[k]) return { problem: "a quote in the wrong place: this row will fail", cells: [] };
    const cells = rules.map((r) => ({ value: null, error: null }));
    rec.fields.forEach((f, i) => {
      const t = mapping[i];
      if (t !== undefined && t >= 0) cells[t] = { value: csvValue(f), error: null };
    });
    cells.forEach((c, t) => { c.error = fieldError(rules[t], c.value); });
    const extra = rec.fields.length > mapping.length ? `${rec.fields.length} fields, the header has ${mapping.length}` : null;
    return { problem: extra, cells };
  });
  return rows;
}

// The first values of an NDJSON text, or of a JSON array's first window: [{value} | {problem}].
export async function jsonValues(format, blob, text, complete) {
  if (format === "ndjson") {
    const lines = text.split("\n");
    if (!complete) lines.pop(); // maybe cut by the window
    return lines.filter((l) => l.trim()).slice(0, PREVIEW_ROWS).map((l) => {
      try {
        return { value: JSON.parse(l) };
      } catch (e) {
        return { problem: `not valid JSON (${e.message}); NDJSON holds one value per line` };
      }
    });
  }
  const els = await firstElements(blob, PREVIEW_ROWS);
  return els.map((t) => {
    try {
      return { value: JSON.parse(t) };
    } catch (e) {
      return { problem: `not valid JSON (${e.message})` };
    }
  });
}

export function guessUpdateFormat(values) {
  const v = values.find((x) => x.value !== undefined);
  const o = v && v.value;
  const keys = o && typeof o === "object" && !Array.isArray(o) ? Object.keys(o) : [];
  return keys.length && keys.every((k) => k === "insert" || k === "delete") ? "insert_delete" : "raw";
}

// JSON values as table rows in column order, with unknown and missing columns noted.
export function jsonTable(values, rules, updateFormat) {
  const unknown = new Set();
  const rows = values.map((v) => {
    if (v.problem) return { problem: v.problem, cells: [] };
    let row = v.value, op = "insert";
    if (updateFormat === "insert_delete") {
      if (!row || typeof row !== "object" || !("insert" in row || "delete" in row)) {
        return { problem: 'expected {"insert": row} or {"delete": row}', cells: [] };
      }
      const extra = Object.keys(row).filter((k) => k !== "insert" && k !== "delete");
      if (extra.length) return { problem: `unexpected key(s) ${extra.join(", ")} beside insert/delete`, cells: [] };
      op = "insert" in row ? "insert" : "delete";
      row = row[op];
    }
    const cells = rules.map(() => ({ value: null, error: null }));
    const strange = []; // columns the table does not have: the engine refuses the whole row, as here
    if (Array.isArray(row)) row.forEach((x, i) => { if (i < cells.length) cells[i].value = x; });
    else if (row && typeof row === "object") {
      for (const [k, x] of Object.entries(row)) {
        const t = findColumn(rules, k);
        if (t < 0) strange.push(k);
        else cells[t].value = x;
      }
    } else return { problem: "expected a row (a JSON object)", cells: [] };
    strange.forEach((k) => unknown.add(k));
    cells.forEach((c, t) => {
      // a delete on a keyed table needs only the key
      if (op === "delete" && rules.some((r) => r.key) && !rules[t].key) return;
      c.error = fieldError(rules[t], c.value);
    });
    const extra = Array.isArray(row) && row.length > rules.length ? `${row.length} values for ${rules.length} columns`
      : strange.length ? `unknown column${strange.length > 1 ? "s" : ""} ${strange.map((k) => `"${k}"`).join(", ")}` : null;
    return { op, problem: extra, cells };
  });
  const notes = [...unknown].map((k) => ({ level: "warn", text: `unknown column "${k}": rows holding it will fail (marked, and listed after the upload)` }));
  return { rows, notes };
}

// The preview as a table element: header = table columns, bad cells marked with their message; the
// first column is the file row (`firstRow`: that of the first record shown).
export function previewElement(rules, rows, showOp, firstRow = 1) {
  const head = el("tr", {}, el("th", { text: "row", title: "row in the file" }), showOp ? el("th", { text: "op" }) : null,
    ...rules.map((r) => el("th", { text: r.name, title: r.label || r.type || "" })));
  const body = rows.map((r, k) => {
    const cells = r.cells.length ? r.cells.map((c) => el("td", {
      class: c.error ? "bad" : c.value === null ? "null" : null, title: c.error || null,
      text: c.value === null ? "∅" : typeof c.value === "string" ? c.value : JSON.stringify(c.value),
    })) : [el("td", { colspan: rules.length, class: "bad", text: r.problem })];
    const tr = el("tr", { class: r.problem || r.cells.some((c) => c.error) ? "bad-row" : null },
      el("td", { class: "muted", text: String(k + firstRow) }), showOp ? el("td", { text: r.op || "" }) : null, ...cells);
    if (r.problem && r.cells.length) tr.title = r.problem;
    return tr;
  });
  return el("table", { class: "upload-preview-table" }, el("thead", {}, head), el("tbody", {}, ...body));
}
