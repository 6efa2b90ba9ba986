"""Feldera's numeric semantics where DuckDB's differ (the reference's "Decimal Operations", "Aggregate
operations", "Floating point types" and "Data type conversions" pages):

- ``/`` with a DECIMAL operand (and no float) is an exact DECIMAL division with Calcite's result type,
  truncated at its scale; a zero divisor is a runtime error. DuckDB divides decimals as DOUBLEs.
- "The aggregate result type is the same as the type of the value aggregated": ``SUM`` of an integer or a
  DECIMAL and ``SUM``/``AVG`` of a REAL keep their type (an overflow is a runtime error, as in Feldera), ``AVG`` of a DECIMAL(p, s) is the
  DECIMAL(p, s) quotient of its exact sum by its count, ``STDDEV*`` of a DECIMAL(p, s) is a DECIMAL(p, s); with FILTER and OVER alike.
  ``STDDEV*`` of an integer is an integer computed in integers, as Feldera's aggregate tests show
  (``aggtst_int_stddev_distinct``: the sample deviation of 4 and 5 is 1): the variance is
  ``(Σx² - (Σx)² / n) / (n - 1)`` (``/ n`` for ``STDDEV_POP``) with integer divisions, then its square root
  truncated; NULL for fewer than 2 (1) values.
- "Casting a string to a floating-point value will produce the value 0 when parsing fails"; "casting a
  value that is out of the supported range to a floating point type will produce a value that is inf or
  -inf" (DuckDB's casts raise both).

Integer overflow and integer or DECIMAL division by zero are already runtime errors in DuckDB (a failed step,
as a runtime error is in Feldera), and DuckDB's ``+ - *`` of DECIMALs give Calcite's precision and scale.
``mark`` reads types from the typed copy ``translate._mark_types`` makes; ``rewrite`` runs bottom-up, once,
at compile time.
"""

from __future__ import annotations

from sqlglot import exp

from ._template import fill, template
from .types import DEFAULT_DECIMAL

T = exp.DataType.Type
MAX_PRECISION = 38  # Feldera's DECIMAL: "The maximum precision supported is 38 decimal digits"
MAX_SCALE = 38
REAL_MAX = "3.4028234663852886e38"

# Calcite's view of an integer as a DECIMAL (digits of its largest value).
_INT_DIGITS = {T.TINYINT: 3, T.SMALLINT: 5, T.INT: 10, T.BIGINT: 19, T.UTINYINT: 3, T.USMALLINT: 5,
               T.UINT: 10, T.UBIGINT: 20, T.INT128: 38}
_STDDEV = (exp.Stddev, exp.StddevSamp, exp.StddevPop)
TYPED = (exp.Sum, *_STDDEV)
_TEXT = {T.VARCHAR, T.CHAR, T.TEXT, T.NVARCHAR, T.NCHAR}

# A DECIMAL's digits as an integer (its "unscaled" value), and back; ``__x`` has scale ``s``.
_UNSCALED = "CAST(CAST(__x AS DECIMAL(38, {s})) * {f} AS HUGEINT)"
_SCALED = "CAST(CAST(__q AS DECIMAL(38, 0)) * CAST('{unit}' AS DECIMAL({s1}, {s})) AS DECIMAL({p}, {s}))"
_TEXT_TO_FLOAT = {t: template(f"CASE WHEN __x IS NULL THEN NULL ELSE coalesce(TRY_CAST(trim(__x) AS {t}), 0) END")
                  for t in ("REAL", "DOUBLE")}


def text_to_float(x: exp.Expr, to: str = "DOUBLE") -> exp.Expr:
    """``CAST(x AS DOUBLE)`` (or REAL) of a string, with Feldera's rules for text that is not a number."""
    return fill(_TEXT_TO_FLOAT[to], x=x)


_TO_REAL = template(f"CASE WHEN __x > {REAL_MAX} AND NOT isnan(__x) THEN CAST('inf' AS REAL) "
                    f"WHEN __x < -{REAL_MAX} THEN CAST('-inf' AS REAL) ELSE CAST(__x AS REAL) END")


