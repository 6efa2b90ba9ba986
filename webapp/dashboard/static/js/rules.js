// The browser's reading of the validator's rules (webapp/dashboard/validate.py makes them; the page gets
// them as data). This interprets the same rule fields with the same messages, so a value the server
// would refuse is refused here before anything is sent. The server checks again: it is authoritative.
// tests/dashboard/test_validate.py runs this file and the Python one on one table of values.

const FLOAT_TEXT = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
const DECIMAL_TEXT = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/;

class FieldError extends Error {}

function show(v) {
  const s = JSON.stringify(v);
  return s.length <= 60 ? s : s.slice(0, 57) + "...";
}

const isNumber = (v) => typeof v === "number";

// (sign, whole digits, fraction digits) of a number written as text, without leading or trailing zeros;
// null when it is not a number. The exponent is capped at ±1000 (as in validate.py).
function split(text) {
  const m = DECIMAL_TEXT.exec(text);
  if (!m || !(m[2] || m[3])) return null;
  const whole = m[2] || "", frac = m[3] || "";
  const exp = Math.max(-1000, Math.min(1000, Number(m[4] || 0)));
  let digits = whole + frac, point = whole.length + exp;
  if (point < 0) {
    digits = "0".repeat(-point) + digits;
    point = 0;
  } else if (point > digits.length) {
    digits += "0".repeat(point - digits.length);
  }
  return { sign: m[1], whole: digits.slice(0, point).replace(/^0+/, ""), frac: digits.slice(point).replace(/0+$/, "") };
}

function numberText(v) {
  if (typeof v === "string") return v.trim();
  return isNumber(v) && Number.isFinite(v) ? String(v) : null;
}

// A whole number however it is written (5, "5", "5.0", "5e0"); a fractional part refuses it.
function integer(rule, v) {
  const text = numberText(v);
  const parts = text === null ? null : split(text);
  if (!parts || parts.frac) throw new FieldError(`expected a whole number (${rule.type}), found ${show(v)}`);
  const n = BigInt(parts.sign + (parts.whole || "0"));
  if (n < BigInt(rule.min) || n > BigInt(rule.max)) {
    throw new FieldError(`${n} is out of range for ${rule.type} (${rule.min} to ${rule.max})`);
  }
  return n;
}

function float(rule, v) {
  let f;
  if (isNumber(v)) f = v;
  else if (typeof v === "string" && FLOAT_TEXT.test(v.trim())) f = Number(v.trim());
  else throw new FieldError(`expected a number (${rule.type}), found ${show(v)}`);
  if (!(f === f && Math.abs(f) <= rule.max)) throw new FieldError(`${show(v)} is out of range for ${rule.type}`);
  return f;
}

function decimal(rule, v) {
  if (!isNumber(v) && typeof v !== "string") throw new FieldError(`expected a decimal number, found ${show(v)}`);
  const text = numberText(v);
  const parts = text === null ? null : split(text);
  if (!parts) throw new FieldError(`expected a decimal number like 12.34, found ${show(v)}`);
  const { sign, whole, frac } = parts;
  const p = rule.precision, s = rule.scale;
  const after = frac.length > s, before = whole.length > p - s;
  if (after && before) {
    throw new FieldError(`too many digits before and after the decimal point: DECIMAL(${p}, ${s}) allows ${p - s} ` +
      `before and ${s} after`);
  }
  if (after) throw new FieldError(`too many digits after the decimal point: DECIMAL(${p}, ${s}) allows ${s}`);
  if (before) throw new FieldError(`too many digits before the decimal point: DECIMAL(${p}, ${s}) allows ${p - s}`);
  const out = (whole || "0") + (frac ? "." + frac : "");
  return sign === "-" && out !== "0" ? "-" + out : out;
}

function daysInMonth(y, m) {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

function temporal(rule, v) {
  const kind = rule.kind;
  const m = typeof v === "string" ? new RegExp(rule.pattern).exec(v.trim()) : null;
  if (!m) throw new FieldError(`expected a ${kind.toUpperCase()} like ${rule.example}, found ${show(v)}`);
  const nums = m.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
  if (kind !== "time") {
    const [y, mo, d] = nums;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) {
      throw new FieldError(`${show(v)} is not a calendar date`);
    }
  }
  if (kind !== "date") {
    const [h, mi, sec] = nums.slice(-4, -1);
    if (h > 23 || mi > 59 || sec > 59) throw new FieldError(`${show(v)} is not a time of day (00:00:00 to 23:59:59)`);
  }
  const text = v.trim();
  return kind === "timestamp" ? text.slice(0, 10) + " " + text.slice(11) : text;
}

