// File upload into a table (templates/_upload.html): choose a file, check its first rows (preview and
// column mapping), then send it in parts cut at record boundaries, with a progress bar, the refused
// rows listed by file row, and the final count once the engine has processed everything.
// The file is read a window at a time (filecut.js); each part goes out with XMLHttpRequest (api.js).

import { ApiError, getJSON, uploadPart } from "./api.js";
import { el, fmtBytes, fmtNumber } from "./dom.js";
import { cutFile, elementsAsNdjson, remapCsv } from "./filecut.js";
import { lateText } from "./late.js";
import {
  csvPreview, csvTable, defaultMapping, guessHeader, guessUpdateFormat, isIdentity, jsonTable,
  jsonValues, mappingNotes, previewElement, previewText, sniffFormat,
} from "./uploadpreview.js";

const MAX_LISTED = 1000; // refused rows listed on the page (all are counted)

// How many of an upload's kept rows replaced a row with the same key, from the table's tally (row count,
// records received) before and after: exact only if nothing else wrote to the table meanwhile, which
// the records received tell. Returns {added, replaced}, or a string saying why it cannot be known. Rows
// that only insert grow the table by 0 to `kept` rows: a figure outside that range means another writer's
// rows are in the difference, so no figure is shown rather than a wrong (even negative) one.
// `late`: how many of the kept records the table's LATENESS dropped (received, never stored).
const OTHER_WRITES = "other writes reached the table during the upload";
export function replacedCount(before, after, kept, late = 0) {
  if (!before || !after) return "the table could not be asked";
  if ([before.rows, after.rows, before.records, after.records].some((v) => v === null || v === undefined)) {
    return after.why || before.why || "the table could not be counted";
  }
  if (after.records - before.records !== kept) return OTHER_WRITES;
  const stored = kept - late;
  const replaced = stored - (after.rows - before.rows);
  if (replaced < 0 || replaced > stored) return OTHER_WRITES;
  return { added: stored - replaced, replaced };
}

// How many of the upload's kept records the table's LATENESS dropped, from the table's late count
// (tally.late) before and after; null where the server does not count them. `others`: other writes
// reached the table meanwhile (the records received tell), so some of the dropped may be theirs.
export function lateCount(before, after, kept) {
  if (!before || !after || typeof before.late !== "number" || typeof after.late !== "number") return null;
  const n = Math.max(0, Math.min(after.late - before.late, kept));
  const known = typeof before.records === "number" && typeof after.records === "number";
  return { n, others: !known || after.records - before.records !== kept };
}
// A part is sent again, with the same Idempotency-Key (the engine stores a key's body once, across restarts),
// when the answer stored nothing (429, 503) or may not have come (the connection failed, 502: the pipeline
// server restarting, say), for UPLOAD_RETRY_SECONDS (data-retry-seconds) at most, 1, 2, 4, then every 8 s.
function retryable(e) {
  if (!(e instanceof ApiError) || e.code === "Cancelled" || e.code === "PipelinePaused") return null;
  if (e.status === 429 || e.status === 503) return "busy";
  if (e.status === 0 || e.status === 502 || e.status === 504) return "gone";
  return null;
}

