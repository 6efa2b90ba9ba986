"""Records of a table's input: typed row values, the errors a record can have, and a parsed batch.

Shared by every input format (``ingress`` for JSON and the dispatch, ``csvfmt`` for CSV, ``query``
for ad-hoc INSERTs, datagen): each turns its records into rows with ``RowConverter`` and collects them,
with errors in Feldera's ``ParseErrors`` shape, in a ``ParsedBatch``.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid as _uuid
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, Callable

import orjson
import pyarrow as pa

from .catalog import INTEGER_RANGES, ColumnType, JsonText, Relation
from .jsonframe import NonFinite
from .ops import KEEP

MAX_REPORTED_ERRORS = 1000


class RecordError(Exception):
    """Raised inside conversion; becomes one entry of ``ParseErrors.details.errors``."""

    def __init__(self, description: str, field: str | None = None, suggestion: str | None = None):
        super().__init__(description)
        self.description, self.field, self.suggestion = description, field, suggestion


@dataclass
class ParsedBatch:
    """A parsed body: operations in body order, or (fast path) an Arrow table of inserts."""

    _ops: list[tuple[int, tuple]] | None = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    num_errors: int = 0
    num_records: int = 0  # good records (each insert or delete counts once)
    num_bytes: int = 0
    scanned_chars: int = 0  # characters the JSON decoders read: a small multiple of num_bytes, whatever the layout
    arrow: "pa.Table | None" = None  # inserts only, columns in table order, when the fast path parsed it
    hint: str | None = None  # what to change about the whole request (a missing parameter), said in the message

    @property
    def ops(self) -> list[tuple[int, tuple]]:
        if self._ops is None:
            self._ops = [(1, r) for r in arrow_rows(self.arrow)]
        return self._ops

    def add_error(self, err: RecordError, event: int, line: int, text: str) -> None:
        self.num_errors += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({
                "description": err.description,
                "event_number": event,
                "line": line,
                "field": err.field,
                "invalid_bytes": None,
                "invalid_text": text[:1000] if text else None,
                "suggestion": err.suggestion,
                "tag": "ParseError",
            })


# ---------------------------------------------------------------------------------------------
# JSON values -> Python values of the column type

def _int_conv(kind: str) -> Callable[[Any], int]:
    lo, hi = INTEGER_RANGES[kind]

    def conv(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer() \
                    or isinstance(v, Decimal) and v.is_finite() and v == v.to_integral_value():
                v = int(v)
            else:
                raise RecordError(f"expected an integer ({kind}), found {_show(v)}")
        if not lo <= v <= hi:
            raise RecordError(f"{v} is out of range for {kind} ({lo}..{hi})")
        return v

    return conv


def _float_conv(v: Any) -> float:
    # A Decimal comes from a record read exactly because its table has a DECIMAL column (jsonframe.Frame with exact=True).
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
        raise RecordError(f"expected a number, found {_show(v)}")
    return float(v)


def _bool_conv(v: Any) -> bool:
    if not isinstance(v, bool):
        raise RecordError(f"expected true or false, found {_show(v)}")
    return v


def _str_conv(v: Any) -> str:
    if not isinstance(v, str):
        raise RecordError(f"expected a string, found {_show(v)}")
    return v


# Python's default context holds 28 digits, fewer than DECIMAL(38, s) needs, and is shared by the whole
# process: conversions use this one. 39 digits leave room for a carry (9.995 -> 10.00) before the
# integer-digit check; values are checked for size before they reach it.
_DEC_CTX = Context(prec=39, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _decimal_conv(precision: int, scale: int) -> Callable[[Any], Decimal]:
    """Extra fractional digits are rounded to nearest, ties away from zero, as Feldera rounds casts between
    DECIMAL types; a value with more than ``precision - scale`` integer digits is refused, as Feldera's
    cast is a runtime error there."""
    quantum = Decimal(1).scaleb(-scale)
    int_digits = precision - scale

    def too_big(v: Any) -> RecordError:
        return RecordError(f"{_show(v)} does not fit DECIMAL({precision},{scale}): at most {int_digits} digits "
                           "before the decimal point")

    def conv(v: Any) -> Decimal:
        if isinstance(v, bool) or not isinstance(v, (int, float, str, Decimal)):
            raise RecordError(f"expected a decimal number or a string holding one, found {_show(v)}")
        try:
            # The constructor is exact whatever the context. "_" is Python's digit separator, not SQL's.
            if isinstance(v, str) and "_" in v:
                raise InvalidOperation
            d = Decimal(v.strip() if isinstance(v, str) else str(v) if isinstance(v, float) else v)
        except InvalidOperation:
            raise RecordError(f"{_show(v)} is not a decimal number") from None
        if not d.is_finite():
            raise RecordError(f"{_show(v)} is not a finite decimal number")
        if d and d.adjusted() >= int_digits:
            raise too_big(v)
        try:
            d = d.quantize(quantum, context=_DEC_CTX)
        except InvalidOperation:  # not reached after the size check; a record error all the same, never a 500
            raise too_big(v) from None
        if d and d.adjusted() >= int_digits:  # rounding carried into one more integer digit
            raise too_big(v)
        return d

    return conv


def _parse_date(s: str) -> _dt.date:
    return _dt.date.fromisoformat(s.strip())


def _parse_time(s: str) -> _dt.time:
    return _dt.time.fromisoformat(s.strip())


def _parse_timestamp(s: str) -> _dt.datetime:
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1]
    d = _dt.datetime.fromisoformat(s)
    if d.tzinfo is not None:
        d = d.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return d


_EPOCH = _dt.datetime(1970, 1, 1)


def _temporal_conv(kind: str, pandas: bool) -> Callable[[Any], Any]:
    parse = {"DATE": _parse_date, "TIME": _parse_time, "TIMESTAMP": _parse_timestamp}[kind]
    example = {"DATE": "2024-01-31", "TIME": "13:45:00", "TIMESTAMP": "2024-01-31 13:45:00"}[kind]

    def conv(v: Any) -> Any:
        if isinstance(v, str):
            try:
                return parse(v)
            except ValueError:
                raise RecordError(f"{_show(v)} is not a valid {kind}", suggestion=f"write it like \"{example}\"") from None
        if pandas and isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
            try:
                ts = _EPOCH + _dt.timedelta(milliseconds=float(v) if isinstance(v, Decimal) else v)
            except OverflowError:
                raise RecordError(f"{v} ms since the epoch is out of range for {kind}") from None
            return ts.date() if kind == "DATE" else ts.time() if kind == "TIME" else ts
        raise RecordError(f"expected a {kind} string, found {_show(v)}", suggestion=f"write it like \"{example}\"")

    return conv


def value_converter(t: ColumnType, pandas: bool = False, nested: bool = False) -> Callable[[Any], Any]:
    """A function checking one JSON value against ``t`` (not null) and returning the stored value (``nested``:
    a part of a MAP, ROW or ARRAY value, which gives its plain value, not ``JsonText``)."""
    k = t.type
    if k in INTEGER_RANGES:
        return _int_conv(k)
    if k in ("REAL", "DOUBLE"):
        return _float_conv
    if k == "BOOLEAN":
        return _bool_conv
    if k in ("VARCHAR", "CHAR"):
        return _str_conv
    if k == "DECIMAL":
        return _decimal_conv(t.precision, t.scale)
    if k in ("DATE", "TIME", "TIMESTAMP"):
        return _temporal_conv(k, pandas)
    if k in ("BINARY", "VARBINARY"):
        return _bytes_conv
    if k == "UUID":
        return _uuid_conv
    if k == "ARRAY":
        inner = value_converter(t.component, pandas, nested=True)

        def conv(v: Any) -> list:
            if isinstance(v, str):
                try:
                    v = orjson.loads(v)
                except orjson.JSONDecodeError:
                    pass
            if not isinstance(v, list):
                raise RecordError(f"expected a JSON array, found {_show(v)}")
            if any(x.__class__ is NonFinite for x in v):
                raise _non_finite(next(x for x in v if x.__class__ is NonFinite))
            return [None if x is None else inner(x) for x in v]

        return _or_json_text(conv, t) if t.holds_json() and not nested else conv
    if k in ("MAP", "STRUCT", "VARIANT"):
        conv = _compound_conv(t, pandas)
        return conv if nested else _or_json_text(conv, t)
    raise RecordError(f"type {k} cannot be ingested")


# MAP, ROW and VARIANT values (Feldera's JSON format: a MAP is an object, a ROW an object keyed by its field
# names, a VARIANT any JSON value) are checked here and kept as their JSON text, which DuckDB casts.

def _compound_conv(t: ColumnType, pandas: bool) -> Callable[[Any], Any]:
    if t.type == "VARIANT":
        return lambda v: v
    if t.type == "MAP":
        keyc, valc = value_converter(t.key, pandas, True), value_converter(t.value, pandas, True)
        text_key = t.key.type in ("VARCHAR", "CHAR")

        def conv_map(v: Any) -> dict:
            if not isinstance(v, dict):
                raise RecordError(f"expected a JSON object (a MAP), found {_show(v)}")
            out = {}
            for key, x in v.items():
                if not text_key:  # a JSON object's keys are strings: a number key is written as its text
                    try:
                        key = orjson.loads(key)
                    except orjson.JSONDecodeError:
                        raise RecordError(f"MAP key {_show(key)} is not a {t.key.type}") from None
                out[_json_key(keyc(key))] = None if x is None else valc(x)
            return out
        return conv_map
    fields = [(n, cs, ft, value_converter(ft, pandas, True)) for n, ft, cs in t.fields]

    def conv_row(v: Any) -> dict:
        if not isinstance(v, dict):
            raise RecordError(f"expected a JSON object (a ROW), found {_show(v)}")
        out, seen = {}, set()
        for n, cs, ft, c in fields:
            key = n if n in v or cs else next((k for k in v if k.lower() == n), n)
            seen.add(key)
            x = v.get(key)
            if x is None and not ft.nullable:
                raise RecordError(f"missing value for NOT NULL field '{n}'")
            out[n] = None if x is None else c(x)
        extra = [k for k in v if k not in seen]
        if extra:
            raise RecordError(f"unknown field '{extra[0]}' for a ROW with fields " + ", ".join(f[0] for f in fields))
        return out
    return conv_row


def _json_key(k: Any) -> str:
    return k if isinstance(k, str) else orjson.dumps(k, default=_exact_json).decode()


def _exact_json(v: Any) -> Any:
    if isinstance(v, Decimal):
        return orjson.Fragment(format(v, "f"))
    if isinstance(v, NonFinite):
        raise _non_finite(v)
    if isinstance(v, bytes):
        raise RecordError("BINARY values inside a MAP, ROW or VARIANT cannot be ingested by Sluice yet")
    raise TypeError(type(v).__name__)


def _or_json_text(conv: Callable[[Any], Any], t: ColumnType) -> Callable[[Any], JsonText]:
    """``conv``'s value as ``JsonText``. CSV gives the value as text, a VARIANT's already parsed (``csvfmt``);
    JSON gives a MAP or ROW as an object, or as the text of one."""
    def text(v: Any) -> JsonText:
        if isinstance(v, str) and t.type != "VARIANT":
            try:
                v = orjson.loads(v)
            except orjson.JSONDecodeError:
                raise RecordError(f"expected a JSON value of type {t.type}, found {_show(v)}") from None
        return JsonText(orjson.dumps(conv(v), default=_exact_json).decode())
    return text


def _bytes_conv(v: Any) -> bytes:
    # Feldera writes BINARY and VARBINARY values as JSON arrays of byte values.
    if not isinstance(v, list) or any(isinstance(b, bool) or not isinstance(b, int) or not 0 <= b <= 255 for b in v):
        raise RecordError(f"expected an array of byte values (0..255), found {_show(v)}")
    return bytes(v)


def _uuid_conv(v: Any) -> str:
    if not isinstance(v, str):
        raise RecordError(f"expected a UUID string, found {_show(v)}")
    try:
        return str(_uuid.UUID(v.strip()))
    except ValueError:
        raise RecordError(f"{_show(v)} is not a UUID", suggestion='write it like "123e4567-e89b-12d3-a456-426614174000"') \
            from None


def _non_finite(v: NonFinite, column: str | None = None) -> RecordError:
    where = f"column '{column}': " if column else ""
    return RecordError(f"{where}{v.text} is not a finite number: JSON numbers are finite, and the value would be "
                       "written back as null", column, "send null for a missing value")


def _show(v: Any) -> str:
    if isinstance(v, str):
        s = json.dumps(v)
    elif isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        s = str(v)
    else:
        try:
            s = orjson.dumps(v, default=str).decode()
        except TypeError:  # an integer beyond 64 bits, which orjson does not write
            s = json.dumps(v, default=str)
    return s if len(s) <= 80 else s[:77] + "..."


class RowConverter:
    """Turns a JSON object (or positional array) into a row tuple for one table."""

    def __init__(self, table: Relation, pandas: bool = False):
        self.table = table
        self.columns = table.columns
        self.convs = [value_converter(c.type, pandas) for c in table.columns]
        self.nullable = [c.type.nullable for c in table.columns]
        self.index: dict[str, int] = {}
        self.ci_index: dict[str, int] = {}
        for i, c in enumerate(table.columns):
            self.index[c.name] = i
            if not c.case_sensitive:
                self.ci_index[c.name.lower()] = i
        self.width = len(table.columns)
        self.key_idx = [self.index[k] for k in table.primary_key]

    def slot(self, key: str) -> int | None:
        """The position of the column ``key`` names (a case-sensitive column by its exact name only)."""
        i = self.index.get(key)
        if i is None:
            i = self.ci_index.get(key.lower())
        return i

    def convert(self, rec: Any, *, key_only: bool = False, partial: bool = False) -> tuple:
        """``partial``: an update's row, ``KEEP`` in the columns it does not name; it must name the key."""
        vals: list[Any] = [KEEP if partial else None] * self.width
        if partial and not isinstance(rec, dict):
            raise RecordError(f'"update" needs an object naming the columns to change, found {_show(rec)}')
        if isinstance(rec, dict):
            for k, v in rec.items():
                i = self.slot(k)
                if i is None:
                    raise RecordError(f"unknown column '{k}' for table '{self.table.name}'", k,
                                      "columns are: " + ", ".join(c.name for c in self.columns))
                vals[i] = v
        elif isinstance(rec, list):
            if len(rec) > self.width:
                raise RecordError(f"{len(rec)} values for a table of {self.width} columns")
            vals[: len(rec)] = rec
        else:
            raise RecordError(f"expected a row (a JSON object), found {_show(rec)}")
        check = self.key_idx if key_only and self.key_idx else range(self.width)
        for i in check:
            v = vals[i]
            col = self.columns[i]
            if v is KEEP:
                if i in self.key_idx:
                    raise RecordError(f"an update must name the primary key column '{col.name}'", col.name)
                continue
            if v is None:
                if not self.nullable[i]:
                    raise RecordError(f"missing value for NOT NULL column '{col.name}'", col.name)
                continue
            if v.__class__ is NonFinite:
                raise _non_finite(v, col.name)
            try:
                vals[i] = self.convs[i](v)
            except RecordError as e:
                e.field = col.name
                e.description = f"column '{col.name}': {e.description}"
                raise
        if key_only and self.key_idx:
            for i in range(self.width):
                if i not in self.key_idx:
                    vals[i] = None
        return tuple(vals)


def arrow_rows(tbl: pa.Table) -> list[tuple]:
    """Rows of an Arrow table as tuples of the Python values the record parser produces."""
    if tbl is None or tbl.num_rows == 0:
        return []
    return list(zip(*[c.to_pylist() for c in tbl.columns]))


__all__ = ["MAX_REPORTED_ERRORS", "ParsedBatch", "RecordError", "RowConverter", "arrow_rows", "value_converter"]
