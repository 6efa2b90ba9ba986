// Cutting a file into parts at record boundaries, a window at a time (File.slice), never reading it whole.
// No DOM here: upload.js drives it. The scanners follow the engine's framing so that the records of a
// part are the events the engine counts (webapp/engine/csvfmt.py and ingress.py):
// - CSV: a field starting with " runs to the next lone " (newlines and commas inside); "" is a quote;
//   a " inside an unquoted field, or text after a closing quote, makes the record bad up to the next
//   newline; a record ends at \n, \r\n or \r; an empty line is no record. A quote never closed (the
//   file ends inside it) makes the record bad up to the \n after the last quote (the engine's reader
//   backs off to the last "), and the records after that are read as usual.
// - NDJSON: one value per line; blank lines are no records.
// - A JSON array: each element is a record, re-sent as one NDJSON line (an array sent whole would be
//   all or nothing in the engine, and one bad row would drop its neighbours).
// Structure bytes (" , [ ] { } \ \r \n) are ASCII and never occur inside a UTF-8 sequence, so the
// scanners work on bytes and parts can be sent as slices of the file itself.

export const WINDOW = 1 << 20;
export const MAX_RECORD = 64 << 20; // a record this long means an unclosed quote or bracket

const QUOTE = 0x22, COMMA = 0x2c, CR = 0x0d, LF = 0x0a, BACKSLASH = 0x5c;
const START = 0, UNQUOTED = 1, QUOTED = 2, QUOTE2 = 3, SKIP = 4, AFTER_CR = 5;

function isSpace(b) {
  return b === 0x20 || b === 0x09 || b === CR || b === LF || b === 0x0b || b === 0x0c;
}

// Gathers record ends into parts of about `partBytes` (always whole records).
class Parts {
  constructor(partBytes, header) {
    this.partBytes = partBytes;
    this.header = header; // the first record is a CSV header: counted as row 1, never sent
    this.ready = [];
    this.rows = 0; // records seen, the header included
    this.start = 0;
    this.firstRow = 1;
    this.firstLine = 1;
    this.records = 0;
    this.elements = null; // JSON arrays: [start, end, line] of each element of the part
    this.count = 0; // parts made
  }

  record(end, lineAfter, nonBlank, element) {
    if (nonBlank) {
      this.rows++;
      if (this.header && this.rows === 1) {
        this.begin(end, lineAfter);
        return;
      }
      if (this.records === 0) this.firstRow = this.rows;
      this.records++;
      if (element) (this.elements ||= []).push(element);
    }
    if (this.records && end - this.start >= this.partBytes) this.cut(end, lineAfter);
  }

  cut(end, lineAfter) {
    if (this.records) {
      this.ready.push({ index: this.count++, start: this.start, end, firstRow: this.firstRow,
        firstLine: this.firstLine, records: this.records, elements: this.elements });
    }
    this.begin(end, lineAfter);
  }

  begin(offset, line) {
    this.start = offset;
    this.firstLine = line;
    this.firstRow = this.rows + 1;
    this.records = 0;
    this.elements = null;
  }

  take() {
    const out = this.ready;
    this.ready = [];
    return out;
  }
}

class CsvScanner {
  constructor(parts) {
    this.parts = parts;
    this.state = START;
    this.line = 1;
    this.content = false; // the record so far holds something (so it is not an empty line)
    this.recordStart = 0;
    this.lastQuote = -1; // the offset and line of the last quote of a quoted field
    this.lastQuoteLine = 0;
  }

  end(at) {
    this.parts.record(at, this.line, this.content);
    this.content = false;
    this.recordStart = at;
  }

