// A column filter as typed in a header box or a watch, turned into the hub's predicate
// ({column, op, value}; docs/websocket.md): the hub evaluates it (webapp/dashboard/state.py), so the
// page, the live table and watches all use one set of rules.
//   "London" (contains), "=London", "!=x", ">5", ">=5", "<5", "<=5", "^Lon" (prefix), "null", "!null".
export function parseFilter(col, text) {
  const t = text.trim();
  if (!t) return null;
  const ops = [[">=", "ge"], ["<=", "le"], ["!=", "ne"], [">", "gt"], ["<", "lt"], ["=", "eq"], ["^", "prefix"]];
  if (t === "null") return { column: col, op: "null" };
  if (t === "!null") return { column: col, op: "notnull" };
  for (const [p, op] of ops) if (t.startsWith(p)) return { column: col, op, value: t.slice(p.length).trim() };
  return { column: col, op: "contains", value: t };
}

const WORDS = { ge: ">=", le: "<=", ne: "!=", gt: ">", lt: "<", eq: "=", prefix: "starts with", contains: "contains" };

// The predicate in words: "amount > 900", "city contains lon", "note is null".
export function describeFilter(p) {
  if (p.op === "null") return `${p.column} is null`;
  if (p.op === "notnull") return `${p.column} is not null`;
  return `${p.column} ${WORDS[p.op]} ${p.value}`;
}
