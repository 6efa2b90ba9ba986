// Rows a table's LATENESS dropped, in words, for the data-entry results and the upload's count. The
// engine drops a row whose LATENESS column is more than the lateness behind the largest value an earlier
// step took; the dashboard counts them from the table's late count before and after (inputs.py).

import { fmtNumber } from "./dom.js";

// "2 rows arrived later than the table's LATENESS allows (ts: INTERVAL '1' HOUR) and were dropped".
// `lateness`: the table's [{column, lateness}] from its schema.
export function lateText(n, lateness) {
  const on = (lateness || []).map((l) => `${l.column}: ${l.lateness}`).join(", ");
  return `${fmtNumber(n)} row${n === 1 ? "" : "s"} arrived later than the table's LATENESS allows` +
    (on ? ` (${on})` : "") + ` and ${n === 1 ? "was" : "were"} dropped`;
}
