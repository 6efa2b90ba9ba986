"""Reading programs: Feldera's DDL in, a checked ``Program`` (relations plus DuckDB DDL) out.

The program is tokenized and parsed once with the Feldera dialect; tables come from the tree, view bodies are
rewritten into DuckDB's dialect (``translate``) and bound by DuckDB, which reports their columns. Every error
points at a token of the user's text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from ..catalog import Column, ColumnType, Relation, duckdb_to_column_type
from ..connectors import ConnectorConfigError, check_table_connectors, check_view_properties
from .dialect import parse_statement, tokenize
from .errors import (NOT_IMPLEMENTED, PARSE, STATEMENT, SqlError, at_node, at_token, feldera_message, line_col,
                     offending_word)
from . import lateness
from .argument_rewrites import AggregateArityError
from .charbin_rewrites import ArgumentTypeError
from .compound_rewrites import CompoundError
from .datetime_rewrites import IntervalError
from .names import internal, user, user_text
from .functions import check_calls
from .join_rewrites import JoinError
from .aggregate_rewrites import NullTreatmentError
from .properties import check_properties
from .udf import ArityError, declare, inline, strip_returns_not_null
from .window_rewrites import WindowError
from .translate import Translation, view_query
from .types import TypeRefused, column_type


def canonical(name: str) -> str:
    """How a name from a URL or JSON key matches a declared name: ``"Quoted"`` exact, else lower."""
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
        return name[1:-1]
    return name.lower()


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ident_name(ident: exp.Identifier) -> tuple[str, bool]:
    """(canonical name, case_sensitive) of a parsed identifier: unquoted names fold to lower case."""
    if ident.quoted:
        return ident.name, ident.name != ident.name.lower()
    return ident.name.lower(), False


@dataclass
class Program:
    """A compiled program: relations in declaration order and the DuckDB statements that create them."""

    code: str
    tables: list[Relation] = field(default_factory=list)
    views: list[Relation] = field(default_factory=list)
    # table -> column -> LATENESS value (a timedelta or a number): see sql/lateness.py and engine/lateness.py
    lateness: dict[str, dict[str, Any]] = field(default_factory=dict)

    def relation(self, name: str) -> Relation | None:
        for r in self.tables + self.views:
            if r.name == name:
                return r
        return None

    def by_internal(self, name: str) -> Relation | None:
        """The relation DuckDB knows as ``name`` (DuckDB's own parse of a view body names relations so)."""
        return next((r for r in self.tables + self.views if r.internal == name), None) or \
            next((r for r in self.tables + self.views if r.internal == name.lower()), None)

    def table(self, url_name: str) -> Relation | None:
        n = canonical(url_name)
        return next((t for t in self.tables if t.name == n), None)

    def output(self, url_name: str) -> Relation | None:
        n = canonical(url_name)
        return next((r for r in self.tables + self.views if r.name == n and r.kind != "local_view"), None)

    def table_ddl(self, t: Relation) -> str:
        cols = ", ".join(f"{quote(c.internal)} {c.type.duckdb()}{'' if c.type.nullable else ' NOT NULL'}"
                         for c in t.columns)
        return f"CREATE TABLE {quote(t.internal)} ({cols})"

    def view_ddl(self, v: Relation) -> str:
        # The column list keeps the names the view was compiled with (its own aliases, if it had them).
        cols = ", ".join(quote(c.internal) for c in v.columns)
        return f"CREATE VIEW {quote(v.internal)}({cols}) AS {v.sql}"

    def schema_json(self) -> dict:
        return {
            "inputs": [t.to_json() for t in self.tables],
            "outputs": [v.to_json() for v in self.views if v.kind != "local_view"],
        }


# ---------------------------------------------------------------------------------------------
# Statements

_NOT_YET_WORDS = {"LATENESS", "WATERMARK", "INTERNED"}
_NOT_YET_CREATE = {"AGGREGATE", "INDEX"}


def _statements(code: str) -> list[list[Token]]:
    try:
        toks = tokenize(code)
    except TokenError as e:
        raise SqlError(f"Lexical error: {e}", len(code), code, error_type=PARSE) from None
    out, cur = [], []
    for t in toks:
        if t.token_type == TokenType.SEMICOLON:
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        out.append(cur)
    return out


def _array_suffix(toks: list[Token]) -> list[Token]:
    """Feldera's `T ARRAY` type suffix as `T[]`: an ARRAY keyword not followed by `[`, `(` or `<`."""
    out = []
    for i, t in enumerate(toks):
        nxt = toks[i + 1].token_type if i + 1 < len(toks) else None
        if t.token_type == TokenType.ARRAY and nxt not in (TokenType.L_BRACKET, TokenType.L_PAREN, TokenType.LT):
            out.append(Token(TokenType.L_BRACKET, "[", t.line, t.col, t.start, t.start))
            out.append(Token(TokenType.R_BRACKET, "]", t.line, t.col, t.end, t.end))
        else:
            out.append(t)
    return out


def _parse(toks: list[Token], code: str) -> exp.Expr:
    try:
        node = parse_statement(_array_suffix(toks), code)
        if isinstance(node, exp.Command):
            # sqlglot keeps a statement it cannot read whole as raw text; the query after AS says where it stops.
            at = next((i for i, t in enumerate(toks) if t.token_type == TokenType.ALIAS), None)
            if at is not None and at + 1 < len(toks):
                parse_statement(_array_suffix(toks[at + 1:]), code)
            raise at_token(f'Encountered "{toks[-1].text}" at the end of the statement', toks[-1], code, PARSE)
        return node
    except ParseError as e:
        err = (e.errors or [{}])[0]
        line, col, word = err.get("line") or 1, err.get("col") or 1, err.get("highlight") or ""
        start = _offset(code, line, max(1, col - len(word) + 1))
        what = f'Encountered "{word}"' if word else "Encountered the end of the statement"
        raise SqlError(f"{what} at line {line}, column {col - len(word) + 1}. {err.get('description', '')}".strip(),
                       start, code, start + max(len(word) - 1, 0), PARSE) from None


def _offset(code: str, line: int, col: int) -> int:
    lines = code.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + col - 1


def _properties(node: exp.Expr) -> dict[str, str]:
    props: dict[str, str] = {}
    for p in (node.args.get("properties") or exp.Properties(expressions=[])).expressions:
        if isinstance(p, exp.Property) and isinstance(p.this, exp.Literal):
            props[p.this.name] = p.args["value"].name if isinstance(p.args.get("value"), exp.Literal) \
                else p.args["value"].sql()
    return props


def _table(node: exp.Create, code: str, start: int, user_types: dict[str, ColumnType]) -> Relation:
    schema = node.this
    name, cs = ident_name(schema.this.this)
    columns: list[Column] = []
    pk: list[str] = []
    for item in schema.expressions:
        if isinstance(item, exp.PrimaryKey):
            pk.extend(ident_name(i if isinstance(i, exp.Identifier) else i.this)[0] for i in item.expressions)
            continue
        if isinstance(item, exp.ForeignKey):
            continue  # accepted, not enforced (as Feldera)
        if not isinstance(item, exp.ColumnDef):
            raise at_node(f"{type(item).__name__.upper()} constraints are not supported by Sluice yet", item, code,
                          start, NOT_IMPLEMENTED)
        cname, ccs = ident_name(item.this)
        if any(c.name == cname for c in columns):
            raise at_node(f"duplicate column '{cname}'", item.this, code, start)
        try:
            ctype = column_type(item.args["kind"], f"column '{cname}'", user_types)
        except TypeRefused as e:
            where = e.node if any(n.meta for n in e.node.walk()) else item
            raise at_node(e.message, where, code, start, NOT_IMPLEMENTED if e.not_yet else "Error in SQL statement") \
                from None
        nullable = True
        for c in item.args.get("constraints") or []:
            k = c.kind
            if isinstance(k, exp.NotNullColumnConstraint):
                nullable = bool(k.args.get("allow_null"))
            elif isinstance(k, exp.PrimaryKeyColumnConstraint):
                pk.append(cname)
            elif isinstance(k, exp.Reference):
                continue
            else:
                what = type(k).__name__.replace("ColumnConstraint", "").upper() or "this constraint"
                raise at_node(f"{what} is not supported by Sluice yet", c, code, start, NOT_IMPLEMENTED)
        columns.append(Column(cname, ctype.with_nullable(nullable), ccs, internal(cname)))
    if not columns:
        raise at_node("a table needs at least one column", schema.this, code, start)
    by_name = {c.name: c for c in columns}
    for k in pk:
        if k not in by_name:
            raise at_node(f"PRIMARY KEY names unknown column '{k}'", schema.this, code, start)
        by_name[k].type = by_name[k].type.with_nullable(False)
    check_properties(node, "table", code, start)
    props = _properties(node)
    rel = Relation(name, columns, "table", cs, props.get("materialized", "").lower() == "true", pk, props,
                   line=line_col(code, start)[0], internal=internal(name))
    _check_connectors(node, code, start, lambda: check_table_connectors(rel, props))
    return rel


def _check_connectors(node: exp.Expr, code: str, start: int, check) -> None:
    """Run a connector check; its error points into the text of the 'connectors' property."""
    try:
        check()
    except ConnectorConfigError as e:
        value = next((p.args.get("value") for p in (node.args.get("properties") or exp.Properties(expressions=[]))
                      .expressions if isinstance(p, exp.Property) and isinstance(p.this, exp.Literal)
                      and p.this.name == "connectors"), None)
        meta = getattr(value, "meta", None) or {}
        pos = meta["start"] + 1 + (e.offset or 0) if "start" in meta else start
        raise SqlError(e.message, pos, code, pos) from None


_WINDOWS = {"SESSION"}  # TUMBLE and HOP: see window_rewrites


def _refuse_words(toks: list[Token], code: str) -> None:
    for i, t in enumerate(toks):
        word = t.text.upper()
        if t.token_type in (TokenType.VAR, TokenType.DEFAULT) and word in _NOT_YET_WORDS | {"DEFAULT"}:
            raise at_token(f"{word} is not supported by Sluice yet", t, code, NOT_IMPLEMENTED)
        called = i + 1 < len(toks) and toks[i + 1].token_type == TokenType.L_PAREN
        if word in _WINDOWS and called and t.token_type != TokenType.STRING:
            raise at_token(f"{word} windows are not supported by Sluice yet", t, code, NOT_IMPLEMENTED)


# What follows CREATE at the start of a statement.
_STATEMENT_KINDS = {"TABLE", "VIEW", "MATERIALIZED", "LOCAL", "FUNCTION", "TYPE", "OR", "INDEX", "AGGREGATE"}


def compile_program(code: str) -> Program:
    """Parse and bind a program; raises ``SqlError`` with the first error's position."""
    prog = Program(code)
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        names: set[str] = set()  # the declared names, as Feldera compares them (exactly, after folding)
        tr = Translation(code)
        user_types: dict[str, ColumnType] = {}  # CREATE TYPE, by name
        for toks in _statements(code):
            first = toks[0]
            word = first.text.upper()
            if word == "DECLARE":
                raise at_token("recursive views are not supported by Sluice yet", first, code, NOT_IMPLEMENTED)
            if word in _NOT_YET_WORDS:
                raise at_token(f"{word} is not supported by Sluice yet", first, code, NOT_IMPLEMENTED)
            if word != "CREATE":
                raise at_token(f"expected CREATE TABLE or CREATE VIEW, found '{first.text}'", first, code)
            # CREATE followed by what starts a statement, inside this one: the ';' before it is missing (else
            # the parser reports the end of the two statements run together, a line below the fault). A
            # column named create is no statement start; the parser answers that.
            again = next((t for t, n in zip(toks[1:], toks[2:]) if t.token_type == TokenType.CREATE
                          and n.text.upper() in _STATEMENT_KINDS), None)
            if again is not None:
                raise at_token('Encountered "CREATE": a statement ends with ";", and the one before this '
                               "CREATE has none", again, code, PARSE)
            i = 1
            if len(toks) > 2 and toks[1].text.upper() == "OR" and toks[2].text.upper() == "REPLACE":
                i = 3
            kind_tok = toks[i] if i < len(toks) else first
            kind_word = kind_tok.text.upper()
            if kind_word in _NOT_YET_CREATE:
                raise at_token(f"CREATE {kind_word} is not supported by Sluice yet", kind_tok, code, NOT_IMPLEMENTED)
            if kind_word == "TYPE":
                name, ctype = _user_type(toks, i, code, user_types)
                user_types[name] = ctype
                continue
            local = kind_word == "LOCAL"
            if local:
                toks = toks[:i] + toks[i + 1:]
            if kind_word == "FUNCTION":
                fnode = _parse(strip_returns_not_null(toks), code)
                if not isinstance(fnode, exp.Create):
                    raise at_token("expected CREATE FUNCTION", first, code, PARSE)
                f = declare(fnode, tr.functions, code, kind_tok.start, kind_tok)
                tr.functions[f.name] = f
                continue
            if kind_word not in ("TABLE", "VIEW", "MATERIALIZED", "LOCAL"):
                raise at_token(f"expected TABLE or VIEW after CREATE, found {kind_tok.text}", kind_tok, code)
            late = []
            if kind_word == "TABLE":
                toks, late = lateness.split(toks)
            _refuse_words(toks, code)
            node = _parse(toks, code)
            if not isinstance(node, exp.Create):
                raise at_token("expected CREATE TABLE or CREATE VIEW", first, code, PARSE)
            if kind_word == "TABLE":
                t = _table(node, code, kind_tok.start, user_types)
                _declare(names, t.name, node.this.this, code, kind_tok.start)
                _run(con, prog.table_ddl(t), code, first.start)
                if late:
                    prog.lateness[t.name] = lateness.evaluate(con, late, t, code, lambda q: view_query(q, tr))
                # Feldera materializes a table with a PRIMARY KEY by itself (it keeps an index to enforce the
                # key), unless LATENESS is declared on a key column: then only 'materialized' = 'true' does.
                if t.primary_key and not set(prog.lateness.get(t.name, {})) & set(t.primary_key):
                    t.materialized = True
                tr.add(t)
                prog.tables.append(t)
                continue
            _expand_user_types(node, user_types)
            prog.views.append(_view(con, tr, names, node, code, local, kind_tok.start))
        return prog
    finally:
        con.close()


def _user_type(toks: list[Token], i: int, code: str, user_types: dict[str, ColumnType]) -> tuple[str, ColumnType]:
    """``CREATE TYPE name AS (field type, ...)``: a ROW type, read as the column list of a table by that name."""
    kind_tok = toks[i]
    if len(toks) < i + 4 or toks[i + 2].token_type != TokenType.ALIAS or toks[i + 3].token_type != TokenType.L_PAREN:
        raise at_token("CREATE TYPE is supported by Sluice only as CREATE TYPE name AS (field type, ...)", kind_tok,
                       code, NOT_IMPLEMENTED)
    table_tok = Token(TokenType.TABLE, "TABLE", kind_tok.line, kind_tok.col, kind_tok.start, kind_tok.end)
    node = _parse(toks[:i] + [table_tok, toks[i + 1]] + toks[i + 3:], code)
    ident = node.this.this.this
    name = ident.name if ident.quoted else ident.name.lower()
    if name in user_types:
        raise at_node(f"type '{name}' is declared twice", ident, code, kind_tok.start)
    fields = []
    for item in node.this.expressions:
        if not isinstance(item, exp.ColumnDef):
            raise at_node("a type's fields are names and types", item, code, kind_tok.start)
        fname, fcs = ident_name(item.this)
        try:
            ftype = column_type(item.args["kind"], f"field '{fname}'", user_types)
        except TypeRefused as e:
            raise at_node(e.message, e.node, code, kind_tok.start,
                          NOT_IMPLEMENTED if e.not_yet else "Error in SQL statement") from None
        nullable = not any(isinstance(c.kind, exp.NotNullColumnConstraint) and not c.kind.args.get("allow_null")
                           for c in item.args.get("constraints") or [])
        fields.append((fname, ftype.with_nullable(nullable), fcs))
    return name, ColumnType("STRUCT", fields=tuple(fields))


def _expand_user_types(node: exp.Expr, user_types: dict[str, ColumnType]) -> None:
    """``CAST(x AS name)`` of a ``CREATE TYPE`` name in a view: the name becomes its ROW type."""
    for dt in list(node.find_all(exp.DataType)):
        if dt.this == exp.DataType.Type.USERDEFINED:
            kind = dt.args.get("kind")
            key = kind if isinstance(kind, str) else getattr(kind, "name", str(kind))
            found = user_types.get(key) or user_types.get(key.lower())
            if found is not None:
                dt.replace(exp.DataType.build(found.duckdb(), dialect="duckdb"))


def _declare(names: set[str], name: str, ident: exp.Expr, code: str, start: int) -> None:
    # Names that differ only in case are two relations (DuckDB holds them under ``names.internal``).
    if name in names:
        raise at_node(f"'{name}' is declared twice", ident, code, start)
    names.add(name)


def _view(con, tr: "Translation", names: set[str], node: exp.Create, code: str, local: bool,
          start: int) -> Relation:
    target = node.this
    aliases: list[str] | None = None
    if isinstance(target, exp.Schema):
        aliases = [ident_name(i)[0] for i in target.expressions]
        target = target.this
    vname, vcs = ident_name(target.this)
    _declare(names, vname, target.this, code, start)
    check_properties(node, "view", code, start)
    props = _properties(node)
    _check_connectors(node, code, start, lambda: check_view_properties(vname, props))
    materialized = any(isinstance(p, exp.MaterializedProperty)
                       for p in (node.args.get("properties") or exp.Properties(expressions=[])).expressions)
    query = node.expression
    if query is None:
        raise at_node("the view has no query", target, code, start)
    check_calls(query, code, query_start(query, start), allowed=set(tr.functions))
    for op in query.find_all(exp.Intersect, exp.Except):
        if op.args.get("distinct") is False:  # Feldera's compiler has no INTERSECT ALL or EXCEPT ALL either
            raise at_node(f"{op.key.upper()} ALL is not implemented", op, code, query_start(query, start),
                          NOT_IMPLEMENTED)
    try:
        sql, deps = view_query(inline(query.copy(), tr.functions), tr)
    except ArgumentTypeError as e:
        m = e.node.meta or {}
        name = code[m["start"]:m["end"] + 1] if "start" in m else e.node.key.upper()
        raise at_node(e.message(name), e.node, code, query_start(query, start)) from None
    except (IntervalError, CompoundError, WindowError, JoinError, ArityError, AggregateArityError,
            NullTreatmentError) as e:
        kind = PARSE if getattr(e, "parse", False) else NOT_IMPLEMENTED if getattr(e, "not_yet", False) else STATEMENT
        raise at_node(str(e), e.node, code, query_start(query, start), kind) from None
    prefix = f"CREATE VIEW {quote(internal(vname))}"
    if aliases:
        prefix += "(" + ", ".join(quote(internal(a)) for a in aliases) + ")"
    _run(con, prefix + " AS " + sql, code, query_start(query, start), sql_for_errors=(query, tr))
    desc = con.execute(f"SELECT * FROM {quote(internal(vname))} LIMIT 0").description
    nullable = tr.pending_nullable if tr.pending_nullable is not None and len(tr.pending_nullable) == len(desc) \
        else [True] * len(desc)
    cols = [Column(user(d[0]), duckdb_to_column_type(d[1]).with_nullable(n), user(d[0]) != user(d[0]).lower(), d[0])
            for d, n in zip(desc, nullable)]
    dup = sorted({c.name for c in cols if sum(1 for x in cols if x.name == c.name) > 1})
    if dup:
        raise at_node(f"view '{vname}' has more than one column named {dup}: give them aliases", target, code, start)
    rel = Relation(vname, cols, "local_view" if local else "view", vcs,
                   materialized or props.get("materialized", "").lower() == "true", [], props, sql,
                   {d for d in deps if d in names and d != vname}, line_col(code, start)[0], internal(vname))
    tr.add(rel)
    return rel


def query_start(query: exp.Expr, fallback: int) -> int:
    starts = [n.meta["start"] for n in query.walk() if n.meta and "start" in n.meta]
    return min(starts) if starts else fallback


def _run(con, sql: str, code: str, fallback: int, sql_for_errors=None) -> None:
    try:
        con.execute(sql)
    except duckdb.Error as e:
        msg = str(e)
        off, end = fallback, None
        word = offending_word(msg, sql)
        word = user(word) if word is not None else None
        if word is not None and sql_for_errors is not None:
            node = _find_word(sql_for_errors[0], word)
            if node is not None:
                off, end = node.meta["start"], node.meta["end"]
        raise SqlError(feldera_message(user_text(msg)), off, code, end) from None


def _find_word(query: exp.Expr, word: str) -> exp.Expr | None:
    """The first node of the user's query spelled ``word`` (DuckDB's caret points into the translated text)."""
    low = word.lower()
    for n in query.walk(bfs=False):
        if n.meta and "start" in n.meta and isinstance(n, (exp.Identifier, exp.Anonymous, exp.Func)):
            name = n.name if isinstance(n, exp.Identifier) else (n.this if isinstance(n, exp.Anonymous) else n.sql_name())
            if isinstance(name, str) and name.lower() == low:
                return n
    return None



__all__ = ["Program", "compile_program", "canonical", "quote", "ident_name"]