function setup(root) {
  const q = (name) => root.querySelector(`[data-upload-${name}]`);
  const ui = {
    file: q("file"), format: q("format"), header: q("header"), update: q("update"), force: q("force"),
    preview: q("preview"), mapping: q("mapping"), notes: q("notes"), table: q("table"), start: q("start"),
    cancel: q("cancel"), progress: q("progress"), percent: q("percent"), count: q("count"), errors: q("errors"),
  };
  const pipeline = root.dataset.pipeline, table = root.dataset.table;
  const columns = JSON.parse(root.dataset.columns || "[]");
  const lateness = JSON.parse(root.dataset.lateness || "[]"); // the table's LATENESS columns
  let rules = JSON.parse(root.dataset.rules || "[]");
  if (!rules.length) { // no validator rules on this page: names and NOT NULL only
    rules = columns.map((c) => ({ name: c.name, kind: "json", type: c.type, label: c.type,
      nullable: !/NOT NULL/i.test(c.type || "") }));
  }
  const base = `/api/pipelines/${encodeURIComponent(pipeline)}/tables/${encodeURIComponent(table)}/upload`;
  // sent: some of this file went out; Upload stays off until another file is chosen (no duplicates by a
  // second click into a table without a key).
  const partBytes = () => Number(root.dataset.partBytes) || 8 << 20;
  // cut: the preview read up to the part size without finding a whole first record
  const st = { file: null, head: "", complete: false, cut: 0, mapping: [], names: [], ok: false, busy: false, abort: null,
    sent: false };

  function showFor(format) {
    for (const n of root.querySelectorAll("[data-upload-csv-only]")) n.hidden = format !== "csv";
    for (const n of root.querySelectorAll("[data-upload-json-only]")) n.hidden = format === "csv";
  }

  function mappingRow() {
    const selects = st.names.map((name, i) => {
      const s = el("select", { "aria-label": `table column for file column ${name}`, dataset: { fileColumn: String(i) } },
        el("option", { value: "-1", text: "(skip)" }), ...rules.map((r, t) => el("option", { value: String(t), text: r.name })));
      s.value = String(st.mapping[i]);
      s.addEventListener("change", () => {
        st.mapping[i] = Number(s.value);
        render();
      });
      return el("label", { class: "small" }, el("span", { class: "muted", text: `${name} →` }), s);
    });
    return [el("span", { class: "small muted", text: "File columns go to:" }), ...selects];
  }

  // Redraws the preview, notes and mapping from the state; decides whether the upload may start.
  async function render() {
    const format = ui.format.value;
    showFor(format);
    let rows, notes;
    if (format === "csv") {
      const p = csvPreview(st.head, ui.header.checked, st.complete);
      if (p.names.length !== st.names.length || p.names.some((n, i) => n !== st.names[i])) {
        st.names = p.names;
        st.mapping = defaultMapping(p.names, rules, ui.header.checked);
      }
      ui.mapping.replaceChildren(...mappingRow());
      ui.mapping.hidden = false;
      notes = mappingNotes(st.names, st.mapping, rules);
      rows = csvTable(p, st.mapping, rules);
    } else {
      ui.mapping.hidden = true;
      const values = await jsonValues(format, st.file, st.head, st.complete);
      const t = jsonTable(values, rules, ui.update.value);
      rows = t.rows;
      notes = t.notes;
    }
    const badRows = rows.filter((r) => r.problem || r.cells.some((c) => c.error)).length;
    if (badRows) notes.push({ level: "warn", text: `${badRows} of the first ${rows.length} rows would fail (marked; hover for why): they will be listed, the others kept` });
    if (!rows.length && st.cut) {
      notes.push({ level: "warn", text: `the first record is longer than the ${fmtBytes(st.cut)} ` +
        "the preview reads: it is not shown here, and is sent whole (the engine checks it)" });
    } else if (!rows.length) notes.push({ level: "bad", text: "no records found at the start of the file" });
    ui.notes.replaceChildren(...notes.map((n) => el("li", { class: `flag ${n.level}`, text: n.text })));
    ui.table.replaceChildren(previewElement(rules, rows, format !== "csv" && ui.update.value === "insert_delete",
      format === "csv" && ui.header.checked ? 2 : 1));
    ui.preview.hidden = false;
    st.ok = !notes.some((n) => n.level === "bad");
    ui.start.disabled = !st.ok || st.busy || st.sent;
  }

  async function chooseFile() {
    const file = ui.file.files && ui.file.files[0];
    reset();
    st.sent = false;
    if (!file) return;
    st.file = file;
    ({ text: st.head, complete: st.complete, cut: st.cut } = await previewText(file, partBytes()));
    ui.format.value = sniffFormat(file.name, st.head);
    ui.header.checked = guessHeader(st.head, rules);
    st.names = [];
    if (ui.format.value !== "csv") ui.update.value = guessUpdateFormat(await jsonValues(ui.format.value, file, st.head, st.complete));
    ui.count.textContent = `${file.name}: ${fmtBytes(file.size)}`;
    await render();
  }

  function reset() {
    ui.errors.replaceChildren();
    ui.errors.hidden = true;
    ui.progress.hidden = true;
    ui.progress.value = 0;
    ui.percent.textContent = "";
    ui.count.textContent = "";
    delete root.dataset.state;
    delete root.dataset.late;
    delete root.dataset.retries;
    ui.count.title = "";
  }

  // While a file goes out, its choices (file, format, mapping, ...) stay as they were when it started.
  function lock(on) {
    for (const c of [ui.file, ui.format, ui.header, ui.update, ui.force, ...ui.mapping.querySelectorAll("select")]) {
      c.disabled = on;
    }
  }

  function setProgress(done) {
    const pct = st.file.size ? Math.min(100, (100 * done) / st.file.size) : 100;
    ui.progress.value = pct;
    ui.percent.textContent = `${Math.floor(pct)} %`;
  }

  function listErrors(errors, part) {
    for (const e of errors) {
      if (ui.errors.children.length >= MAX_LISTED) return;
      let line = e.line;
      const el0 = part.elements && part.elements[e.row - part.firstRow];
      if ((line === null || line === undefined) && el0) line = el0[2];
      const where = `row ${e.row}` + (line !== null && line !== undefined && line !== e.row ? ` (line ${line})` : "");
      ui.errors.append(el("li", { dataset: { row: String(e.row) } },
        el("strong", { text: where }), `: ${e.description || "refused"}`,
        e.suggestion ? el("span", { class: "muted", text: ` (${e.suggestion})` }) : null,
        e.invalid_text ? el("code", { text: ` ${e.invalid_text}` }) : null));
    }
    ui.errors.hidden = !ui.errors.children.length;
  }

  async function body(part, format, identity) {
    if (format === "jsonarray") return elementsAsNdjson(st.file, part);
    const slice = st.file.slice(part.start, part.end);
    if (format !== "csv" || identity) return slice;
    return new Blob([remapCsv(await slice.text(), st.mapping, rules.length)]);
  }

  async function send(part, blob, params) {
    const url = `${base}?${new URLSearchParams(params)}`;
    const headers = { "Idempotency-Key": `${st.uploadId}-${part.index}` };
    const deadline = Date.now() + (Number(root.dataset.retrySeconds) || 120) * 1000;
    for (let attempt = 0; ; attempt++) {
      try {
        return await uploadPart(url, blob, {
          contentType: params.format === "csv" ? "text/csv" : "application/x-ndjson", headers,
          abort: (f) => { st.abort = f; },
          onProgress: (sent, total) => setProgress(part.start + (part.end - part.start) * (total ? sent / total : 0)),
        });
      } catch (e) {
        const why = retryable(e); // a paused pipeline's message says what to do: not retried
        if (!why || Date.now() >= deadline || st.cancelled) throw e;
        const wait = Math.min(8, (e.details && e.details.retry_after) || 2 ** attempt);
        root.dataset.retries = String(Number(root.dataset.retries || 0) + 1);
        root.dataset.state = "waiting";
        ui.count.title = e.message; // what failed, in the transport's words
        ui.count.textContent = why === "gone"
          ? `part ${part.index + 1}: waiting for the pipeline server, which did not answer (restarting?); ` +
            `sending the part again in ${wait} s with the same key, so it is stored once`
          : `part ${part.index + 1}: ${e.message}; trying again in ${wait} s`;
        // Cancel during the wait ends it (``st.abort``), and the part is not sent again.
        await new Promise((r) => {
          const timer = setTimeout(r, wait * 1000);
          st.abort = () => { clearTimeout(timer); r(); };
        });
        if (st.cancelled) throw new ApiError(0, { message: "cancelled", error_code: "Cancelled" });
        root.dataset.state = "sending";
      }
    }
  }

  async function waitProcessed(token) {
    for (;;) {
      const s = await getJSON(`${base}/status?token=${encodeURIComponent(token)}`);
      if (String(s.status).toLowerCase() === "complete") return;
      await new Promise((r) => setTimeout(r, 50)); // the server already waited up to a second
    }
  }

  async function start() {
    if (!st.file || !st.ok || st.busy) return;
    const format = ui.format.value, header = format === "csv" && ui.header.checked;
    const identity = format !== "csv" || isIdentity(st.mapping, rules.length);
    st.busy = true;
    st.cancelled = false;
    st.uploadId = crypto.randomUUID();
    reset();
    root.dataset.state = "sending";
    ui.start.disabled = true;
    lock(true);
    ui.cancel.hidden = false;
    ui.progress.hidden = false;
    setProgress(0);
    let records = 0, failed = 0, token = null, parts = 0;
    const t0 = performance.now();
    // A keyed table replaces rows with the same key: count those apart when the upload only inserts.
    const keyed = !!root.querySelector("[data-upload-keyed]");
    const countable = keyed && (format === "csv" || ui.update.value === "raw");
    const tallied = countable || lateness.length > 0; // a LATENESS drops rows: count those too
    const tally = () => getJSON(`${base}/tally`).catch(() => null);
    try {
      const before = tallied ? await tally() : null;
      for await (const part of cutFile(st.file, format, { partBytes: partBytes(), header })) {
        if (st.cancelled) throw new ApiError(0, { message: "cancelled", error_code: "Cancelled" });
        const params = { format: format === "csv" ? "csv" : "json", part: part.index, first_row: part.firstRow };
        if (format !== "jsonarray") params.first_line = part.firstLine;
        if (format !== "csv") params.update_format = ui.update.value;
        if (ui.force.checked) params.force = "true";
        const answer = await send(part, await body(part, format, identity), params);
        records += part.records;
        st.sent = true;
        failed += answer.num_errors || 0;
        token = answer.token || token;
        parts++;
        listErrors(answer.errors || [], part);
        setProgress(part.end);
        ui.count.textContent = `${fmtNumber(records)} records sent in ${parts} part(s)` +
          (failed ? `, ${fmtNumber(failed)} refused` : "");
      }
      setProgress(st.file.size);
      root.dataset.state = "processing";
      ui.count.textContent = `${fmtNumber(records)} records sent; waiting for the pipeline to process them…`;
      if (token) await waitProcessed(token);
      const secs = (performance.now() - t0) / 1000;
      const kept = records - failed;
      const after = tallied ? await tally() : null;
      const late = lateness.length ? lateCount(before, after, kept) : null;
      const dropped = late ? late.n : 0;
      let replaced = "";
      if (countable) {
        const c = replacedCount(before, after, kept, dropped);
        if (typeof c === "string") replaced = ` · rows replaced by key cannot be known: ${c}`;
        else {
          replaced = ` · ${fmtNumber(c.added)} new, ${fmtNumber(c.replaced)} replaced a row with the same key`;
          root.dataset.replaced = String(c.replaced);
        }
      }
      const stored = kept - dropped;
      root.dataset.state = "done";
      root.dataset.stored = String(stored);
      root.dataset.failed = String(failed);
      if (late) root.dataset.late = String(dropped);
      const lateNote = !dropped ? "" : `, ${lateText(dropped, lateness)}` +
        (late.others ? " (other writes reached the table meanwhile: some of these may be theirs)" : "");
      ui.count.textContent = `${fmtNumber(stored)} row${stored === 1 ? "" : "s"} stored` +
        (failed ? `, ${fmtNumber(failed)} refused (listed below by file row)` : "") + lateNote + replaced +
        ` · ${fmtBytes(st.file.size)} in ${secs.toFixed(1)} s`;
      if (failed > ui.errors.children.length) {
        ui.errors.append(el("li", { class: "muted", text: `… and ${fmtNumber(failed - ui.errors.children.length)} more` }));
      }
    } catch (e) {
      root.dataset.state = "failed";
      // the parts whose answer came: their refused rows are listed, the others stay stored
      const sent = !records ? "" : ` The ${fmtNumber(records)} records of the ${fmtNumber(parts)} part(s) before ` +
        `were sent: ${fmtNumber(records - failed)} kept` +
        (failed ? `, ${fmtNumber(failed)} refused (listed below by file row)` : "") + ".";
      ui.count.textContent = `Upload stopped: ${e.message}.${sent}`;
    } finally {
      st.busy = false;
      st.abort = null;
      lock(false);
      ui.cancel.hidden = true;
      ui.start.disabled = !st.ok || st.sent;
      ui.start.title = st.sent ? "this file was sent: choose another file to upload" : "";
    }
  }

  ui.file.addEventListener("change", chooseFile);
  for (const c of [ui.format, ui.header, ui.update]) c.addEventListener("change", () => { st.names = []; if (st.file) render(); });
  ui.start.addEventListener("click", start);
  ui.cancel.addEventListener("click", () => {
    st.cancelled = true;
    if (st.abort) st.abort();
  });
  showFor(ui.format.value);
}

for (const root of document.querySelectorAll("[data-upload]")) {
  if (!root.dataset.ready) {
    root.dataset.ready = "1";
    setup(root);
  }
}
