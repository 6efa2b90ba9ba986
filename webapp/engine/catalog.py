"""Column types and relations: what a compiled program declares, in Feldera's schema shape.

A ``ColumnType`` knows its DuckDB spelling, its Arrow type, its ``columntype`` JSON for
``program_info.schema`` and how to turn one of its values into JSON output.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Callable

import numpy
import orjson
import pyarrow as pa

INTEGER_RANGES = {
    "TINYINT": (-(2**7), 2**7 - 1),
    "SMALLINT": (-(2**15), 2**15 - 1),
    "INTEGER": (-(2**31), 2**31 - 1),
    "BIGINT": (-(2**63), 2**63 - 1),
    "UTINYINT": (0, 2**8 - 1),
    "USMALLINT": (0, 2**16 - 1),
    "UINTEGER": (0, 2**32 - 1),
    "UBIGINT": (0, 2**64 - 1),
}

_DUCK = {
    "BOOLEAN": "BOOLEAN", "TINYINT": "TINYINT", "SMALLINT": "SMALLINT", "INTEGER": "INTEGER",
    "BIGINT": "BIGINT", "REAL": "REAL", "DOUBLE": "DOUBLE", "VARCHAR": "VARCHAR", "CHAR": "VARCHAR",
    "DATE": "DATE", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP", "UTINYINT": "UTINYINT", "USMALLINT": "USMALLINT",
    "UINTEGER": "UINTEGER", "UBIGINT": "UBIGINT", "BINARY": "BLOB", "VARBINARY": "BLOB", "UUID": "UUID",
    "VARIANT": "VARIANT",
}
_ARROW = {
    "BOOLEAN": pa.bool_(), "TINYINT": pa.int8(), "SMALLINT": pa.int16(), "INTEGER": pa.int32(),
    "BIGINT": pa.int64(), "REAL": pa.float32(), "DOUBLE": pa.float64(), "VARCHAR": pa.string(),
    "CHAR": pa.string(), "DATE": pa.date32(), "TIME": pa.time64("us"), "TIMESTAMP": pa.timestamp("us"),
    "UTINYINT": pa.uint8(), "USMALLINT": pa.uint16(), "UINTEGER": pa.uint32(), "UBIGINT": pa.uint64(),
    "BINARY": pa.binary(), "VARBINARY": pa.binary(), "UUID": pa.string(),
}


@dataclass(frozen=True)
class ColumnType:
    """A SQL type as Feldera names it (``type`` is upper case: INTEGER, DECIMAL, ARRAY, ...)."""

    type: str
    nullable: bool = True
    precision: int | None = None
    scale: int | None = None
    component: "ColumnType | None" = None  # ARRAY's element
    key: "ColumnType | None" = None  # MAP's key and value
    value: "ColumnType | None" = None
    fields: "tuple[tuple[str, ColumnType, bool], ...] | None" = None  # ROW: (name, type, case_sensitive)

    def holds_json(self) -> bool:
        """MAP, ROW and VARIANT values (and arrays of them) travel into DuckDB as JSON text (``JsonText``)
        and are cast there: one spelling for every nesting, where Arrow would need one per shape."""
        if self.type == "ARRAY":
            return self.component.holds_json()
        return self.type in ("MAP", "STRUCT", "VARIANT")

    def duckdb(self) -> str:
        if self.type == "BIGINT" and self.precision == 128:
            return "HUGEINT"
        if self.type == "DECIMAL":
            return f"DECIMAL({self.precision},{self.scale})"
        if self.type == "ARRAY":
            return f"{self.component.duckdb()}[]"
        if self.type == "MAP":
            return f"MAP({self.key.duckdb()}, {self.value.duckdb()})"
        if self.type == "STRUCT":
            inner = ", ".join('"' + n.replace('"', '""') + '" ' + t.duckdb() for n, t, _ in self.fields)
            return f"STRUCT({inner})"
        return _DUCK.get(self.type, self.type)

    def arrow(self) -> pa.DataType:
        if self.type == "BIGINT" and self.precision == 128:
            return pa.decimal128(38, 0)
        if self.type == "DECIMAL":
            return pa.decimal128(self.precision, self.scale)
        if self.type == "ARRAY":
            return pa.list_(self.component.arrow())
        if self.type == "MAP":
            return pa.map_(self.key.arrow(), self.value.arrow())
        if self.type == "STRUCT":
            return pa.struct([pa.field(n, t.arrow()) for n, t, _ in self.fields])
        return _ARROW.get(self.type, pa.string())  # VARIANT: its JSON text

    def to_json(self) -> dict:
        out: dict[str, Any] = {"type": self.type, "nullable": self.nullable}
        if self.type == "BIGINT" and self.precision == 128:
            return out  # a DuckDB HUGEINT, reported as BIGINT
        if self.type == "DECIMAL":
            out["precision"] = self.precision
            out["scale"] = self.scale
        elif self.type in ("VARCHAR", "CHAR", "BINARY", "VARBINARY"):
            out["precision"] = self.precision if self.precision is not None else -1
        elif self.type == "ARRAY":
            out["component"] = self.component.to_json()
        elif self.type == "MAP":
            out["key"], out["value"] = self.key.to_json(), self.value.to_json()
        elif self.type == "STRUCT":
            out["fields"] = [{"name": n, "case_sensitive": cs, "columntype": t.to_json()} for n, t, cs in self.fields]
        return out

    def with_nullable(self, nullable: bool) -> "ColumnType":
        return replace(self, nullable=nullable)


@dataclass
class Column:
    name: str
    type: ColumnType
    case_sensitive: bool = False
    internal: str = ""  # the column's name in DuckDB (``sql.names.internal``); the user's ``name`` if unset

    def __post_init__(self):
        self.internal = self.internal or self.name

    def to_json(self) -> dict:
        return {"name": self.name, "case_sensitive": self.case_sensitive, "columntype": self.type.to_json()}


@dataclass
class Relation:
    """A table or a view of a compiled program."""

    name: str
    columns: list[Column]
    kind: str  # "table" | "view" | "local_view"
    case_sensitive: bool = False
    materialized: bool = False
    primary_key: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    sql: str = ""  # the view body as DuckDB runs it; "" for tables
    depends_on: set[str] = field(default_factory=set)
    line: int = 1
    internal: str = ""  # the relation's name in DuckDB (``sql.names.internal``); the user's ``name`` if unset

    def __post_init__(self):
        self.internal = self.internal or self.name

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "case_sensitive": self.case_sensitive,
            "fields": [c.to_json() for c in self.columns],
            "materialized": self.materialized,
            "primary_key": self.primary_key or None,
            "properties": {k: {"value": v} for k, v in self.properties.items()},
        }


def duckdb_to_column_type(duck: Any) -> ColumnType:
    """Map a DuckDB result type (a ``DuckDBPyType`` or its spelling) back to a Feldera type."""
    s = str(duck).strip().upper()
    kind = getattr(duck, "id", None)
    if kind in ("list", "map", "struct"):
        kids = duck.children
        if kind == "list":
            return ColumnType("ARRAY", component=duckdb_to_column_type(kids[0][1]))
        if kind == "map":
            return ColumnType("MAP", key=duckdb_to_column_type(kids[0][1]).with_nullable(False),
                              value=duckdb_to_column_type(kids[1][1]))
        return ColumnType("STRUCT", fields=tuple((n, duckdb_to_column_type(t), n != n.lower()) for n, t in kids))
    if s.endswith("[]"):
        return ColumnType("ARRAY", component=duckdb_to_column_type(s[:-2]))
    if s.startswith("DECIMAL"):
        p, _, sc = s[s.index("(") + 1 : s.index(")")].partition(",")
        return ColumnType("DECIMAL", precision=int(p), scale=int(sc or 0))
    simple = {
        "BOOLEAN": "BOOLEAN", "TINYINT": "TINYINT", "SMALLINT": "SMALLINT", "INTEGER": "INTEGER",
        "BIGINT": "BIGINT", "FLOAT": "REAL", "REAL": "REAL", "DOUBLE": "DOUBLE", "VARCHAR": "VARCHAR",
        "DATE": "DATE", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP", "UTINYINT": "UTINYINT",
        "USMALLINT": "USMALLINT", "UINTEGER": "UINTEGER", "UBIGINT": "UBIGINT", "BLOB": "VARBINARY", "UUID": "UUID",
        "VARIANT": "VARIANT", "JSON": "VARIANT",
    }
    if s in simple:
        return ColumnType(simple[s])
    if s in ("HUGEINT", "UHUGEINT"):
        # DuckDB sums integers into 128 bits; Feldera's SUM keeps the column's integer type. Report
        # BIGINT and write values as JSON integers (a value past 64 bits is written as a string).
        return ColumnType("BIGINT", precision=128)
    if s.startswith("TIMESTAMP"):
        return ColumnType("TIMESTAMP")
    return ColumnType(s.split("(")[0])


# ---------------------------------------------------------------------------------------------
# Values out: DuckDB gives Python objects; JSON output follows Feldera's encoding.

def _fmt_timestamp(v: _dt.datetime) -> str:
    return v.strftime("%Y-%m-%d %H:%M:%S.%f") if v.microsecond else v.strftime("%Y-%m-%d %H:%M:%S")


def _fmt_time(v: _dt.time) -> str:
    return v.strftime("%H:%M:%S.%f") if v.microsecond else v.strftime("%H:%M:%S")


def _arrow_fraction(micro: int) -> str:
    # chrono's time display, which Arrow's JSON writer uses: no fraction when zero, else in groups of three
    # digits (".456", ".123654"), not trimmed of every trailing zero.
    if not micro:
        return ""
    return f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}"


def _arrow_timestamp(v: _dt.datetime) -> str:
    return v.strftime("%Y-%m-%dT%H:%M:%S") + _arrow_fraction(v.microsecond)


def _arrow_time(v: _dt.time) -> str:
    return v.strftime("%H:%M:%S") + _arrow_fraction(v.microsecond)


def _fmt_decimal(v: Decimal) -> str:
    # Positional with the column's scale ("0.000000000000000001", "0.00"), where str() would write
    # "1E-18" and "0E-2".
    return format(v, "f")


def _real(v: float) -> float:
    # DuckDB hands a REAL over widened to a double (0.1 is 0.10000000149011612); Feldera writes the shortest
    # text that reads back as the same 32-bit value (0.1).
    return float(str(numpy.float32(v)))


def json_default(v: Any) -> Any:
    """orjson ``default=``: encodes what orjson does not know the way Feldera does."""
    if isinstance(v, Decimal):
        return _fmt_decimal(v)
    if isinstance(v, _dt.timedelta):
        return str(v)
    raise TypeError(f"cannot encode {type(v).__name__}")


_I64 = (-(2**63), 2**63 - 1)


def output_converter(t: ColumnType, hex_binary: bool = False, arrow_json: bool = False
                     ) -> Callable[[Any], Any] | None:
    """A function making one DuckDB value JSON-ready, or None where orjson's own encoding is right.
    ``hex_binary``: bytes as a lower-case hex string, as Feldera's ad-hoc query results write them (its change
    streams write an array of numbers). ``arrow_json``: the forms of Feldera's ad-hoc JSON results, which
    Arrow's JSON writer makes (bytes in hex, a DECIMAL a number with its exact digits, a TIMESTAMP with a ``T``,
    a VARIANT its JSON text); its change streams keep their own forms."""
    hex_binary = hex_binary or arrow_json
    if t.type == "BIGINT" and t.precision == 128:
        return lambda v: v if v is None or _I64[0] <= v <= _I64[1] else str(v)
    if t.type == "TIMESTAMP":
        fmt_ts = _arrow_timestamp if arrow_json else _fmt_timestamp
        return lambda v: None if v is None else fmt_ts(v)
    if t.type == "TIME":
        fmt_t = _arrow_time if arrow_json else _fmt_time
        return lambda v: None if v is None else fmt_t(v)
    if t.type == "DATE":
        return lambda v: None if v is None else v.isoformat()
    if t.type == "DECIMAL":
        if arrow_json:  # a Fragment is written as it is: every digit, where a float would round
            return lambda v: None if v is None else orjson.Fragment(_fmt_decimal(v))
        return lambda v: None if v is None else _fmt_decimal(v)
    if t.type == "REAL":
        return lambda v: None if v is None else _real(v)
    if t.type in ("BINARY", "VARBINARY"):
        if hex_binary:
            return lambda v: None if v is None else bytes(v).hex()
        return lambda v: None if v is None else list(v)  # Feldera writes bytes as an array of numbers
    if t.type == "UUID":
        return lambda v: None if v is None else str(v)
    if t.type == "ARRAY":
        inner = output_converter(t.component, hex_binary, arrow_json)
        if inner is None:
            return None
        conv = lambda v: None if v is None else [inner(x) for x in v]  # noqa: E731
        return _or_text(conv) if t.holds_json() else conv
    if t.type == "MAP" and t.key is not None:
        kc = output_converter(t.key, hex_binary, arrow_json) or _same
        vc = output_converter(t.value, hex_binary, arrow_json) or _same
        # JSON object keys are strings: a key of another type is written as its JSON text.
        return _or_text(lambda v: None if v is None else {_key_text(kc(k)): vc(x) for k, x in v.items()})
    if t.type == "STRUCT" and t.fields is not None:
        convs = [(n, output_converter(ft, hex_binary, arrow_json) or _same) for n, ft, _ in t.fields]
        return _or_text(lambda v: None if v is None else {n: c(v.get(n)) for n, c in convs})
    if t.type == "VARIANT":
        if arrow_json:  # Feldera hands a VARIANT to Arrow as a string holding its JSON text
            return lambda v: None if v is None else _variant_text(v)
        return _or_text(variant_json)
    return None


class JsonText(str):
    """A MAP, ROW or VARIANT value as ingress checked it: its JSON text, which DuckDB casts to the column's type
    and which output (the WAL's records among it) writes as it is."""


def _or_text(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: orjson.Fragment(str.__str__(v)) if isinstance(v, JsonText) else conv(v)


def variant_json(v: Any) -> Any:
    """A VARIANT value as DuckDB returns it, as the JSON value Feldera writes for it: numbers stay numbers (a
    DECIMAL with all its digits), dates and times are strings, a MAP is an object."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, Decimal):
        return orjson.Fragment(_fmt_decimal(v))
    if isinstance(v, dict):
        return {_key_text(variant_json(k)): variant_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [variant_json(x) for x in v]
    if isinstance(v, _dt.datetime):
        return _fmt_timestamp(v)
    if isinstance(v, _dt.time):
        return _fmt_time(v)
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return list(bytes(v))
    return str(v)  # UUID, INTERVAL


def _variant_text(v: Any) -> str:
    if isinstance(v, JsonText):
        return str.__str__(v)
    return orjson.dumps(variant_json(v)).decode()


def _same(v: Any) -> Any:
    return v


def _key_text(k: Any) -> str:
    if isinstance(k, orjson.Fragment):
        return orjson.dumps(k).decode()
    return k if isinstance(k, str) else json.dumps(k)


def row_encoder(columns: list[Column], hex_binary: bool = False, arrow_json: bool = False
                ) -> Callable[[tuple], dict]:
    """A function turning a result tuple into a dict with every column, ready for orjson (``hex_binary`` and
    ``arrow_json``: see ``output_converter``)."""
    names = [c.name for c in columns]
    convs = [output_converter(c.type, hex_binary, arrow_json) for c in columns]
    if not any(convs):
        return lambda row: dict(zip(names, row))
    pairs = list(zip(names, convs))

    def encode(row: tuple) -> dict:
        return {n: (c(v) if c is not None else v) for (n, c), v in zip(pairs, row)}

    return encode


def row_values(columns: list[Column], hex_binary: bool = False) -> Callable[[tuple], list]:
    """Like ``row_encoder``, but the values in column order: a result may name two columns alike
    (``SELECT a.id, b.id``), which a dict would fold into one."""
    convs = [output_converter(c.type, hex_binary, False) for c in columns]
    if not any(convs):
        return list
    return lambda row: [c(v) if c is not None else v for c, v in zip(convs, row)]


__all__ = ["ColumnType", "Column", "Relation", "duckdb_to_column_type", "row_encoder", "row_values", "json_default",
           "JsonText", "variant_json"]