function array(rule, v) {
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch (_) {
      throw new FieldError(`expected a JSON array like [1, 2], found ${show(v)}`);
    }
  }
  if (!Array.isArray(v)) throw new FieldError(`expected a JSON array like [1, 2], found ${show(v)}`);
  return v.map((x, i) => {
    try {
      return checkValue(rule.item, x);
    } catch (e) {
      if (e instanceof FieldError) throw new FieldError(`item ${i + 1}: ${e.message}`);
      throw e;
    }
  });
}

// The value ready to send for the column of `rule`; throws (a FieldError) when it does not fit.
export function checkValue(rule, value) {
  if (value === null || value === undefined) {
    if (!rule.nullable) throw new FieldError("a value is required (NOT NULL)");
    return null;
  }
  if (typeof value === "string" && !value.trim() && rule.kind !== "string" && rule.kind !== "json") {
    throw new FieldError(`empty: enter a value of type ${rule.type}` + (rule.nullable ? " (or NULL)" : ""));
  }
  switch (rule.kind) {
    case "integer": return integer(rule, value);
    case "float": return float(rule, value);
    case "decimal": return decimal(rule, value);
    case "boolean": {
      if (typeof value === "boolean") return value;
      const t = typeof value === "string" ? value.trim().toLowerCase() : null;
      if (t === "true" || t === "false") return t === "true";
      throw new FieldError(`expected true or false, found ${show(value)}`);
    }
    case "string": {
      if (typeof value !== "string") throw new FieldError(`expected text, found ${show(value)}`);
      const n = rule.max_length, len = [...value].length;
      if (n !== null && n !== undefined && len > n) {
        throw new FieldError(`${len} characters: ${rule.type}(${n}) holds at most ${n}`);
      }
      return value;
    }
    case "date": case "time": case "timestamp": return temporal(rule, value);
    case "array": return array(rule, value);
    default:
      if (typeof value === "string" && ["{", "["].includes(value.trim().slice(0, 1))) {
        try {
          return JSON.parse(value);
        } catch (_) {
          return value;
        }
      }
      return value;
  }
}

// null when `value` fits, else the message to show next to the field.
export function fieldError(rule, value) {
  try {
    checkValue(rule, value);
    return null;
  } catch (e) {
    if (e instanceof FieldError) return e.message;
    throw e;
  }
}

// -- random values of the right type (as a form would hold them: text) ------------------------------
const WORDS = ["river", "sluice", "delta", "amber", "north", "quartz", "willow", "harbor", "ember", "tide"];
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const between = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));
const pad = (n, w = 2) => String(n).padStart(w, "0");

function randomDigits(n) {
  let s = String(between(1, 9));
  for (let i = 1; i < n; i++) s += String(between(0, 9));
  return s;
}

function randomDate() {
  const y = between(2000, 2030), m = between(1, 12);
  return `${y}-${pad(m)}-${pad(between(1, daysInMonth(y, m)))}`;
}

const randomTime = () => `${pad(between(0, 23))}:${pad(between(0, 59))}:${pad(between(0, 59))}`;

// A random value for `rule` as text (what its input would hold), or null for NULL; key columns get a
// wide range so rows filled at once rarely collide.
export function randomText(rule) {
  switch (rule.kind) {
    case "integer": {
      const lo = BigInt(rule.min), hi = BigInt(rule.max);
      const span = rule.key ? 1000000000n : 1000n;
      const a = lo > -span ? lo : -span, b = hi < span ? hi : span;
      const from = rule.key && a < 1n && b > 1n ? 1n : a;
      return String(from + BigInt(Math.floor(Math.random() * Number(b - from + 1n))));
    }
    case "decimal": {
      const whole = Math.max(0, Math.min(rule.precision - rule.scale, 5));
      const w = whole ? String(Number(randomDigits(between(1, whole)))) : "0";
      return rule.scale ? `${w}.${randomDigits(rule.scale)}` : w;
    }
    case "float": return (Math.random() * 2000 - 1000).toFixed(3);
    case "boolean": return Math.random() < 0.5 ? "true" : "false";
    case "string": {
      const s = `${pick(WORDS)} ${pick(WORDS)}`;
      return rule.max_length ? [...s].slice(0, rule.max_length).join("") : s;
    }
    case "date": return randomDate();
    case "time": return randomTime();
    case "timestamp": return `${randomDate()} ${randomTime()}`;
    case "array": {
      const items = Array.from({ length: between(1, 3) }, () => checkValue(rule.item, randomText(rule.item)));
      return JSON.stringify(items, (_, x) => (typeof x === "bigint" ? Number(x) : x));
    }
    default: return rule.nullable ? null : "{}"; // a type the rules do not know: NULL where allowed
  }
}
