"""Which functions a view may call: the names on Feldera's SQL reference function pages, nothing else.

DuckDB has hundreds of functions Feldera does not (``LPAD``, ``LIST_SUM``, ``STRFTIME``, ...). A program that
called one would run here and then fail to compile on a Feldera cluster, which breaks the promise that a program
moves between the two unchanged. So every call in a view is checked against this list at compile time and an
unknown one is refused the way Feldera's compiler (Calcite) refuses it: ``No match found for function signature
NAME``, at the call's token.

The list is the union of the names on the reference's pages ("Index of Functions and SQL Constructs", and the
aggregate, array, binary, comparison, date/time, decimal, float, integer, JSON, map, string, UUID and table
pages). Grammar words that sqlglot parses into their own nodes (``CAST``, ``EXTRACT``, ``CASE``, ``IF``,
``ARRAY[...]``) carry no call name and are not checked here; the dialect keeps only the special function
grammars Feldera has (see ``dialect.Feldera.Parser.FUNCTION_PARSERS``).
"""

from __future__ import annotations

from sqlglot import exp

from .errors import SqlError, at_node

# The dialect stores the name a call was written with under this key (sqlglot's ORIGINAL_NAME_META_KEY).
NAME_KEY = "feldera_name"

_AGGREGATES = """
ARG_MAX ARG_MIN ARRAY_AGG AVG BIT_AND BIT_OR BIT_XOR BOOL_AND BOOL_OR COUNT COUNTIF EVERY LOGICAL_AND LOGICAL_OR
MAX MIN PERCENTILE_CONT PERCENTILE_DISC SOME STDDEV STDDEV_POP STDDEV_SAMP SUM
DENSE_RANK LAG LEAD RANK ROW_NUMBER GROUPING GROUPING_ID
"""
_ARRAYS = """
ARRAY ARRAY_APPEND ARRAY_COMPACT ARRAY_CONCAT ARRAY_CONTAINS ARRAY_DISTINCT ARRAY_EXCEPT ARRAY_EXISTS ARRAY_INSERT
ARRAY_INTERSECT ARRAY_JOIN ARRAY_LENGTH ARRAY_MAX ARRAY_MIN ARRAY_POSITION ARRAY_PREPEND ARRAY_REMOVE ARRAY_REPEAT
ARRAY_REVERSE ARRAY_SIZE ARRAY_TO_STRING ARRAY_UNION ARRAYS_OVERLAP CARDINALITY ELEMENT SORT_ARRAY TRANSFORM
SAFE_OFFSET UNNEST MAP MAP_CONTAINS_KEY
"""
_NUMBERS = """
ABS ACOS ACOSH ASIN ASINH ATAN ATAN2 ATANH BROUND CBRT CEIL CEILING COS COSH COT COTH CSC CSCH DEGREES EXP FLOOR
IS_INF IS_NAN LN LOG LOG10 MOD PI POWER RADIANS ROUND SEC SECH SEQUENCE SIGN SIN SINH SQRT TAN TANH TRUNC TRUNCATE
"""
_STRINGS = """
ASCII CHAR_LENGTH CHARACTER_LENGTH CHR CONCAT CONCAT_WS INITCAP INITCAP_SPACES LEFT LEN LENGTH LOWER MD5 OVERLAY
POSITION REGEXP_REPLACE REPEAT REPLACE RIGHT RLIKE SPLIT SPLIT_PART SUBSTR SUBSTRING TRIM UPPER
BIN2UTF8 GUNZIP OCTET_LENGTH TO_HEX TO_INT PARSE_JSON TO_JSON TYPEOF VARIANTNULL
"""
_DATES = """
CONVERT_TIMEZONE DATE_ADD DATE_PART DATE_SUB DATE_TRUNC DATEADD DATEDIFF DAYOFMONTH DAYOFWEEK EXTRACT FORMAT_DATE HOUR MINUTE MONTH
NOW PARSE_DATE PARSE_TIME PARSE_TIMESTAMP QUARTER SECOND TIME_TRUNC TIMESTAMP_TRUNC TIMESTAMPADD TIMESTAMPDIFF WEEK
YEAR
"""
_OTHERS = """
CAST SAFE_CAST CONVERT COALESCE GREATEST GREATEST_IGNORE_NULLS IF IFNULL LEAST LEAST_IGNORE_NULLS NULLIF ROW
TABLE TUMBLE HOP DESCRIPTOR
"""

FELDERA_FUNCTIONS = frozenset(" ".join((_AGGREGATES, _ARRAYS, _NUMBERS, _STRINGS, _DATES, _OTHERS)).split())

# sqlglot's special argument grammars (``f(a AS t)``, ``f(x IN y)``, ...) that are Feldera functions; the rest
# (``STRING_AGG``, ``DECODE``, ``TRY_CAST``, ``JSON_OBJECT``, ...) are read as plain calls and so refused.
SPECIAL_GRAMMARS = frozenset({"ARG_MAX", "ARG_MIN", "CAST", "CEIL", "CHR", "CONVERT", "EXTRACT", "FLOOR", "INITCAP",
                              "OVERLAY", "POSITION", "SAFE_CAST", "SUBSTRING", "TRIM"})


def called_name(node: exp.Expr) -> str | None:
    """The name a call was written with, or None for a node that is not a call written by name."""
    if isinstance(node, exp.Anonymous):
        return node.name
    if isinstance(node, exp.Func):
        name = node.meta.get(NAME_KEY) if node.meta else None
        return name if isinstance(name, str) else None
    return None


def check_calls(query: exp.Expr, code: str, fallback: int, allowed: set[str] = frozenset()) -> None:
    """Raises ``SqlError`` at the first call of a function Feldera's reference does not have and the program
    does not declare (``allowed``: the names of its ``CREATE FUNCTION`` statements)."""
    declared = {a.upper() for a in allowed}
    for node in query.walk(bfs=False):
        name = called_name(node)
        if name is not None and name.upper() not in FELDERA_FUNCTIONS and name.upper() not in declared:
            raise refused(name, node, code, fallback)


def refused(name: str, node: exp.Expr, code: str, fallback: int) -> SqlError:
    """Calcite's words for a call of a function it does not know, at ``node``'s token."""
    return at_node(f"No match found for function signature {name.upper()}", node, code, fallback)


__all__ = ["FELDERA_FUNCTIONS", "NAME_KEY", "SPECIAL_GRAMMARS", "called_name", "check_calls", "refused"]