  scan(bytes, base) {
    let state = this.state;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (state === AFTER_CR) {
        state = START;
        if (b === LF) {
          this.line++;
          this.end(base + i + 1);
          continue;
        }
        this.end(base + i);
      }
      switch (state) {
        case START:
          if (b === LF) { this.line++; this.end(base + i + 1); break; }
          if (b === CR) { state = AFTER_CR; break; }
          this.content = true;
          if (b === QUOTE) {
            state = QUOTED;
            this.quoteLine = this.line;
            this.lastQuote = base + i;
            this.lastQuoteLine = this.line;
          } else if (b !== COMMA) state = UNQUOTED;
          break;
        case UNQUOTED:
          if (b === COMMA) state = START;
          else if (b === LF) { this.line++; state = START; this.end(base + i + 1); } else if (b === CR) state = AFTER_CR;
          else if (b === QUOTE) state = SKIP;
          break;
        case QUOTED:
          if (b === QUOTE) state = QUOTE2;
          else if (b === LF) this.line++;
          break;
        case QUOTE2:
          if (b === QUOTE) {
            state = QUOTED;
            this.lastQuote = base + i;
            this.lastQuoteLine = this.line;
          }
          else if (b === COMMA) state = START;
          else if (b === LF) { this.line++; state = START; this.end(base + i + 1); } else if (b === CR) state = AFTER_CR;
          else state = SKIP;
          break;
        case SKIP:
          if (b === LF) { this.line++; state = START; this.end(base + i + 1); }
          break;
      }
    }
    this.state = state;
    if (base + bytes.length - this.recordStart > MAX_RECORD) {
      throw new Error(`the record starting at byte ${this.recordStart} is longer than ${MAX_RECORD >> 20} MiB: ` +
        `is a quote opened at line ${this.quoteLine} never closed?`);
    }
  }

  // At the end of the file inside a quoted field: the record is bad up to the \n after its last quote
  // (as the engine reads it). Returns the offset to read on from, or null when there is nothing to read
  // again (not inside a quote, or no \n after it).
  async closeUnclosed(file) {
    if (this.state !== QUOTED) return null;
    for (let pos = this.lastQuote + 1; pos < file.size; pos += WINDOW) {
      const bytes = new Uint8Array(await file.slice(pos, pos + WINDOW).arrayBuffer());
      const lf = bytes.indexOf(LF);
      if (lf >= 0) {
        this.state = START;
        this.line = this.lastQuoteLine + 1;
        this.end(pos + lf + 1);
        return pos + lf + 1;
      }
    }
    this.state = SKIP; // bad to the end of the file
    this.line = this.lastQuoteLine;
    return null;
  }

  finish(size) {
    if (this.state !== START || this.content) this.end(size);
    this.parts.cut(size, this.line);
  }
}

class NdjsonScanner {
  constructor(parts) {
    this.parts = parts;
    this.line = 1;
    this.content = false;
    this.recordStart = 0;
  }

  scan(bytes, base) {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === LF) {
        this.line++;
        this.parts.record(base + i + 1, this.line, this.content);
        this.content = false;
        this.recordStart = base + i + 1;
      } else if (!this.content && !isSpace(b)) this.content = true;
    }
    if (base + bytes.length - this.recordStart > MAX_RECORD) {
      throw new Error(`line ${this.line} is longer than ${MAX_RECORD >> 20} MiB: NDJSON holds one record per line`);
    }
  }

  finish(size) {
    if (this.content) this.parts.record(size, this.line, true);
    this.parts.cut(size, this.line);
  }
}

// Elements of one top-level JSON array, by their byte ranges.
class JsonArrayScanner {
  constructor(parts) {
    this.parts = parts;
    this.line = 1;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.done = false; // the closing ] was seen
    this.elStart = -1;
    this.elLine = 0;
    this.lastByte = -1; // offset of the last byte that was not white space
  }

  fail(what) {
    throw new Error(`the JSON array is broken at line ${this.line}: ${what}`);
  }

  close() {
    if (this.elStart < 0) this.fail("an empty element (two commas, or a comma before ])");
    const end = this.lastByte + 1;
    this.parts.record(end, this.line, true, [this.elStart, end, this.elLine]);
    this.elStart = -1;
  }

  scan(bytes, base) {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === LF) this.line++;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
        this.lastByte = base + i;
        continue;
      }
      if (isSpace(b)) continue;
      if (this.done) this.fail("text after the closing ]");
      if (this.depth === 0) {
        if (b !== 0x5b && !(base + i === 0 && b === 0xef)) this.fail("a JSON array starts with [");
        if (b === 0x5b) this.depth = 1;
        if (b === 0xef) i += 2; // a UTF-8 byte order mark
        continue;
      }
      if (this.depth === 1 && (b === COMMA || b === 0x5d)) {
        if (b === COMMA || this.elStart >= 0 || this.sawElement) this.close();
        if (b === 0x5d) { this.depth = 0; this.done = true; }
        continue;
      }
      if (this.depth === 1 && this.elStart < 0) {
        this.elStart = base + i;
        this.elLine = this.line;
        this.sawElement = true;
      }
      if (b === QUOTE) this.inString = true;
      else if (b === 0x5b || b === 0x7b) this.depth++;
      else if (b === 0x5d || b === 0x7d) this.depth--;
      this.lastByte = base + i;
    }
    if (this.elStart >= 0 && base + bytes.length - this.elStart > MAX_RECORD) {
      this.fail(`the element starting at line ${this.elLine} is longer than ${MAX_RECORD >> 20} MiB`);
    }
  }

  finish(size) {
    if (!this.done) this.fail("the file ends before the array's closing ]");
    this.parts.cut(size, this.line);
  }
}

