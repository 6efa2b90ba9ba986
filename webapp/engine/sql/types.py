"""Feldera's column types from the parsed tree: a sqlglot ``DataType`` in, a catalog ``ColumnType`` out.

Every type of Feldera's reference ("Data Types") is either mapped here or refused by name: nothing a program
declares is silently read as something else.
"""

from __future__ import annotations

from sqlglot import exp

from ..catalog import ColumnType

T = exp.DataType.Type
DEFAULT_DECIMAL = (28, 0)
MAX_DECIMAL_PRECISION = 38

_SIMPLE = {
    T.BOOLEAN: "BOOLEAN", T.TINYINT: "TINYINT", T.SMALLINT: "SMALLINT", T.INT: "INTEGER", T.BIGINT: "BIGINT",
    T.UTINYINT: "UTINYINT", T.USMALLINT: "USMALLINT", T.UINT: "UINTEGER", T.UBIGINT: "UBIGINT",
    T.FLOAT: "REAL", T.DOUBLE: "DOUBLE", T.DATE: "DATE", T.TIME: "TIME", T.TIMESTAMP: "TIMESTAMP",
    T.DATETIME: "TIMESTAMP", T.UUID: "UUID", T.VARBINARY: "VARBINARY", T.TEXT: "VARCHAR",
}
_NOT_YET = {
    T.INTERVAL: "INTERVAL", T.TIMESTAMPTZ: "TIMESTAMP WITH TIME ZONE",
    T.TIMETZ: "TIME WITH TIME ZONE", T.GEOMETRY: "GEOMETRY", T.GEOGRAPHY: "GEOMETRY", T.NULL: "NULL",
}


class TypeRefused(Exception):
    """Raised for a declared type Sluice does not hold; ``node`` locates it, ``not_yet`` says whether Feldera has it."""

    def __init__(self, message: str, node: exp.Expr, not_yet: bool = True):
        super().__init__(message)
        self.message, self.node, self.not_yet = message, node, not_yet


def _params(dt: exp.DataType) -> list[int]:
    out = []
    for p in dt.expressions:
        if isinstance(p, exp.DataTypeParam) and isinstance(p.this, exp.Literal) and not p.this.is_string:
            out.append(int(p.this.name))
    return out


def column_type(dt: exp.DataType, where: str, user_types: dict[str, ColumnType] | None = None) -> ColumnType:
    """The catalog type for a declared type; ``where`` names the column in refusals; ``user_types`` holds the
    program's ``CREATE TYPE`` declarations so far, by name (a ROW type each)."""
    if isinstance(dt, exp.Cast) and isinstance(dt.this, exp.Array) and not dt.this.expressions:
        # `MAP<K, V> ARRAY` (as `MAP<K, V>[]`): sqlglot reads an empty array literal cast to the MAP type.
        return ColumnType("ARRAY", component=column_type(dt.to, where, user_types))
    t = T.INTERVAL if isinstance(dt.this, exp.Interval) else dt.this
    if t == T.USERDEFINED:
        name = dt.args.get("kind")
        key = name if isinstance(name, str) else getattr(name, "name", str(name))
        found = (user_types or {}).get(key) or (user_types or {}).get(key.lower())
        if found is None:
            raise TypeRefused(f"{where}: unknown type '{key}'", dt, False)
        return found
    if t in (T.VARIANT, T.JSON):
        return ColumnType("VARIANT")
    if t in _NOT_YET:
        if t == T.INTERVAL:
            # Feldera's reference: INTERVAL is not allowed in table schemas or output views.
            raise TypeRefused(f"{where}: INTERVAL columns are not allowed in tables or views", dt, False)
        raise TypeRefused(f"{where}: type {_NOT_YET[t]} is not supported by Sluice yet", dt)
    if t == T.ARRAY or (t == T.LIST):
        return ColumnType("ARRAY", component=column_type(dt.expressions[0], where, user_types))
    if t == T.MAP:
        k, v = dt.expressions
        # Feldera: MAP keys are never nullable, values always are.
        return ColumnType("MAP", key=column_type(k, where, user_types).with_nullable(False),
                          value=column_type(v, where, user_types))
    if t == T.STRUCT:
        fields = []
        for f in dt.expressions:
            name = f.this
            nullable = not any(isinstance(c.kind, exp.NotNullColumnConstraint) and not c.kind.args.get("allow_null")
                               for c in f.args.get("constraints") or [])
            fields.append((name.name if name.quoted else name.name.lower(),
                           column_type(f.args["kind"], where, user_types).with_nullable(nullable), bool(name.quoted)))
        return ColumnType("STRUCT", fields=tuple(fields))
    params = _params(dt)
    if t in (T.DECIMAL, T.BIGDECIMAL):
        p, s = (params + [None, None])[:2]
        if p is None:
            p, s = DEFAULT_DECIMAL
        s = s or 0
        if not 1 <= p <= MAX_DECIMAL_PRECISION or s > p:
            raise TypeRefused(f"{where}: DECIMAL({p},{s}) is out of range: precision 1..{MAX_DECIMAL_PRECISION}, "
                              "scale at most the precision", dt, False)
        return ColumnType("DECIMAL", precision=p, scale=s)
    if t in (T.CHAR, T.NCHAR):
        return ColumnType("CHAR", precision=params[0] if params else 1)
    if t in (T.VARCHAR, T.NVARCHAR):
        return ColumnType("VARCHAR", precision=params[0] if params else None)
    if t == T.BINARY:
        return ColumnType("BINARY", precision=params[0] if params else 1)
    if t in (T.TIME, T.TIMESTAMP) and params and params[0] > 6:
        # DuckDB keeps microseconds: a declared finer precision would be cut silently.
        raise TypeRefused(f"{where}: {_SIMPLE[t]}({params[0]}) is not supported by Sluice yet: precision is at "
                          "most 6 (microseconds)", dt)
    if t in _SIMPLE:
        return ColumnType(_SIMPLE[t])
    raise TypeRefused(f"{where}: unknown type '{dt.sql()}'", dt, False)


__all__ = ["TypeRefused", "column_type", "DEFAULT_DECIMAL", "MAX_DECIMAL_PRECISION"]
