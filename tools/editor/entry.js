// The parts of CodeMirror 6 the dashboard uses, bundled into one ES module
// (webapp/dashboard/static/vendor/codemirror.js) by scripts/build-editor.sh. The dashboard's own editor
// component is static/js/sqleditor.js; this file only chooses what to export.
export { EditorState, Compartment } from "@codemirror/state";
export {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
  highlightSpecialChars, placeholder,
} from "@codemirror/view";
export { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
export { syntaxHighlighting, HighlightStyle, bracketMatching, indentOnInput } from "@codemirror/language";
export { tags } from "@lezer/highlight";
export {
  autocompletion, completionKeymap, closeBrackets, closeBracketsKeymap, startCompletion, closeCompletion,
} from "@codemirror/autocomplete";
export { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
export { linter, lintGutter, setDiagnostics, lintKeymap } from "@codemirror/lint";
export { sql, SQLDialect } from "@codemirror/lang-sql";
