// The steps that cannot be undone (force-stop, clear storage, delete), each asked in the page's
// <dialog id="confirm"> naming the pipeline, then sent through api.js. Used by the pipelines page and a
// pipeline's page; the server refuses them to viewers and refuses delete/clear while the pipeline runs.

import { send } from "./api.js";
import { ask } from "./confirm.js";

const STEPS = {
  kill: {
    title: (p) => `Force-stop pipeline ${p}?`,
    text: "It stops at once, without a last checkpoint where the server makes one (Feldera): on its next " +
      "start it resumes from its latest checkpoint. Stop is the graceful way.",
    button: "Force-stop",
  },
  clear: {
    title: (p) => `Clear the storage of pipeline ${p}?`,
    text: "Every row stored for its tables and views is deleted; the program stays. This cannot be undone.",
    button: "Clear storage",
  },
  delete: {
    title: (p) => `Delete pipeline ${p}?`,
    text: "Its stored data is cleared first (the server deletes only a pipeline whose storage is cleared), " +
      "then the pipeline and its program are deleted. This cannot be undone.",
    button: "Delete",
  },
};

// Resolves true when the user confirmed `step` for `pipeline`, false when cancelled (button or Escape).
export function confirmStep(step, pipeline) {
  const s = STEPS[step];
  return ask({ title: s.title(pipeline), text: s.text, button: `${s.button} ${pipeline}` });
}

// Send `step` ("kill", "clear", "delete" or a plain action such as "stop") for `pipeline`; rejects with the
// server's ApiError.
export async function sendStep(step, pipeline) {
  const url = `/api/pipelines/${encodeURIComponent(pipeline)}`;
  return step === "delete" ? send(url, {}, "DELETE") : send(`${url}/${step}`);
}

export function needsConfirmation(step) {
  return step in STEPS;
}

// Ask when `step` cannot be undone, then send it: the server's answer when sent and accepted, false when
// cancelled.
export async function runStep(step, pipeline) {
  if (needsConfirmation(step) && !(await confirmStep(step, pipeline))) return false;
  return (await sendStep(step, pipeline)) ?? { pipeline };
}

// What to tell the user after a delete, from the dashboard's answer: whether storage was cleared on the way.
export function deletedNote(answer) {
  return answer.storage_cleared
    ? `Pipeline ${answer.pipeline} deleted (its storage was cleared first).`
    : `Pipeline ${answer.pipeline} deleted.`;
}
