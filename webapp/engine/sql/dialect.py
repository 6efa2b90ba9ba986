"""Feldera's SQL as a sqlglot dialect: its tokens, type names and function names.

Feldera's compiler is Calcite with Feldera's settings: unquoted names fold to lower case, quoted names keep
theirs, strings are in single quotes, identifiers in double quotes, and ``INT8`` is a 64-bit integer (the base
dialect reads it as ClickHouse's 8-bit one). Parsing a program with this dialect gives a tree with each node's
source position; ``translate`` rewrites that tree into DuckDB's dialect.
"""

from __future__ import annotations

from sqlglot import exp, parser, tokens
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.tokens import TokenType

from .datetime_rewrites import QUALIFIER_UNITS, IntervalDiff
from . import window_rewrites
from .functions import NAME_KEY, SPECIAL_GRAMMARS


def _named(name: str, parse):
    """A special call grammar whose node remembers the name and token it was called with."""
    def run(self):
        token = self._tokens[self._index - 2]  # the name; the parser has just passed it and `(`
        node = parse(self)
        if isinstance(node, exp.Expr):
            node.meta[NAME_KEY] = name
            node.update_positions(token)
        return node
    return run


def _counted(klass):
    """A one-argument aggregate that keeps how many arguments it was called with (``arg_count``), so that a call
    with more is refused by name (``argument_rewrites``) instead of losing them."""
    def build(args):
        node = klass(this=args[0] if args else None)
        node.meta["arg_count"] = len(args)
        node.is_var_len_args = True  # so that the parser leaves the count to argument_rewrites' message
        return node
    return build


def _date_part(args):
    if len(args) == 2 and isinstance(args[0], (exp.Column, exp.Var)):
        return exp.Extract(this=exp.var(args[0].name.upper()), expression=args[1])
    return exp.Anonymous(this="DATE_PART", expressions=args)


