// The one module that talks HTTP (fetch). Every state-changing request goes through `send`, which adds
// the CSRF token the page was rendered with; the server also checks Origin and Host.

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error_code;
    this.details = body && body.details;
  }
}

async function answer(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch (_) {
    body = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

// True when the dashboard itself did not answer (a network error: no status at all), as opposed to the
// dashboard answering that the pipeline server is unreachable (502 UpstreamUnreachable) or another error.
export function dashboardDown(e) {
  return e.status === 0 || e.name === "TypeError";
}

export async function getJSON(url) {
  const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  return answer(resp);
}

// POST (or another method) with a JSON body and the CSRF token.
export async function send(url, body = {}, method = "POST") {
  const resp = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
  });
  return answer(resp);
}

// Read an NDJSON answer line by line. A read may end in the middle of a line (or of a UTF-8 character):
// the unfinished tail is kept and completed by the next read, never parsed half. Resolves when the
// stream ends; rejects on a network error or a non-2xx answer. `signal` aborts it.
export async function streamLines(url, onLine, signal) {
  const resp = await fetch(url, { credentials: "same-origin", signal, headers: { Accept: "application/x-ndjson" } });
  if (!resp.ok || !resp.body) {
    await answer(resp);
    throw new ApiError(resp.status, null);
  }
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) onLine(line);
    }
  }
  buffer += decoder.decode();
  if (buffer.trim()) onLine(buffer.trim());
}

// POST one part of a file upload with XMLHttpRequest, which (unlike fetch) reports upload progress:
// `onProgress(sentBytes, totalBytes)`. `body` is a Blob (a File.slice is sent from disk, not memory).
// Resolves with the JSON answer; rejects with an ApiError (status 0 when the network failed).
// `abort` receives a function that cancels the request.
export function uploadPart(url, body, { contentType = "application/octet-stream", headers = {}, onProgress, abort } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Content-Type", contentType);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : body.size);
    xhr.onload = () => {
      let answer = null;
      try {
        answer = JSON.parse(xhr.responseText);
      } catch (_) {
        answer = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(answer);
      else reject(new ApiError(xhr.status, answer));
    };
    xhr.onerror = () => reject(new ApiError(0, { message: "the connection to the dashboard failed" }));
    xhr.onabort = () => reject(new ApiError(0, { message: "cancelled", error_code: "Cancelled" }));
    if (abort) abort(() => xhr.abort());
    xhr.send(body);
  });
}