// The parts of `file` (format "csv", "ndjson" or "jsonarray"), as an async generator of
// {index, start, end, firstRow, firstLine, records, elements}; `header`: the CSV's first record is a header.
export async function* cutFile(file, format, { partBytes = 8 << 20, header = false } = {}) {
  const parts = new Parts(partBytes, header && format === "csv");
  const scanner = format === "csv" ? new CsvScanner(parts) : format === "ndjson" ? new NdjsonScanner(parts)
    : new JsonArrayScanner(parts);
  const head = new Uint8Array(await file.slice(0, 3).arrayBuffer());
  const bom = format !== "jsonarray" && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  parts.begin(bom, 1); // a byte order mark (spreadsheets write one) is not data
  for (let from = bom; from !== null; from = scanner.closeUnclosed ? await scanner.closeUnclosed(file) : null) {
    for (let pos = from; pos < file.size; pos += WINDOW) {
      const bytes = new Uint8Array(await file.slice(pos, pos + WINDOW).arrayBuffer());
      scanner.scan(bytes, pos);
      yield* parts.take();
    }
  }
  scanner.finish(file.size);
  yield* parts.take();
}

// A JSON array part as NDJSON: each element on one line (its line breaks are white space between
// tokens, since JSON strings cannot hold raw ones).
export async function elementsAsNdjson(file, part) {
  const bytes = new Uint8Array(await file.slice(part.start, part.end).arrayBuffer());
  const pieces = [];
  for (const [s, e] of part.elements) {
    const piece = bytes.slice(s - part.start, e - part.start);
    for (let i = 0; i < piece.length; i++) if (piece[i] === LF || piece[i] === CR) piece[i] = 0x20;
    pieces.push(piece, "\n");
  }
  return new Blob(pieces);
}

// The texts of the first `limit` elements of a JSON array file (for the preview).
export async function firstElements(blob, limit) {
  const bytes = new Uint8Array(await blob.slice(0, WINDOW).arrayBuffer());
  const parts = new Parts(1, false);
  try {
    new JsonArrayScanner(parts).scan(bytes, 0);
  } catch (_) {
    // a broken array: the elements before the break are shown; the upload itself reports the break
  }
  const decoder = new TextDecoder();
  return parts.take().slice(0, limit).map((p) => decoder.decode(bytes.subarray(p.elements[0][0], p.elements[0][1])));
}

// CSV text as records: {fields: [{value, quoted}], blank, bad, text, newline}, by the rules above.
export function parseCsv(text, limit = Infinity) {
  const out = [];
  let pos = 0;
  const n = text.length;
  while (pos < n && out.length < limit) {
    const start = pos, fields = [];
    let bad = false;
    for (;;) {
      let value = "", quoted = false;
      if (text[pos] === '"') {
        let j = pos + 1;
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0) { j = -1; break; }
          if (text[q + 1] === '"') { j = q + 2; continue; }
          j = q;
          break;
        }
        if (j < 0) { bad = true; break; }
        value = text.slice(pos + 1, j).replaceAll('""', '"');
        quoted = true;
        pos = j + 1;
      } else {
        let j = pos;
        while (j < n && !',"\r\n'.includes(text[j])) j++;
        value = text.slice(pos, j);
        pos = j;
      }
      fields.push({ value, quoted });
      if (pos >= n) break;
      const c = text[pos];
      if (c === ",") { pos++; if (pos >= n) { fields.push({ value: "", quoted: false }); break; } continue; }
      if (c === "\r" || c === "\n") break;
      bad = true;
      break;
    }
    if (bad) {
      const nl = text.indexOf("\n", pos);
      pos = nl < 0 ? n : nl;
    }
    let newline = false;
    if (text[pos] === "\r") pos++;
    if (text[pos] === "\n") { pos++; newline = true; }
    const blank = !bad && fields.length === 1 && fields[0].value === "" && !fields[0].quoted;
    out.push({ fields, blank, bad, text: text.slice(start, pos), newline });
  }
  return out;
}

export function csvField({ value, quoted }) {
  return quoted || /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

// A CSV part with its fields put in table order: `mapping[i]` is the table column index of file column i
// (or -1: dropped). Empty and bad records stay as they are, so record and line counts do not change.
export function remapCsv(text, mapping, width) {
  let out = "";
  for (const rec of parseCsv(text)) {
    if (rec.blank || rec.bad) {
      out += rec.text;
      continue;
    }
    const row = new Array(width).fill("");
    rec.fields.forEach((f, i) => {
      if (i >= mapping.length) row.push(csvField(f)); // more fields than the header: the engine says so
      else if (mapping[i] >= 0) row[mapping[i]] = csvField(f);
    });
    out += row.join(",") + (rec.newline ? "\n" : "");
  }
  return out;
}
