"""Feldera's MAP, ROW and VARIANT forms as DuckDB expressions (the reference's "Operations on Maps" and
"Dynamically-typed values and JSON support" pages).

A VARIANT is DuckDB's VARIANT, which keeps each value's runtime type; a JSON value becomes one through DuckDB's
JSON type. Indexing (``v['key']``, ``v[1]``, ``m['key']``) is DuckDB's own and already gives NULL for a missing
key or a value of another shape, as Feldera does.

``UNNEST(array of ROWs) [WITH ORDINALITY] AS t(a, b[, n])`` gives each ROW's fields as columns (Calcite's
rule); DuckDB's UNNEST gives the ROW as one column, so its fields are taken out in a subquery over it.

A ROW value indexed by position (``r[2]``, its second field) is DuckDB's ``struct_extract_at``: DuckDB's
``r[2]`` takes a position only in a ROW whose fields have no names. That the value is a ROW, and its number of
fields, come from translate's typing pass (``note_types``).
"""

from __future__ import annotations

from sqlglot import exp

from ._template import fill, template

T = exp.DataType.Type

_TEMPLATES = {
    # "returns a VARIANT object, or NULL if parsing fails"
    "parse_json": template("CASE WHEN json_valid(CAST(__s AS VARCHAR)) "
                           "THEN CAST(CAST(CAST(__s AS VARCHAR) AS JSON) AS VARIANT) END"),
    "to_json": template("CAST(CAST(__v AS JSON) AS VARCHAR)"),
    # A MAP as a VARIANT keeps its keys (DuckDB's own cast makes a list of entries, which ['key'] cannot read).
    "map_to_variant": template("CAST(CAST(__m AS JSON) AS VARIANT)"),
}
# TYPEOF: DuckDB reads a JSON number as BIGINT or DOUBLE where Feldera reads a DECIMAL, so its names would
# differ. VARIANTNULL: DuckDB's VARIANT null is a SQL NULL (`IS NULL` is true, `=` is NULL), Feldera's is not.
_REFUSED = {"TYPEOF": "TYPEOF of a VARIANT", "VARIANTNULL": "VARIANTNULL()"}


class CompoundError(ValueError):
    """A MAP/ROW/VARIANT form Sluice cannot give Feldera's answer for; ``node`` locates it."""

    def __init__(self, message: str, node: exp.Expr, not_yet: bool = False):
        super().__init__(message)
        self.node, self.not_yet = node, not_yet


def is_map_literal(node: exp.Expr) -> bool:
    """``MAP[k, v, ...]``: the parser reads it as indexing a column named MAP (a reserved word in Feldera,
    so a column by that name is always quoted)."""
    head = node.this if isinstance(node, exp.Bracket) else None
    return isinstance(head, exp.Column) and not head.table and head.this.name.lower() == "map" \
        and not head.this.quoted


TYPED = (exp.Bracket, exp.Unnest)


def note_types(node: exp.Expr, typed: exp.Expr) -> None:
    """Keep on an indexed ROW value, or an UNNEST of an array of ROWs, the ROW's number of fields, read from
    ``typed`` (its typed copy)."""
    if isinstance(node, exp.Unnest):
        arr = typed.expressions[0].type if len(typed.expressions) == 1 else None
        base = arr.expressions[0] if arr is not None and arr.this == T.ARRAY and arr.expressions else None
    else:
        base = typed.this.type if typed.this is not None else None
    if base is not None and base.this == T.STRUCT:
        node.meta["row_fields"] = len(base.expressions)


def _unnest_rows(node: exp.Unnest) -> exp.Expr | None:
    fields = node.meta.pop("row_fields", None)
    alias = node.args.get("alias")
    names = alias.columns if alias is not None else []
    if not fields or len(names) != fields:
        return None
    ordinal = node.args.get("offset")
    row = exp.column("__row", quoted=True)
    cols = [exp.alias_(exp.Anonymous(this="struct_extract_at", expressions=[row.copy(), exp.Literal.number(i)]),
                       name.copy()) for i, name in enumerate(names, start=1)]
    inner = exp.Unnest(expressions=node.expressions, alias=exp.TableAlias(
        this=exp.to_identifier("__rows", quoted=True), columns=[exp.to_identifier("__row", quoted=True)]))
    if isinstance(ordinal, exp.Identifier):
        inner.set("offset", exp.to_identifier("__n", quoted=True))
        cols.append(exp.alias_(exp.column("__n", quoted=True), ordinal.copy()))
    return exp.Subquery(this=exp.Select(expressions=cols).from_(inner),
                        alias=exp.TableAlias(this=alias.this.copy()))


