"""Schemas and DataFrames: finding relations in ``program_info``, typed frames out, JSON records in.

Values travel as Feldera's JSON encoding: TIMESTAMP ``"2024-01-31 13:45:00.123456"``, DATE
``"2024-01-31"``, TIME ``"13:45:00"``, DECIMAL as a string (exact), NULL as ``null``. Frames coming
out get pandas types from the schema (nullable ``Int32``, ``Float64``, ``string``, ``boolean``,
``datetime64``/``timedelta64``, ``Decimal`` objects); frames going in are converted column by column
with the table's types in mind, so NaN/NaT/NA become NULL and nothing is rounded on the way.
"""

from __future__ import annotations

import datetime as _dt
import math
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable

import orjson

from .errors import SchemaError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # imported on first use, so ``import webapp.client`` stays light (no pandas, no numpy)
    from ._lazy import LazyModule

    np = LazyModule("numpy", globals(), "np")
    pd = LazyModule("pandas", globals(), "pd")

INSERT_DELETE = "insert_delete"

_INT_DTYPES = {"TINYINT": "Int8", "SMALLINT": "Int16", "INTEGER": "Int32", "BIGINT": "Int64"}
_SIMPLE_DTYPES = {**_INT_DTYPES, "REAL": "Float32", "DOUBLE": "Float64", "BOOLEAN": "boolean",
                  "CHAR": "string", "VARCHAR": "string"}


# ---------------------------------------------------------------------------------------------
# Relations

def column_name(field: dict) -> str:
    """The key a column has in JSON rows: unquoted identifiers are reported in lower case."""
    name = field["name"]
    return name if field.get("case_sensitive") else name.lower()


def find_relation(program_info: dict | None, name: str, *, inputs: bool, outputs: bool) -> tuple[dict, str]:
    """The relation ``name`` refers to, and the path segment that names it on the server.

    Unquoted names match case-insensitively (as in SQL); ``'"Name"'`` matches a quoted, case-sensitive
    name exactly. Raises ``SchemaError`` listing what exists."""
    schema = (program_info or {}).get("schema") or {}
    rels: list[dict] = (schema.get("inputs") or [] if inputs else []) + (schema.get("outputs") or [] if outputs else [])
    quoted = len(name) >= 2 and name[0] == name[-1] == '"'
    bare = name[1:-1] if quoted else name
    exact = [r for r in rels if r["name"] == bare]
    found = exact[0] if exact else None
    if found is None and not quoted:
        folded = [r for r in rels if not r.get("case_sensitive") and r["name"].lower() == bare.lower()]
        found = folded[0] if folded else None
    if found is None:
        what = "table" if inputs and not outputs else "view" if outputs and not inputs else "table or view"
        known = ", ".join(sorted(r["name"] for r in rels)) or "none"
        raise SchemaError(f"the program has no {what} named {name!r} (it has: {known})",
                          details={"name": name, "known": sorted(r["name"] for r in rels)})
    segment = f'"{found["name"]}"' if found.get("case_sensitive") else found["name"]
    return found, segment


# ---------------------------------------------------------------------------------------------
# Out: JSON changes -> typed DataFrame

def pandas_dtype(columntype: dict) -> str | None:
    return _SIMPLE_DTYPES.get(str(columntype.get("type", "")).upper())


def frame_from_changes(fields: list[dict], changes: list[dict]) -> pd.DataFrame:
    """A DataFrame with one column per schema field, typed, plus ``insert_delete`` (+1 or -1)."""
    if not fields:
        return pd.DataFrame(changes)
    cols: dict[str, pd.Series] = {}
    for f in fields:
        name = column_name(f)
        cols[name] = _typed_series([c.get(name) for c in changes], f.get("columntype") or {})
    cols[INSERT_DELETE] = pd.Series([c[INSERT_DELETE] for c in changes], dtype="int64")
    return pd.DataFrame(cols)


def _typed_series(values: list, ct: dict) -> pd.Series:
    kind = str(ct.get("type", "")).upper()
    simple = _SIMPLE_DTYPES.get(kind)
    if simple:
        return pd.Series(pd.array(values, dtype=simple))
    if kind in ("TIMESTAMP", "DATE"):
        return pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601").astype("datetime64[us]")
    if kind == "TIME":
        return pd.to_timedelta(pd.Series(values, dtype=object)).astype("timedelta64[us]")
    if kind == "DECIMAL":
        return pd.Series([None if v is None else Decimal(str(v)) for v in values], dtype=object)
    if kind == "UUID":
        return pd.Series([None if v is None else uuid.UUID(str(v)) for v in values], dtype=object)
    return pd.Series(values, dtype=object)


# ---------------------------------------------------------------------------------------------
# In: DataFrame -> JSON records for one table

def match_columns(df: pd.DataFrame, table: dict) -> list[tuple[Any, dict]]:
    """Pair each DataFrame column with its table field; raises ``SchemaError`` before anything is sent."""
    fields = table.get("fields") or []
    if any(not isinstance(c, str) for c in df.columns):
        raise SchemaError("the DataFrame's columns must be named (strings) after the table's columns "
                          f"{[f['name'] for f in fields]}; found {list(df.columns)[:10]}")
    by_exact = {f["name"]: f for f in fields}
    by_folded = {f["name"].lower(): f for f in fields if not f.get("case_sensitive")}
    pairs, unknown, used = [], [], set()
    for c in df.columns:
        f = by_exact.get(c) or by_folded.get(c.lower())
        if f is None:
            unknown.append(c)
            continue
        if f["name"] in used:
            raise SchemaError(f"two DataFrame columns map to table column {f['name']!r}")
        used.add(f["name"])
        pairs.append((c, f))
    missing = [f["name"] for f in fields
               if f["name"] not in used and not (f.get("columntype") or {}).get("nullable", True)]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"columns not in table {table['name']!r}: {unknown}")
        if missing:
            parts.append(f"NOT NULL columns missing from the DataFrame: {missing}")
        raise SchemaError("; ".join(parts) + f" (the table has {[f['name'] for f in fields]})",
                          details={"unknown": unknown, "missing": missing,
                                   "table_columns": [f["name"] for f in fields]})
    return pairs


