// The sign-in ended while the page was open (the user was removed, its role or password changed, or the
// session expired): the dashboard answers 401 with `details.login`, and closes an open WebSocket with 1008.
// Retrying cannot help, so pages stop polling and reconnecting and say so once, with a link to sign in again
// that comes back to this page.

import { el } from "./dom.js";

// True for the dashboard's own "sign in first" (a 401 passed on from the pipeline server has no `login`).
export function signedOut(e) {
  return !!e && e.status === 401 && !!(e.details && e.details.login);
}

export function signInHref() {
  return `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

export function showSignedOut() {
  if (document.getElementById("signed-out")) return;
  const note = el("p", { id: "signed-out", class: "flag bad", role: "alert" },
    "Signed out: your sign-in has ended (the user was removed, or its role or password changed). This page has " +
    "stopped updating; what it shows may be out of date. ",
    el("a", { id: "sign-in-again", href: signInHref() }, "Sign in again"), " to come back to this page.");
  (document.querySelector("main") || document.body).prepend(note);
}