def _dt_decimal(dt: exp.DataType | None) -> tuple[int, int] | None:
    """(precision, scale) of an exact numeric type, integers as Calcite sees them; None otherwise."""
    if dt is None:
        return None
    if dt.this in _INT_DIGITS:
        return _INT_DIGITS[dt.this], 0
    if dt.this in (T.DECIMAL, T.BIGDECIMAL):
        params = [int(p.this.name) for p in dt.expressions
                  if isinstance(p, exp.DataTypeParam) and isinstance(p.this, exp.Literal)]
        if len(params) == 2:
            return params[0], params[1]
        if len(params) == 1:
            return params[0], 0
        return DEFAULT_DECIMAL if not dt.expressions else None
    return None


def decimal_type(e: exp.Expr) -> tuple[int, int, bool] | None:
    """(precision, scale, is a DECIMAL rather than an integer) of a typed exact numeric expression, derived
    with Calcite's rules where the typer leaves a DECIMAL's precision out; None for anything else."""
    if isinstance(e, exp.Paren):
        return decimal_type(e.this)
    if isinstance(e, exp.Neg):
        return decimal_type(e.this)
    if isinstance(e, exp.Literal) and not e.is_string:
        text = e.this.lstrip("-")
        if "e" in text.lower():
            return None  # "To write a floating-point literal you have to include the e"
        whole, _, frac = text.partition(".")
        if not frac and "." not in text:
            return (10, 0, False) if abs(int(text)) < 2**31 else (19, 0, False)
        return max(len(whole.lstrip("0")) + len(frac), 1), len(frac), True
    if isinstance(e, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        a, b = decimal_type(e.left), decimal_type(e.right)
        if a is None or b is None:
            return None
        if not (a[2] or b[2]):
            found = _dt_decimal(e.type)
            return None if found is None else (*found, False)
        if isinstance(e, exp.Div):
            return (*divide_type(a[:2], b[:2]), True)
        if isinstance(e, exp.Mul):
            return min(a[0] + b[0], MAX_PRECISION), min(a[1] + b[1], MAX_SCALE), True
        s = max(a[1], b[1])
        return min(max(a[0] - a[1], b[0] - b[1]) + s + 1, MAX_PRECISION), s, True
    if isinstance(e, exp.Cast) and _dt_decimal(e.to):
        return (*_dt_decimal(e.to), e.to.this in (T.DECIMAL, T.BIGDECIMAL))
    found = _dt_decimal(e.type)
    return None if found is None else (*found, e.type.this in (T.DECIMAL, T.BIGDECIMAL))


def divide_type(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Calcite's DECIMAL quotient type (``RelDataTypeSystem.deriveDecimalDivideType``), which Feldera
    inherits ("The rules for implicit casts ... we inherit these rules from Calcite")."""
    (p1, s1), (p2, s2) = a, b
    whole = min(p1 - s1 + s2, MAX_PRECISION)
    scale = min(max(6, s1 + p2 + 1), MAX_PRECISION - whole, MAX_SCALE)
    return whole + scale, scale


def mark(n: exp.Expr, tn: exp.Expr) -> None:
    """Note on ``n`` what ``rewrite`` needs from its typed twin ``tn``."""
    if isinstance(n, exp.Div):
        a, b = decimal_type(tn.left), decimal_type(tn.right)
        if a is not None and b is not None and (a[2] or b[2]):
            n.meta["decimal_div"] = (a[:2], b[:2])
    elif isinstance(n, (exp.Sum, exp.Avg, *_STDDEV)):
        arg = tn.this.expressions[0] if isinstance(tn.this, exp.Distinct) else tn.this
        found = decimal_type(arg)
        if found is not None and found[2]:
            n.meta["decimal_agg"] = found[:2]
        elif arg.type is not None and arg.type.this in _INT_DIGITS and isinstance(n, _STDDEV):
            n.meta["int_stddev"] = arg.type.copy()
        elif arg.type is not None and arg.type.this in _INT_DIGITS and isinstance(n, exp.Avg) \
                and isinstance(n.parent if not isinstance(n.parent, exp.Filter) else n.parent.parent, exp.Window):
            # Over a window too, AVG of an integer is an integer (``translate._int_avg`` does the others).
            n.meta["int_avg"] = arg.type.copy()
        elif arg.type is not None and (arg.type.this == T.FLOAT and not isinstance(n, _STDDEV)
                                       or arg.type.this in _INT_DIGITS and isinstance(n, exp.Sum)):
            # (AVG of an integer is ``translate._int_avg``.) DuckDB sums and averages a REAL as a DOUBLE.
            n.meta["same_type"] = arg.type.copy()


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of a node whose numeric meaning differs, or None when ``node`` is not one."""
    if isinstance(node, exp.Div) and node.meta.get("decimal_div"):
        return _decimal_div(node.left, node.right, *node.meta["decimal_div"])
    # An aggregate is replaced at its outermost node: FILTER and OVER wrap the call.
    if isinstance(node, exp.Window) and isinstance(node.this, exp.Filter) and _agg_marked(node.this.this):
        return _aggregate(node.this.this, node.this.expression, node)
    if isinstance(node, exp.Window) and _agg_marked(node.this):
        return _aggregate(node.this, None, node)
    if isinstance(node, exp.Filter) and _agg_marked(node.this) and not isinstance(node.parent, exp.Window):
        return _aggregate(node.this, node.expression, None)
    if _agg_marked(node) and not isinstance(node.parent, (exp.Filter, exp.Window)):
        return _aggregate(node, None, None)
    if isinstance(node, exp.Cast) and node.to.this in (T.DECIMAL, T.BIGDECIMAL) and not node.to.expressions:
        # "NUMERIC is the same as NUMERIC(MAX_PRECISION, 0)", so CAST('0.5' AS DECIMAL) is 1; DuckDB's bare
        # DECIMAL is DECIMAL(18, 3). Changed in place: the cast's other rules (``translate._cast``) still apply.
        node.set("to", exp.DataType.build("DECIMAL({}, {})".format(*DEFAULT_DECIMAL)))
    if isinstance(node, exp.Cast) and not isinstance(node, exp.TryCast):
        to, src = node.to.this, node.meta.get("from")
        if to in (T.FLOAT, T.DOUBLE) and src in _TEXT:
            return text_to_float(node.this, "REAL" if to == T.FLOAT else "DOUBLE")
        if to == T.FLOAT and src == T.DOUBLE:
            return fill(_TO_REAL, x=node.this)
    return None


def _agg_marked(node: exp.Expr) -> bool:
    return isinstance(node, (exp.Sum, exp.Avg, *_STDDEV)) and bool(
        node.meta.get("decimal_agg") or node.meta.get("same_type") or node.meta.get("int_stddev")
        or node.meta.get("int_avg"))


def _unscaled(x: exp.Expr, s: int) -> exp.Expr:
    return fill(template(_UNSCALED.format(s=s, f=10 ** s)), x=x)


def _scaled(q: exp.Expr, p: int, s: int) -> exp.Expr:
    if s == 0:
        return exp.Cast(this=q, to=exp.DataType.build(f"DECIMAL({p}, 0)"))
    unit = "0." + "0" * (s - 1) + "1"
    return fill(template(_SCALED.format(unit=unit, s1=s + 1, s=s, p=p)), q=q)


def _decimal_div(left: exp.Expr, right: exp.Expr, a: tuple[int, int], b: tuple[int, int]) -> exp.Expr:
    """``left / right`` as the DECIMAL(P, S) quotient: integer division of the operands' digits, scaled so
    the quotient has S digits after the point (towards zero). DuckDB raises on a zero divisor."""
    p, s = divide_type(a, b)
    shift = s - a[1] + b[1]  # ≥ 0 unless the result has fewer fraction digits than the dividend
    num, den = _unscaled(left, a[1]), _unscaled(right, b[1])
    if shift >= 0:
        num = exp.Mul(this=num, expression=exp.Cast(this=exp.Literal.string(str(10 ** shift)),
                                                     to=exp.DataType.build("HUGEINT")))
    else:
        den = exp.Mul(this=den, expression=exp.Cast(this=exp.Literal.string(str(10 ** -shift)),
                                                    to=exp.DataType.build("HUGEINT")))
    return _scaled(exp.IntDiv(this=num, expression=den), p, s)


def _aggregate(agg: exp.Expr, where: exp.Expr | None, over: exp.Window | None) -> exp.Expr:
    def call(klass):
        c = klass(this=agg.this.copy())
        c = exp.Filter(this=c, expression=where.copy()) if where is not None else c
        if over is None:
            return c
        w = over.copy()
        w.set("this", c)
        return w
    if agg.meta.get("same_type"):
        return exp.Cast(this=call(type(agg)), to=agg.meta["same_type"])
    if agg.meta.get("int_stddev"):
        return _int_stddev(agg, call)
    if agg.meta.get("int_avg"):
        return exp.Cast(this=exp.IntDiv(this=call(exp.Sum), expression=call(exp.Count)), to=agg.meta["int_avg"])
    p, s = agg.meta["decimal_agg"]
    to = exp.DataType.build(f"DECIMAL({p}, {s})")
    if isinstance(agg, exp.Sum):
        return exp.Cast(this=call(exp.Sum), to=to)
    if isinstance(agg, exp.Avg):
        # The exact sum's digits divided by the count: Feldera's average keeps the argument's scale.
        return _scaled(exp.IntDiv(this=_unscaled(call(exp.Sum), s), expression=call(exp.Count)), p, s)
    return exp.Cast(this=call(type(agg)), to=to)


_INT_STDDEV = template("""CASE WHEN __n > __k THEN
    trunc(sqrt((__q - (__s * __s) // __n) // (__n - __k))) END""")


def _int_stddev(agg: exp.Expr, call) -> exp.Expr:
    value = agg.this.expressions[0] if isinstance(agg.this, exp.Distinct) else agg.this
    wide = exp.Cast(this=value.copy(), to=exp.DataType.build("HUGEINT"))
    if isinstance(agg.this, exp.Distinct):
        # the squares of the distinct values (two values can share a square)
        values = exp.Anonymous(this="list_distinct", expressions=[exp.ArrayAgg(this=wide)])
        squares = exp.Anonymous(this="list_sum", expressions=[exp.Anonymous(this="list_transform", expressions=[
            values, exp.Lambda(this=exp.Mul(this=exp.column("v"), expression=exp.column("v")),
                               expressions=[exp.to_identifier("v")])])])
        squares = _wrap(squares, agg, call)
    else:
        squares = _wrap(exp.Sum(this=exp.Mul(this=wide.copy(), expression=wide.copy())), agg, call)
    total = _wrap(exp.Sum(this=agg.this.copy() if not isinstance(agg.this, exp.Distinct)
                          else exp.Distinct(expressions=[wide.copy()])), agg, call)
    if not isinstance(agg.this, exp.Distinct):
        total = exp.Cast(this=total, to=exp.DataType.build("HUGEINT"))
    count = call(exp.Count)
    k = exp.Literal.number(0 if isinstance(agg, exp.StddevPop) else 1)
    return exp.Cast(this=fill(_INT_STDDEV, n=count, k=k, q=squares, s=total), to=agg.meta["int_stddev"])


def _wrap(inner: exp.Expr, agg: exp.Expr, call) -> exp.Expr:
    """``inner`` (an aggregate) under ``agg``'s FILTER and OVER, as ``call`` puts a call of ``agg``'s class."""
    shell = call(exp.Count)
    target = shell
    while not isinstance(target, exp.Count):
        target = target.this
    target.replace(inner)
    return shell if shell is not target else inner


__all__ = ["TYPED", "decimal_type", "divide_type", "mark", "rewrite", "text_to_float"]
