"""Compile errors in Feldera's shape: a message, the error type and the span of the offending token.

Exception tree::

    SqlError            raised while compiling a program; carries Feldera's ``SqlCompilerMessage`` fields

Positions come from the parser's tokens (sqlglot keeps each token's offsets), never from re-scanning text.
DuckDB's binder messages are reworded the way Feldera's compiler (Calcite) says the same thing, so a program's
errors read alike on both.
"""

from __future__ import annotations

import re

from .runtime_errors import feldera_runtime_text

PARSE = "Error parsing SQL"
STATEMENT = "Error in SQL statement"
NOT_IMPLEMENTED = "Not yet implemented"


class SqlError(Exception):
    """Raised while compiling a program; carries Feldera's message fields."""

    def __init__(self, message: str, offset: int | None, program: str, end: int | None = None,
                 error_type: str = STATEMENT):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        line, col = line_col(program, offset if offset is not None else 0)
        eline, ecol = line_col(program, end if end is not None else (offset or 0))
        self.line, self.column, self.end_line, self.end_column = line, col, eline, ecol
        lines = program.splitlines() or [""]
        self.snippet = lines[line - 1] if 0 < line <= len(lines) else ""

    def to_json(self) -> dict:
        return {
            "start_line_number": self.line,
            "start_column": self.column,
            "end_line_number": self.end_line,
            "end_column": self.end_column,
            "warning": False,
            "error_type": self.error_type,
            "message": self.message,
            "snippet": f"{self.line:>4}|{self.snippet}",
        }


def line_col(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def at_token(message: str, token, program: str, error_type: str = STATEMENT) -> SqlError:
    """An error spanning one sqlglot token (``start``/``end`` are offsets into ``program``)."""
    return SqlError(message, token.start, program, token.end, error_type)


def at_node(message: str, node, program: str, fallback: int, error_type: str = STATEMENT) -> SqlError:
    """An error at the token a tree node was parsed from, or at ``fallback`` when the node has none."""
    meta = getattr(node, "meta", None) or {}
    if "start" in meta:
        return SqlError(message, meta["start"], program, meta.get("end", meta["start"]), error_type)
    for child in node.walk() if node is not None else ():
        m = getattr(child, "meta", None) or {}
        if "start" in m:
            return SqlError(message, m["start"], program, m.get("end", m["start"]), error_type)
    return SqlError(message, fallback, program, None, error_type)


# ---------------------------------------------------------------------------------------------
# DuckDB's messages

def _duck_error_offset(msg: str, executed: str) -> int | None:
    """Offset in ``executed`` that DuckDB's ``LINE n: ...`` caret points at, if it says."""
    m = re.search(r"LINE (\d+): (.*)\n( *)\^", msg)
    if not m:
        return None
    line_no, snippet, pad = int(m.group(1)), m.group(2), len(m.group(3))
    lines = executed.split("\n")
    if line_no > len(lines):
        return None
    line = lines[line_no - 1]
    col = pad - len(f"LINE {line_no}: ")
    if snippet.startswith("..."):
        probe = snippet[3:].rstrip(".")
        at = line.find(probe[: max(1, min(len(probe), 40))])
        if at < 0:
            return None
        col = at + col - 3
    line_start = sum(len(x) + 1 for x in lines[: line_no - 1])
    return line_start + max(0, min(col, len(line)))


# DuckDB's own catalog objects, which a "Did you mean" may name: they are no name of the user's program.
_INTERNAL_SUGGESTION = re.compile(r'\nDid you mean "(?:pg_|duckdb_|sqlite_|information_schema|__sluice)[^"]*"\?')
# DuckDB suggests ANY_VALUE, which Feldera's SQL does not have.
_ANY_VALUE = re.compile(r'or use ANY_VALUE\("?([^")]*)"?\) if the exact value of "?[^"]*"? is not important\.')
CANDIDATES_SHOWN = 4  # of DuckDB's list of a function's overloads (50 lines for "+")


def _clean_duck_message(msg: str) -> str:
    text = msg.split("\n\nLINE ")[0].split("\nLINE ")[0].strip()
    text = feldera_runtime_text(text)
    text = _INTERNAL_SUGGESTION.sub("", text)
    text = _ANY_VALUE.sub(lambda m: f"or use it in an aggregate such as MIN({m.group(1)}) or MAX({m.group(1)}).", text)
    head, sep, rest = text.partition("\n\tCandidate functions:\n")
    if sep:
        lines = rest.split("\n")
        more = len(lines) - CANDIDATES_SHOWN
        text = head + sep + "\n".join(lines[:CANDIDATES_SHOWN]) + (f"\n\t... and {more} more" if more > 0 else "")
    return text


# DuckDB's binder and catalog texts, and how Calcite words the same error.
_REWORDS = [
    (re.compile(r'Referenced column "?([^"\s]+)"? not found in FROM clause!?.*', re.S),
     lambda m: f"Column '{m.group(1)}' not found in any table"),
    (re.compile(r'Values list "?[^"]*"? does not have a column named "([^"]+)".*', re.S),
     lambda m: f"Column '{m.group(1)}' not found in any table"),
    (re.compile(r"Table with name (\S+) does not exist!?.*", re.S),
     lambda m: f"Object '{m.group(1).strip(chr(34))}' not found"),
    (re.compile(r"(?:Scalar|Aggregate|Table) Function with name (\S+) does not exist!?.*", re.S),
     lambda m: f"No match found for function signature {m.group(1).upper()}"),
    (re.compile(r"aggregate function calls cannot be nested.*", re.S | re.I),
     lambda m: "Aggregate expressions cannot be nested"),
    (re.compile(r'Referenced table "?([^"\s]+)"? not found!?.*', re.S),
     lambda m: f"Table '{m.group(1)}' not found"),
    # Feldera's illarg_tests/test_grammar_tbl_fn.py: dot_illegal, over_illegal, values_illegal, grouping_illegal.
    (re.compile(r'Table "([^"]+)" does not have a column named "([^"]+)".*', re.S),
     lambda m: f"Column '{m.group(2)}' not found in table '{m.group(1)}'"),
    (re.compile(r'window "([^"]+)" does not exist.*', re.S), lambda m: f"Window '{m.group(1)}' not found"),
    (re.compile(r"VALUES lists must all be the same length.*", re.S),
     lambda m: "Values passed to values operator must have compatible types"),
    (re.compile(r"GROUPING child .* must be a grouping column.*", re.S),
     lambda m: "Argument to GROUPING operator must be a grouped expression"),
]


def feldera_message(duck_message: str) -> str:
    """DuckDB's error text as Feldera's compiler would word it; DuckDB's own words when there is no match."""
    text = _clean_duck_message(duck_message)
    body = re.sub(r"^(Binder|Catalog|Parser|Conversion|Invalid Input|Not implemented) Error: ", "", text)
    for pattern, make in _REWORDS:
        m = pattern.match(body)
        if m:
            return make(m)
    return body


def offending_word(duck_message: str, executed: str) -> str | None:
    """The word DuckDB's caret points at in ``executed`` (an identifier or keyword), if any."""
    off = _duck_error_offset(duck_message, executed)
    if off is None:
        return None
    m = re.match(r'"((?:[^"]|"")*)"|([A-Za-z_][A-Za-z0-9_$]*)', executed[off:])
    if not m:
        return None
    return m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2)


__all__ = ["SqlError", "line_col", "at_token", "at_node", "feldera_message", "offending_word"]