class Feldera(Dialect):
    NORMALIZATION_STRATEGY = NormalizationStrategy.LOWERCASE
    # Calcite divides integers as integers (7 / 2 is 3) and a zero divisor is an error, not NULL.
    TYPED_DIVISION = True
    SAFE_DIVISION = False
    CONCAT_COALESCE = False
    INDEX_OFFSET = 1  # arrays are 1-based, as in DuckDB
    # Each call keeps the name it was written with, which `functions.check_calls` checks against the reference.
    ORIGINAL_NAME_META_KEY = NAME_KEY

    class Tokenizer(tokens.Tokenizer):
        QUOTES = ["'"]
        IDENTIFIERS = ['"']
        HEX_STRINGS = [("x'", "'"), ("X'", "'")]  # a BINARY literal (charbin_rewrites writes it for DuckDB)
        STRING_ESCAPES = ["'"]
        KEYWORDS = {
            **tokens.Tokenizer.KEYWORDS,
            # Feldera's aliases (SQL reference, "Data Types").
            "INT2": TokenType.SMALLINT,
            "INT4": TokenType.INT,
            "INT8": TokenType.BIGINT,
            "INT64": TokenType.BIGINT,
            "SIGNED": TokenType.INT,
            "FLOAT4": TokenType.FLOAT,
            "FLOAT32": TokenType.FLOAT,
            "FLOAT8": TokenType.DOUBLE,
            "FLOAT64": TokenType.DOUBLE,
            "STRING": TokenType.TEXT,
            "DEC": TokenType.DECIMAL,
            "NUMBER": TokenType.DECIMAL,
            "BYTEA": TokenType.VARBINARY,
            "DATETIME": TokenType.TIMESTAMP,
            "ROW": TokenType.STRUCT,
            "MATCH_CONDITION": TokenType.MATCH_CONDITION,  # of ASOF JOIN
            "MINUS": TokenType.EXCEPT,  # Calcite's synonym
            # Sluice has read FLOAT as DOUBLE since its first release (FLOAT4 stays REAL).
            "FLOAT": TokenType.DOUBLE,
            # A Sluice extension kept from its DuckDB days: `a // b` divides integers (Feldera's `/` does too).
            "//": TokenType.DIV,
        }

    class Parser(parser.Parser):
        LOG_BASE_FIRST = False  # Feldera's LOG(value, base); LOG(value) is the natural logarithm
        LOG_DEFAULTS_TO_LN = True
        def _parse_join_parts(self):
            # Feldera writes the side before the method: `LEFT ASOF JOIN`.
            method = self._prev if self._match_set(self.JOIN_METHODS) else None
            side = self._prev if self._match_set(self.JOIN_SIDES) else None
            if side is not None and method is None:
                method = self._prev if self._match_set(self.JOIN_METHODS) else None
            return method, side, self._prev if self._match_set(self.JOIN_KINDS) else None

        def _parse_wrapped(self, parse_method, optional=False):
            # sqlglot reads MATCH_CONDITION's parentheses as one `<`/`>` comparison, so `(l.ts = r.ts)` was a
            # parse error; read any condition, which `join_rewrites` refuses in Feldera's words.
            if self._prev is not None and self._prev.token_type == TokenType.MATCH_CONDITION \
                    and parse_method == self._parse_comparison:
                parse_method = self._parse_disjunction
            return super()._parse_wrapped(parse_method, optional)

        def _parse_paren(self):
            return _interval_qualifier(self, super()._parse_paren())

        # The special call grammars Feldera does not have (STRING_AGG, DECODE, TRY_CAST, ...) still parse, and
        # keep their name and token so that `functions.check_calls` refuses them by name.
        FUNCTION_PARSERS = {**{k: v if k in SPECIAL_GRAMMARS else _named(k, v)
                               for k, v in parser.Parser.FUNCTION_PARSERS.items()},
                            # Window table functions take `TABLE t` and `name => value` arguments.
                            **{k: window_rewrites.parse_arguments(k) for k in window_rewrites.PARAMETERS}}
        FUNCTIONS = {
            **parser.Parser.FUNCTIONS,
            # Calcite's names for what sqlglot already models.
            "EVERY": _counted(exp.LogicalAnd),
            "SOME": _counted(exp.LogicalOr),
            "BOOL_AND": _counted(exp.LogicalAnd),
            "BOOL_OR": _counted(exp.LogicalOr),
            "LOGICAL_AND": _counted(exp.LogicalAnd),
            "LOGICAL_OR": _counted(exp.LogicalOr),
            "ARRAY_AGG": _counted(exp.ArrayAgg),
            "COUNTIF": _counted(exp.CountIf),
            # Calcite's argument order (unit first); `translate` writes them for DuckDB.
            "TIMESTAMPDIFF": lambda args: exp.Anonymous(this="TIMESTAMPDIFF", expressions=args),
            "TIMESTAMPADD": lambda args: exp.Anonymous(this="TIMESTAMPADD", expressions=args),
            # SPLIT's delimiter is optional (a comma); `translate` gives Feldera's empty-string rules.
            "SPLIT": lambda args: exp.Split(this=args[0], expression=args[1] if len(args) > 1 else exp.Literal.string(",")),
            "RLIKE": exp.RegexpLike.from_arg_list,
            "DATEDIFF": lambda args: exp.Anonymous(this="TIMESTAMPDIFF", expressions=args),
            "DATEADD": lambda args: exp.Anonymous(this="TIMESTAMPADD", expressions=args),
            # "DATE_PART is a synonym for EXTRACT": DATE_PART(YEAR, ts) names its unit with a bare word.
            "DATE_PART": _date_part,
            # Feldera's order: the value first, then the unit.
            "DATE_TRUNC": lambda args: exp.Anonymous(this="DATE_TRUNC", expressions=args),
            "TIMESTAMP_TRUNC": lambda args: exp.Anonymous(this="TIMESTAMP_TRUNC", expressions=args),
            "TIME_TRUNC": lambda args: exp.Anonymous(this="TIME_TRUNC", expressions=args),
            "FORMAT_DATE": lambda args: exp.Anonymous(this="FORMAT_DATE", expressions=args),
            "PARSE_DATE": lambda args: exp.Anonymous(this="PARSE_DATE", expressions=args),
            "PARSE_TIME": lambda args: exp.Anonymous(this="PARSE_TIME", expressions=args),
            "PARSE_TIMESTAMP": lambda args: exp.Anonymous(this="PARSE_TIMESTAMP", expressions=args),
        }



def _interval_qualifier(p: parser.Parser, this):
    """Calcite's ``(a - b) SECOND`` / ``(a - b) DAY TO SECOND``: a parenthesized expression followed by an interval
    qualifier is a difference as an interval (the qualifier words are reserved in Calcite, so they are no alias)."""
    cur = p._curr
    if not isinstance(this, exp.Paren) or cur is None or cur.token_type != TokenType.VAR \
            or cur.text.upper() not in QUALIFIER_UNITS:
        return this
    first, last = cur.text.upper(), None
    p._advance()
    if p._curr and p._curr.text.upper() == "TO" and p._next and p._next.text.upper() in QUALIFIER_UNITS:
        last = p._next.text.upper()
        p._advance(2)
    return p.expression(IntervalDiff(this=this, unit=first, to=last)).update_positions(cur)


def parse_statement(raw_tokens: list, program: str) -> exp.Expr:
    """One statement's tokens, parsed with positions relative to the whole program."""
    return Feldera().parser().parse(raw_tokens, program)[0]


def tokenize(program: str) -> list:
    """The program's tokens (``.start``/``.end`` are offsets, ``.line``/``.col`` 1-based)."""
    return Feldera().tokenize(program)


__all__ = ["Feldera", "parse_statement", "tokenize"]
