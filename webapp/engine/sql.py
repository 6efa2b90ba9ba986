"""Reading programs: Feldera's DDL in, a checked ``Program`` (relations plus DuckDB DDL) out.

Tables are parsed here (types, NOT NULL, PRIMARY KEY, ``WITH`` properties); view bodies are handed to
DuckDB, which binds them and reports their columns. Unquoted identifiers are folded to lower case
before DuckDB sees the text (``_fold``), so names come out the way Feldera reports them; the fold
keeps every offset, so DuckDB's error positions map straight back to the user's line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from .catalog import Column, ColumnType, Relation, duckdb_to_column_type
from .connectors import ConnectorConfigError, check_table_connectors, check_view_properties


class SqlError(Exception):
    """Raised while compiling a program; carries Feldera's message fields."""

    def __init__(self, message: str, offset: int | None, program: str, end: int | None = None,
                 error_type: str = "Error in SQL statement"):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        line, col = _line_col(program, offset if offset is not None else 0)
        eline, ecol = _line_col(program, end if end is not None else (offset or 0))
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


def _line_col(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


# ---------------------------------------------------------------------------------------------
# Tokens

@dataclass
class Tok:
    kind: str  # word | qident | string | number | punct | space | comment
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else self.text


_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>[eExX]?'(?:[^']|'')*(?:'|\Z))
  | (?P<qident>"(?:[^"]|"")*(?:"|\Z))
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)
  | (?P<punct>::|<>|<=|>=|!=|\|\||.)
    """,
    re.S | re.X,
)


def tokenize(text: str) -> list[Tok]:
    return [Tok(m.lastgroup, m.group(), m.start()) for m in _TOKEN_RE.finditer(text)]


def _fold(text: str) -> str:
    """Lower-case unquoted ASCII words; strings, quoted identifiers and comments stay as written."""
    out = []
    for t in tokenize(text):
        out.append(t.text.lower() if t.kind == "word" and t.text.isascii() else t.text)
    return "".join(out)


def ident_name(tok: Tok) -> tuple[str, bool]:
    """(canonical name, case_sensitive) for an identifier token."""
    if tok.kind == "qident":
        name = tok.text[1:-1].replace('""', '"')
        return name, name != name.lower()
    return tok.text.lower(), False


def canonical(name: str) -> str:
    """How a name from a URL or JSON key matches a declared name: ``"Quoted"`` exact, else lower."""
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
        return name[1:-1]
    return name.lower()


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------------
# Statements

@dataclass
class Statement:
    toks: list[Tok]  # without spaces and comments
    start: int
    end: int


def split_statements(text: str) -> list[Statement]:
    stmts, cur = [], []
    for t in tokenize(text):
        if t.kind in ("space", "comment"):
            continue
        if t.kind == "punct" and t.text == ";":
            if cur:
                stmts.append(Statement(cur, cur[0].pos, t.pos))
            cur = []
        else:
            cur.append(t)
    if cur:
        stmts.append(Statement(cur, cur[0].pos, cur[-1].pos + len(cur[-1].text)))
    return stmts


class _Cursor:
    def __init__(self, stmt: Statement, program: str):
        self.toks, self.i, self.program, self.stmt = stmt.toks, 0, program, stmt

    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at(self, *words: str) -> bool:
        t = self.peek()
        return t is not None and t.upper in words

    def take(self) -> Tok:
        t = self.peek()
        if t is None:
            raise self.error("unexpected end of statement")
        self.i += 1
        return t

    def expect(self, text: str) -> Tok:
        t = self.peek()
        if t is None or t.upper != text:
            raise self.error(f"expected {text}" + (f" but found '{t.text}'" if t else " at end of statement"))
        return self.take()

    def error(self, message: str, tok: Tok | None = None, error_type: str = "Error in SQL statement") -> SqlError:
        tok = tok or self.peek() or (self.toks[-1] if self.toks else None)
        pos = tok.pos if tok else self.stmt.start
        end = pos + max(len(tok.text) - 1, 0) if tok else pos
        return SqlError(message, pos, self.program, end, error_type)

    def ident(self, what: str) -> tuple[str, bool, Tok]:
        t = self.peek()
        if t is None or t.kind not in ("word", "qident"):
            raise self.error(f"expected {what}")
        self.take()
        name, cs = ident_name(t)
        return name, cs, t

    def skip_parens(self) -> None:
        """Skip a balanced ( ... ) group starting at the current token."""
        self.expect("(")
        depth = 1
        while depth:
            t = self.take()
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1


_TYPE_ALIASES = {
    "BOOL": "BOOLEAN", "BOOLEAN": "BOOLEAN", "TINYINT": "TINYINT", "SMALLINT": "SMALLINT",
    "INT": "INTEGER", "INTEGER": "INTEGER", "BIGINT": "BIGINT", "REAL": "REAL", "FLOAT4": "REAL",
    "FLOAT": "DOUBLE", "FLOAT8": "DOUBLE", "DOUBLE": "DOUBLE", "DECIMAL": "DECIMAL", "DEC": "DECIMAL",
    "NUMERIC": "DECIMAL", "VARCHAR": "VARCHAR", "STRING": "VARCHAR", "TEXT": "VARCHAR", "CHAR": "CHAR",
    "CHARACTER": "CHAR", "DATE": "DATE", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP",
}
_UNSUPPORTED_TYPES = {"MAP", "ROW", "VARIANT", "UUID", "BINARY", "VARBINARY", "INTERVAL", "BYTEA", "BLOB"}
DEFAULT_DECIMAL = (28, 0)


def _parse_type(c: _Cursor) -> ColumnType:
    t = c.take()
    word = t.upper
    if word in _UNSUPPORTED_TYPES:
        raise c.error(f"type {word} is not supported by Sluice yet", t, "Not yet implemented")
    if word not in _TYPE_ALIASES:
        raise c.error(f"unknown type '{t.text}'", t)
    kind = _TYPE_ALIASES[word]
    precision = scale = None
    if kind == "DOUBLE" and c.at("PRECISION"):
        c.take()
    if kind == "CHAR" and c.at("VARYING"):
        c.take()
        kind = "VARCHAR"
    if kind in ("TIME", "TIMESTAMP") and c.at("("):
        c.skip_parens()  # fractional-second precision: microseconds are kept regardless
    if kind in ("TIMESTAMP", "TIME") and c.at("WITH", "WITHOUT"):
        if c.at("WITH"):
            raise c.error("time zones are not supported: use TIMESTAMP", c.peek(), "Not yet implemented")
        for w in ("WITHOUT", "TIME", "ZONE"):
            c.expect(w)
    if c.at("(") and kind in ("DECIMAL", "VARCHAR", "CHAR"):
        c.take()
        p = c.take()
        if p.kind != "number" or not p.text.isdigit():
            raise c.error("expected a length or precision", p)
        precision = int(p.text)
        if c.at(","):
            c.take()
            s = c.take()
            if s.kind != "number" or not s.text.isdigit():
                raise c.error("expected a scale", s)
            scale = int(s.text)
        c.expect(")")
    if kind == "DECIMAL":
        if precision is None:
            precision, scale = DEFAULT_DECIMAL
        scale = scale or 0
        if not 1 <= precision <= 38 or scale > precision:
            raise c.error(f"DECIMAL({precision},{scale}) is out of range: precision 1..38, scale <= precision", t)
    if kind == "CHAR" and precision is None:
        precision = 1
    ctype = ColumnType(kind, True, precision, scale)
    while c.at("ARRAY") or (c.at("[") and c.peek(1) is not None and c.peek(1).text == "]"):
        if c.at("ARRAY"):
            c.take()
        else:
            c.take(), c.take()
        ctype = ColumnType("ARRAY", True, component=ctype)
    return ctype


def _parse_properties(c: _Cursor) -> dict[str, str]:
    props: dict[str, str] = {}
    c.expect("WITH")
    c.expect("(")
    while not c.at(")"):
        k = c.take()
        c.expect("=")
        v = c.take()
        props[k.text.strip("'\"")] = v.text[1:-1].replace("''", "'") if v.kind == "string" else v.text
        if c.at(","):
            c.take()
    c.expect(")")
    return props


def _parse_table(c: _Cursor) -> Relation:
    name, cs, name_tok = c.ident("a table name")
    c.expect("(")
    columns: list[Column] = []
    pk: list[str] = []
    seen: set[str] = set()
    while True:
        if c.at("PRIMARY"):
            c.take()
            c.expect("KEY")
            c.expect("(")
            while True:
                pk.append(c.ident("a column name")[0])
                if c.at(","):
                    c.take()
                    continue
                break
            c.expect(")")
        elif c.at("FOREIGN"):
            c.take()
            c.expect("KEY")
            c.skip_parens()
            c.expect("REFERENCES")
            c.ident("a table name")
            if c.at("("):
                c.skip_parens()
        elif c.at("CONSTRAINT", "UNIQUE", "CHECK"):
            raise c.error(f"{c.peek().upper} constraints are not supported", c.peek(), "Not yet implemented")
        else:
            cname, ccs, ctok = c.ident("a column name")
            if cname in seen:
                raise c.error(f"duplicate column '{cname}'", ctok)
            seen.add(cname)
            ctype = _parse_type(c)
            nullable = True
            while c.peek() is not None and not c.at(",", ")"):
                if c.at("NOT"):
                    c.take()
                    c.expect("NULL")
                    nullable = False
                elif c.at("NULL"):
                    c.take()
                elif c.at("PRIMARY"):
                    c.take()
                    c.expect("KEY")
                    pk.append(cname)
                elif c.at("FOREIGN"):
                    c.take()
                    c.expect("KEY")
                    c.expect("REFERENCES")
                    c.ident("a table name")
                    if c.at("("):
                        c.skip_parens()
                elif c.at("LATENESS", "WATERMARK", "DEFAULT", "INTERNED"):
                    t = c.peek()
                    raise c.error(f"{t.upper} is not supported by Sluice yet", t, "Not yet implemented")
                else:
                    t = c.peek()
                    raise c.error(f"unexpected '{t.text}' in the definition of column '{cname}'", t)
            columns.append(Column(cname, ctype.with_nullable(nullable), ccs))
        if c.at(","):
            c.take()
            continue
        break
    c.expect(")")
    props = _parse_properties(c) if c.at("WITH") else {}
    if c.peek() is not None:
        raise c.error(f"unexpected '{c.peek().text}' after the table definition")
    if not columns:
        raise c.error("a table needs at least one column", name_tok)
    by_name = {col.name: col for col in columns}
    for k in pk:
        if k not in by_name:
            raise c.error(f"PRIMARY KEY names unknown column '{k}'", name_tok)
        by_name[k].type = by_name[k].type.with_nullable(False)
    rel = Relation(name, columns, "table", cs, props.get("materialized", "").lower() == "true", pk, props,
                   line=_line_col(c.program, name_tok.pos)[0])
    _check_connectors(c, lambda: check_table_connectors(rel, props))
    return rel


def _check_connectors(c: _Cursor, check) -> None:
    """Run a connector check; its error points into the text of the 'connectors' property."""
    try:
        check()
    except ConnectorConfigError as e:
        t = c.toks
        val = next((t[i] for i in range(2, len(t)) if t[i].kind == "string" and t[i - 1].text == "="
                    and t[i - 2].text.strip("'\"") == "connectors"), None)
        pos = val.pos + 1 + (e.offset or 0) if val is not None else c.stmt.start
        raise SqlError(e.message, pos, c.program, pos) from None


@dataclass
class Program:
    """A compiled program: relations in declaration order and the DuckDB statements that create them."""

    code: str
    tables: list[Relation] = field(default_factory=list)
    views: list[Relation] = field(default_factory=list)

    def relation(self, name: str) -> Relation | None:
        for r in self.tables + self.views:
            if r.name == name:
                return r
        return None

    def table(self, url_name: str) -> Relation | None:
        n = canonical(url_name)
        return next((t for t in self.tables if t.name == n), None)

    def output(self, url_name: str) -> Relation | None:
        n = canonical(url_name)
        return next((r for r in self.tables + self.views if r.name == n and r.kind != "local_view"), None)

    def table_ddl(self, t: Relation) -> str:
        cols = ", ".join(f"{quote(c.name)} {c.type.duckdb()}{'' if c.type.nullable else ' NOT NULL'}"
                         for c in t.columns)
        return f"CREATE TABLE {quote(t.name)} ({cols})"

    def view_ddl(self, v: Relation) -> str:
        return f"CREATE VIEW {quote(v.name)} AS {v.sql}"

    def schema_json(self) -> dict:
        return {
            "inputs": [t.to_json() for t in self.tables],
            "outputs": [v.to_json() for v in self.views if v.kind != "local_view"],
        }


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


def _clean_duck_message(msg: str) -> str:
    return msg.split("\n\nLINE ")[0].split("\nLINE ")[0].strip()


def compile_program(code: str) -> Program:
    """Parse and bind a program; raises ``SqlError`` with the first error's position."""
    prog = Program(code)
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        names: set[str] = set()
        for stmt in split_statements(code):
            c = _Cursor(stmt, code)
            first = c.take()
            if first.upper == "DECLARE":
                raise c.error("recursive views are not supported by Sluice yet", first, "Not yet implemented")
            if first.upper == "LATENESS":
                raise c.error("LATENESS is not supported by Sluice yet", first, "Not yet implemented")
            if first.upper != "CREATE":
                raise c.error(f"expected CREATE TABLE or CREATE VIEW, found '{first.text}'", first)
            if c.at("OR"):
                c.take()
                c.expect("REPLACE")
            kind_tok = c.peek()
            if c.at("TABLE"):
                c.take()
                t = _parse_table(c)
                if t.name in names:
                    raise c.error(f"'{t.name}' is declared twice", kind_tok)
                names.add(t.name)
                _run(con, prog.table_ddl(t), None, code)
                prog.tables.append(t)
                continue
            kind = "view"
            if c.at("MATERIALIZED"):
                c.take()
                kind = "materialized"
            elif c.at("LOCAL"):
                c.take()
                kind = "local_view"
            if not c.at("VIEW"):
                t = c.peek()
                what = t.upper if t else "end of statement"
                if what in ("FUNCTION", "TYPE", "AGGREGATE", "INDEX"):
                    raise c.error(f"CREATE {what} is not supported by Sluice yet", t, "Not yet implemented")
                raise c.error(f"expected TABLE or VIEW after CREATE, found {what}", t)
            c.take()
            vname, vcs, vtok = c.ident("a view name")
            if vname in names:
                raise c.error(f"'{vname}' is declared twice", vtok)
            col_aliases: list[str] | None = None
            if c.at("("):
                c.take()
                col_aliases = []
                while True:
                    col_aliases.append(c.ident("a column name")[0])
                    if c.at(","):
                        c.take()
                        continue
                    break
                c.expect(")")
            props = _parse_properties(c) if c.at("WITH") else {}
            _check_connectors(c, lambda: check_view_properties(vname, props))
            c.expect("AS")
            body_tok = c.peek()
            if body_tok is None:
                raise c.error("the view has no query")
            body = code[body_tok.pos: stmt.end]
            for t in c.toks[c.i:]:
                if t.upper in ("TUMBLE", "HOP", "SESSION") and t.kind == "word":
                    raise c.error(f"{t.upper} windows are not supported by Sluice yet", t, "Not yet implemented")
            folded = _fold(body)
            prefix = f"CREATE VIEW {quote(vname)}"
            if col_aliases:
                prefix += "(" + ", ".join(quote(a) for a in col_aliases) + ")"
            prefix += " AS "
            _run(con, prefix + folded, (body_tok.pos, len(prefix)), code)
            desc = con.execute(f"SELECT * FROM {quote(vname)} LIMIT 0").description
            cols = []
            for d in desc:
                n = d[0]
                cols.append(Column(n, duckdb_to_column_type(str(d[1])), n != n.lower()))
            dup = {n for n in (x.name for x in cols) if sum(1 for y in cols if y.name == n) > 1}
            if dup:
                raise c.error(f"view '{vname}' has more than one column named {sorted(dup)}: give them aliases", vtok)
            # Names are matched as DuckDB does, without regard to case, quoted or not ("AGG" is agg).
            folded_names = {n.lower(): n for n in names}
            deps = {folded_names[x.lower()] for x in (ident_name(t)[0] for t in c.toks[c.i:]
                                                       if t.kind in ("word", "qident")) if x.lower() in folded_names}
            names.add(vname)
            prog.views.append(Relation(vname, cols, "local_view" if kind == "local_view" else "view", vcs,
                                       kind == "materialized" or props.get("materialized", "").lower() == "true",
                                       [], props, folded, deps, _line_col(code, vtok.pos)[0]))
        return prog
    finally:
        con.close()


def _run(con, sql: str, body_at: tuple[int, int] | None, code: str) -> None:
    try:
        con.execute(sql)
    except duckdb.Error as e:
        msg = str(e)
        off = None
        if body_at is not None:
            rel = _duck_error_offset(msg, sql)
            if rel is not None:
                off = body_at[0] + max(0, rel - body_at[1])
            else:
                off = body_at[0]
        raise SqlError(_clean_duck_message(msg), off, code) from None


__all__ = ["SqlError", "Program", "compile_program", "canonical", "quote", "tokenize", "split_statements"]