def _row_field(node: exp.Bracket) -> exp.Expr | None:
    fields = node.meta.pop("row_fields", None)
    if not fields or len(node.expressions) != 1:
        return None
    index = node.expressions[0]
    if not (isinstance(index, exp.Literal) and index.is_int):
        return None
    k = int(index.this) + 1  # the parser keeps indexes from 0
    if not 1 <= k <= fields:
        raise CompoundError(f"ROW has no field {k}: it has {fields}", node)
    return exp.Anonymous(this="struct_extract_at", expressions=[node.this, exp.Literal.number(k)])


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of a Feldera MAP/ROW/VARIANT node, or None when ``node`` is not one."""
    if isinstance(node, exp.Bracket) and node.meta.get("row_fields"):
        return _row_field(node)
    if isinstance(node, exp.Unnest) and node.meta.get("row_fields"):
        return _unnest_rows(node)
    if isinstance(node, exp.Bracket) and is_map_literal(node):
        items = node.expressions
        if len(items) % 2:
            raise CompoundError("a MAP literal needs pairs of keys and values", node)
        return exp.Anonymous(this="map", expressions=[exp.Array(expressions=items[0::2]),
                                                      exp.Array(expressions=items[1::2])])
    if isinstance(node, exp.MapContainsKey):
        return exp.Anonymous(this="map_contains", expressions=[node.this, node.args["key"]])
    if isinstance(node, exp.ParseJSON):
        return fill(_TEMPLATES["parse_json"], s=node.this)
    if isinstance(node, exp.Cast):
        return _cast(node)
    if isinstance(node, exp.Typeof):
        raise CompoundError(f"{_REFUSED['TYPEOF']} is not supported by Sluice yet", node, True)
    if isinstance(node, exp.Anonymous):
        name, args = str(node.this).upper(), node.expressions
        if name == "TO_JSON" and len(args) == 1:
            return fill(_TEMPLATES["to_json"], v=args[0])
        if name == "ROW":
            # Calcite names a ROW constructor's fields EXPR$0, EXPR$1, ...
            return exp.Anonymous(this="struct_pack", expressions=[
                exp.PropertyEQ(this=exp.to_identifier(f"EXPR${i}", quoted=True), expression=a)
                for i, a in enumerate(args)])
        if name in _REFUSED:
            raise CompoundError(f"{_REFUSED[name]} is not supported by Sluice yet", node, True)
    return None


def _cast(node: exp.Cast) -> exp.Expr | None:
    src = node.meta.get("from")
    literal = isinstance(node.this, exp.Anonymous) and str(node.this.this).lower() == "map"  # rewritten MAP[...]
    if node.to.this == T.VARIANT and (src == T.MAP or literal):
        return fill(_TEMPLATES["map_to_variant"], m=node.this)
    if src in (T.VARIANT, T.JSON) and node.to.this == T.MAP:
        # DuckDB casts a VARIANT object to a STRUCT but not to a MAP; its JSON text casts to either.
        return exp.TryCast(this=exp.Cast(this=node.this, to=exp.DataType.build("JSON")), to=node.to)
    if node.to.this == T.STRUCT and src not in (T.VARIANT, T.JSON) and not isinstance(node, exp.TryCast):
        return _row_cast(node)
    if src in (T.VARIANT, T.JSON) and node.to.this != T.VARIANT and not isinstance(node, exp.TryCast):
        # "If the types are identical or there is a natural conversion ... Otherwise the CAST returns NULL."
        return exp.TryCast(this=node.this, to=node.to)
    return None


def _row_cast(node: exp.Cast) -> exp.Expr:
    """A ROW cast to another ROW type takes the fields by position (Calcite's rule), where DuckDB matches
    STRUCT fields by name."""
    fields = [f for f in node.to.expressions if isinstance(f, exp.ColumnDef)]
    if len(fields) != len(node.to.expressions):
        return node
    packed = exp.Anonymous(this="struct_pack", expressions=[
        exp.PropertyEQ(this=f.this.copy(), expression=exp.Cast(
            this=exp.Anonymous(this="struct_extract_at", expressions=[node.this.copy(), exp.Literal.number(i)]),
            to=f.args["kind"].copy()))
        for i, f in enumerate(fields, 1)])
    return exp.Case(ifs=[exp.If(this=exp.Is(this=node.this.copy(), expression=exp.Null()), true=exp.Null())],
                    default=packed)


__all__ = ["rewrite", "note_types", "is_map_literal", "TYPED", "CompoundError"]