def records(df: pd.DataFrame, pairs: list[tuple[Any, dict]]) -> list[dict]:
    """JSON-ready row dicts for ``df`` (one chunk), keyed by the table's column names."""
    names = [f["name"] if f.get("case_sensitive") else f["name"].lower() for _, f in pairs]
    cols = [encode_column(df[c], f.get("columntype") or {}, f["name"]) for c, f in pairs]
    return [dict(zip(names, row)) for row in zip(*cols)] if cols else [{} for _ in range(len(df))]


def encode_column(s: pd.Series, ct: dict, name: str) -> list:
    kind = str(ct.get("type", "")).upper()
    nulls = s.isna().to_numpy()
    if kind in ("TIMESTAMP", "DATE") and pd.api.types.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        fmt = "%Y-%m-%d %H:%M:%S.%f" if kind == "TIMESTAMP" else "%Y-%m-%d"
        values = s.dt.strftime(fmt).tolist()
    elif kind == "TIME" and pd.api.types.is_timedelta64_dtype(s.dtype):
        values = [_fmt_timedelta(v) if not n else None for v, n in zip(s.tolist(), nulls)]
    else:
        values = s.tolist()
    conv = _CONVERTERS.get(kind, _plain)
    out = []
    for v, n in zip(values, nulls):
        if n:
            out.append(None)
            continue
        try:
            out.append(conv(v))
        except (ValueError, TypeError, OverflowError) as e:
            raise SchemaError(f"column {name!r}: cannot send {v!r} as {kind}: {e}",
                              details={"column": name, "value": repr(v)}) from None
    return out


def _int(v):
    if isinstance(v, (bool, np.bool_)):
        raise ValueError("a boolean is not an integer")
    if isinstance(v, (float, np.floating)):
        if not float(v).is_integer():
            raise ValueError("not a whole number")
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return v  # strings and the like: the server says what is wrong


def _float(v):
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        f = float(v)
        if math.isinf(f):
            raise ValueError("JSON has no infinity")
        return f
    if isinstance(v, Decimal):
        return float(v)
    return v


def _decimal(v):
    if isinstance(v, Decimal):
        if v.is_nan():
            return None
        if not v.is_finite():
            raise ValueError("not a finite number")
        return str(v)
    if isinstance(v, (float, np.floating)):
        if math.isinf(v):
            raise ValueError("not a finite number")
        return repr(float(v))  # shortest text that reads back as the same float
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return v


def _timestamp(v):
    if isinstance(v, (_dt.datetime, _dt.date)):
        return fmt_value(v)
    if isinstance(v, np.datetime64):
        return fmt_value(pd.Timestamp(v).to_pydatetime())
    return v


def _date(v):
    if isinstance(v, _dt.datetime):
        return v.date().isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, np.datetime64):
        return pd.Timestamp(v).date().isoformat()
    return v


def _time(v):
    if isinstance(v, _dt.time):
        return fmt_value(v)
    if isinstance(v, (_dt.timedelta, np.timedelta64)):
        return _fmt_timedelta(pd.Timedelta(v))
    return v


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _bool(v):
    return bool(v) if isinstance(v, (bool, np.bool_)) else v


_CONVERTERS = {
    **{k: _int for k in _INT_DTYPES}, "REAL": _float, "DOUBLE": _float, "DECIMAL": _decimal,
    "TIMESTAMP": _timestamp, "DATE": _date, "TIME": _time, "BOOLEAN": _bool,
}


def _fmt_timedelta(td) -> str:
    td = pd.Timedelta(td)
    if td < pd.Timedelta(0) or td >= pd.Timedelta(days=1):
        raise ValueError("a TIME must be between 00:00:00 and 23:59:59.999999")
    us = td // pd.Timedelta(microseconds=1)
    secs, micro = divmod(us, 1_000_000)
    h, rem = divmod(secs, 3600)
    m, sec = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{sec:02d}" + (f".{micro:06d}" if micro else "")


# ---------------------------------------------------------------------------------------------
# JSON out of Python values, the way Feldera reads them

def fmt_value(v: Any) -> Any:
    """``orjson`` default: datetimes with a space (not ISO's ``T``), Decimal as exact text, numpy as Python."""
    if isinstance(v, _dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return v.strftime("%Y-%m-%d %H:%M:%S.%f" if v.microsecond else "%Y-%m-%d %H:%M:%S")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, _dt.time):
        return v.strftime("%H:%M:%S.%f" if v.microsecond else "%H:%M:%S")
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return fmt_value(v.to_pydatetime())
    raise TypeError(f"cannot send a {type(v).__name__} as JSON")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=fmt_value, option=orjson.OPT_PASSTHROUGH_DATETIME)


def concat(frames: Iterable[pd.DataFrame], fields: list[dict]) -> pd.DataFrame:
    frames = [f for f in frames]
    if not frames:
        return frame_from_changes(fields, [])
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


__all__ = ["find_relation", "frame_from_changes", "match_columns", "records", "dumps", "concat",
           "column_name", "INSERT_DELETE"]
