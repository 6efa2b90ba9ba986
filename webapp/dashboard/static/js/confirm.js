// The page's <dialog id="confirm"> (templates/_confirm.html): asks before a step that cannot be undone.
// Cancel has the focus when it opens (the safe choice); Cancel, Escape or closing the dialog answer no.

import { el } from "./dom.js";

// Resolves true when the user pressed `button`, false otherwise. `items`: points listed under `text`.
export async function ask(question) {
  return (await choose(question)) === "ok";
}

// As ask, with a second way forward (`other`, a button label): resolves "ok" for `button`, "other" for
// `other`, "" for Cancel, Escape or closing the dialog.
export function choose({ title, text, items = [], button, other = null }) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const list = document.getElementById("confirm-list");
  list.replaceChildren(...items.map((item) => el("li", {}, item)));
  list.hidden = !items.length;
  document.getElementById("confirm-ok").textContent = button;
  const second = document.getElementById("confirm-other");
  second.textContent = other || "";
  second.hidden = !other;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(["ok", "other"].includes(dialog.returnValue) ? dialog.returnValue : ""),
      { once: true });
    dialog.showModal();
  });
}
