// The SQL editor of the query page and the program editor: CodeMirror 6 (static/vendor/codemirror.js, built
// from npm by scripts/build-editor.sh) with SQL highlighting, completion of the pipeline's tables, views and
// columns, and errors underlined at their line and column. Pages use this module, never CodeMirror itself.

import * as CM from "../vendor/codemirror.js";
import { FUNCTIONS, KEYWORDS, TYPES } from "./sqlwords.js";

// A name as SQL text: bare when it is a lower-case identifier, else double-quoted (case-sensitive, spaces).
export function quoteName(name) {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

// Columns complete after their table's name and a dot (lang-sql's schema source) and also bare, anywhere,
// with the relation they belong to as their detail: a SELECT list is usually written before its FROM.
function columnSource(relations) {
  const byName = new Map(); // one option per column name, with the relations that have it
  for (const r of relations) {
    for (const c of r.columns || []) {
      const seen = byName.get(c.name) || { types: new Set(), rels: [] };
      seen.types.add(c.type);
      seen.rels.push(r.name);
      byName.set(c.name, seen);
    }
  }
  const options = [...byName].map(([name, { types, rels }]) => ({
    label: name, apply: quoteName(name), type: "property", detail: `${rels.join(", ")} · ${[...types].join(" | ")}`,
    boost: -1,
  }));
  return (ctx) => {
    const word = ctx.matchBefore(/[A-Za-z_][\w$]*/);
    if (!word && !ctx.explicit) return null;
    const before = ctx.state.sliceDoc(Math.max(0, (word ? word.from : ctx.pos) - 1), word ? word.from : ctx.pos);
    if (before === ".") return null; // table.column: the schema source answers
    return { from: word ? word.from : ctx.pos, options, validFor: /^[\w$]*$/ };
  };
}

// Colours from the page's CSS variables (app.css), so dark mode follows the system as the rest does.
const highlight = CM.HighlightStyle.define([
  { tag: [CM.tags.keyword, CM.tags.operatorKeyword], color: "var(--sql-keyword)", fontWeight: "600" },
  { tag: [CM.tags.string, CM.tags.special(CM.tags.string)], color: "var(--sql-string)" },
  { tag: [CM.tags.number, CM.tags.bool, CM.tags.null], color: "var(--sql-number)" },
  { tag: [CM.tags.comment, CM.tags.lineComment, CM.tags.blockComment], color: "var(--sql-comment)", fontStyle: "italic" },
  { tag: [CM.tags.typeName, CM.tags.standard(CM.tags.name)], color: "var(--sql-name)" },
]);

// Feldera's SQL: its keywords, types and functions (sqlwords.js). lang-sql reads a dialect's types and
// builtins only along with its keywords, so all three are given.
const dialect = CM.SQLDialect.define({ keywords: KEYWORDS, types: TYPES, builtin: FUNCTIONS });

function language(relations) {
  const schema = {};
  for (const r of relations) schema[r.name] = (r.columns || []).map((c) => c.name);
  const lang = CM.sql({ dialect, schema, upperCaseKeywords: true });
  return [lang, lang.language.data.of({ autocomplete: columnSource(relations) })];
}

// CodeMirror makes <style> elements at run time: the page's CSP allows them by this nonce (security.py).
const nonce = (document.querySelector('meta[name="style-nonce"]') || {}).content || "";

// Makes an editor inside `host` (an element). Options: doc, readOnly, label (the accessible name),
// relations ([{name, kind, columns: [{name, type}]}]), onRun (Ctrl/Cmd+Enter), onChange(text).
export function sqlEditor(host, { doc = "", readOnly = false, label = "SQL", relations = [], onRun, onChange } = {}) {
  const schema = new CM.Compartment();
  const keys = [];
  if (onRun) keys.push({ key: "Mod-Enter", run: () => { onRun(); return true; } });
  const view = new CM.EditorView({
    parent: host,
    state: CM.EditorState.create({
      doc,
      extensions: [
        CM.keymap.of(keys), // before the defaults, whose Mod-Enter inserts a line
        CM.lineNumbers(), CM.highlightActiveLineGutter(), CM.highlightSpecialChars(), CM.history(),
        CM.drawSelection(), CM.indentOnInput(), CM.bracketMatching(), CM.closeBrackets(),
        // no kind icons: CodeMirror draws them as symbol characters (a key, a square) that most fonts lack,
        // so they showed as empty boxes; the detail beside a column says where it comes from
        CM.autocompletion({ icons: false }), CM.highlightActiveLine(), CM.highlightSelectionMatches(),
        CM.syntaxHighlighting(highlight), CM.lintGutter(),
        CM.keymap.of([...CM.closeBracketsKeymap, ...CM.defaultKeymap, ...CM.searchKeymap, ...CM.historyKeymap,
          ...CM.completionKeymap, ...CM.lintKeymap, CM.indentWithTab]),
        schema.of(language(relations)),
        CM.EditorState.readOnly.of(readOnly),
        CM.EditorView.cspNonce.of(nonce),
        CM.EditorView.contentAttributes.of({ "aria-label": label }),
        CM.EditorView.updateListener.of((u) => { if (u.docChanged && onChange) onChange(u.state.doc.toString()); }),
      ],
    }),
  });

  // The offset of 1-based (line, column), clamped into the document.
  function offsetOf(line, column) {
    const doc = view.state.doc;
    const l = doc.line(Math.min(Math.max(1, line || 1), doc.lines));
    return Math.min(l.to, l.from + Math.max(0, (column || 1) - 1));
  }

  return {
    view,
    get value() { return view.state.doc.toString(); },
    set value(text) { view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }); },
    focus() { view.focus(); },
    // Closes the completion list (a run leaves nothing to complete; the list would stay open over the results).
    closeCompletion() { CM.closeCompletion(view); },
    offsetOf,
    select(from, to) {
      view.dispatch({ selection: { anchor: from, head: to }, scrollIntoView: true });
      view.focus();
    },
    setRelations(rels) { view.dispatch({ effects: schema.reconfigure(language(rels)) }); },
    // Underlines each error [{line, column, endLine, endColumn, message, warning}]; [] clears them.
    setErrors(errors) {
      const diagnostics = errors.filter((e) => e.line).map((e) => {
        const from = offsetOf(e.line, e.column);
        const end = e.endLine ? offsetOf(e.endLine, (e.endColumn || 0) + 1) : from + 1;
        const to = Math.min(view.state.doc.length, Math.max(from + 1, end));
        return { from, to, severity: e.warning ? "warning" : "error", message: e.message || "" };
      });
      view.dispatch(CM.setDiagnostics(view.state, diagnostics));
    },
    insert(text) {
      const { from, to } = view.state.selection.main;
      view.dispatch({ changes: { from, to, insert: text }, selection: { anchor: from + text.length } });
      view.focus();
    },
  };
}
