"""Feldera's ``datagen`` configuration (``plan``, ``workers``, ``seed``), checked against a table.

Every key Feldera's datagen reads is accepted with Feldera's meaning; any other key, a field that
is no column, a strategy that cannot make the column's type, a range or list of values of the wrong
kind, or a NULL chance on a NOT NULL column is refused here, at compile time, by name.
Ranges are turned into numbers once: days for DATE, milliseconds for TIME and TIMESTAMP.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field

from ..catalog import INTEGER_RANGES
from ..records import RecordError, value_converter
from .errors import ConnectorConfigError

STRING_STRATEGIES = (
    "word", "words", "sentence", "sentences", "paragraph", "paragraphs", "first_name", "last_name", "title",
    "suffix", "name", "name_with_title", "domain_suffix", "email", "username", "password", "field", "position",
    "seniority", "job_title", "ipv4", "ipv6", "ip", "mac_address", "user_agent", "rfc_status_code",
    "valid_status_code", "company_suffix", "company_name", "buzzword", "buzzword_middle", "buzzword_tail",
    "catch_phrase", "bs_verb", "bs_adj", "bs_noun", "bs", "profession", "industry", "currency_code",
    "currency_name", "currency_symbol", "credit_card_number", "city_prefix", "city_suffix", "city_name",
    "country_name", "country_code", "street_suffix", "street_name", "time_zone", "state_name", "state_abbr",
    "secondary_address_type", "secondary_address", "zip_code", "post_code", "building_number", "latitude",
    "longitude", "isbn", "isbn13", "isbn10", "phone_number", "cell_number", "file_path", "file_name",
    "file_extension", "dir_path",
)
NUMBER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "REAL", "DOUBLE", "DECIMAL"}
STRING_TYPES = {"VARCHAR", "CHAR"}
TEMPORAL_TYPES = {"DATE", "TIME", "TIMESTAMP"}
_DEFAULT_RANGES = {"VARCHAR": (0, 25), "CHAR": (0, 25), "ARRAY": (0, 5), "DATE": (0, 54787),
                   "TIME": (0, 86_400_000), "TIMESTAMP": (0, 4_102_444_800_000)}
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_U32_MAX, _U64_MAX = 2**32 - 1, 2**64 - 1


@dataclass
class FieldSettings:
    """How one column (or an array's elements) is generated."""

    strategy: str = "increment"
    null_percentage: int = 0
    range: tuple | None = None  # the column's numbers: days (DATE), ms (TIME, TIMESTAMP), lengths (strings, arrays)
    scale: int = 1
    e: float = 1.0
    values: list | None = None
    value: FieldSettings | None = None


@dataclass
class Plan:
    limit: int | None = None
    rate: int | None = None
    worker_chunk_size: int | None = None
    fields: dict[str, FieldSettings] = field(default_factory=dict)


@dataclass
class DatagenConfig:
    plans: list[Plan]
    workers: int = 1
    seed: int | None = None

    @property
    def finite(self) -> bool:
        """Whether the connector ever reaches its end of input."""
        return all(p.limit is not None for p in self.plans)


def _err(message: str, *near: str) -> ConnectorConfigError:
    return ConnectorConfigError(message, near=tuple(n for n in near if n))


def _only(obj: dict, allowed: set[str], where: str) -> None:
    for k in obj:
        if k not in allowed:
            raise _err(f"unknown key '{k}' in {where}", k)


def _int(v, what: str, lo: int | None = None, hi: int | None = None, near: str = "") -> int:
    if not isinstance(v, int) or isinstance(v, bool) or (lo is not None and v < lo) or (hi is not None and v > hi):
        bound = f" from {lo}" if lo is not None else ""
        bound += f" to {hi}" if hi is not None else ""
        raise _err(f"{what} must be a whole number{bound}", near)
    return v


def parse_datagen(config, table) -> DatagenConfig:
    if not isinstance(config, dict):
        raise _err("datagen's 'config' must be an object", "config")
    _only(config, {"plan", "workers", "seed"}, "datagen's config")
    workers = _int(config.get("workers", 1), "'workers'", 1, near="workers")
    seed = config.get("seed")
    if seed is not None:
        seed = _int(seed, "'seed'", 0, _U64_MAX, near="seed")
    plans_json = config.get("plan", [{}])
    if not isinstance(plans_json, list) or not all(isinstance(p, dict) for p in plans_json):
        raise _err("datagen's 'plan' must be a list of objects", "plan")
    return DatagenConfig([_plan(p, table) for p in plans_json], workers, seed)


def _plan(p: dict, table) -> Plan:
    _only(p, {"limit", "rate", "worker_chunk_size", "fields"}, "a datagen plan")
    plan = Plan()
    if p.get("limit") is not None:
        plan.limit = _int(p["limit"], "a plan's 'limit'", 0, near="limit")
    if p.get("rate") is not None:
        plan.rate = _int(p["rate"], "a plan's 'rate' (rows per second; leave it out for as fast as possible)",
                         1, _U32_MAX, near="rate")
    if p.get("worker_chunk_size") is not None:
        plan.worker_chunk_size = _int(p["worker_chunk_size"], "'worker_chunk_size'", 1, near="worker_chunk_size")
    fields = p.get("fields", {})
    if not isinstance(fields, dict):
        raise _err("a plan's 'fields' must be an object of column names", "fields")
    for name, settings in fields.items():
        col = _column(table, name)
        if col is None:
            raise _err(f"Field `{name}` specified in datagen does not exist in the table schema "
                       f"of table '{table.name}'", name)
        plan.fields[col.name] = _field(settings, col.type, col.name, name)
    return plan


def _column(table, name: str):
    """Feldera's matching: exact for a case-sensitive column, any case otherwise."""
    for c in table.columns:
        if (c.name == name) if c.case_sensitive else (c.name == name.lower()):
            return c
    return None


def supported(ctype) -> bool:
    t = ctype.type
    if t == "ARRAY":
        return supported(ctype.component)
    return t in NUMBER_TYPES or t in STRING_TYPES or t in TEMPORAL_TYPES or t == "BOOLEAN"


def check_columns(table) -> None:
    """Every column must be one datagen can fill (it fills all of them, configured or not)."""
    for c in table.columns:
        if not supported(c.type):
            raise _err(f"datagen cannot make values of type {c.type.type} (column '{c.name}' of table "
                       f"'{table.name}')", "datagen")


def _field(s, ctype, col: str, near: str) -> FieldSettings:
    if not isinstance(s, dict):
        raise _err(f"the settings of column '{col}' must be an object", near)
    _only(s, {"null_percentage", "strategy", "range", "scale", "e", "values", "fields", "key", "value"},
          f"the datagen settings of column '{col}'")
    t = ctype.type
    for k, kind in (("fields", "struct"), ("key", "map")):
        if k in s:
            raise _err(f"'{k}' applies to {kind} columns; column '{col}' is {t}", k)
    if "value" in s and t != "ARRAY":
        raise _err(f"'value' applies to array columns; column '{col}' is {t}", "value")
    f = FieldSettings()
    f.strategy = s.get("strategy", "increment")
    allowed = ("increment", "uniform") if t == "BOOLEAN" else ("increment", "uniform", "zipf")
    if t in STRING_TYPES:
        allowed = allowed + STRING_STRATEGIES
    if not isinstance(f.strategy, str) or f.strategy not in allowed:
        known = f.strategy in ("increment", "uniform", "zipf") + STRING_STRATEGIES
        raise _err(f"strategy '{f.strategy}' cannot make values of type {t} (column '{col}')" if known
                   else f"unknown datagen strategy '{f.strategy}' (column '{col}')", str(f.strategy))
    if s.get("null_percentage") is not None:
        f.null_percentage = _int(s["null_percentage"], f"'null_percentage' of column '{col}'", 0, 100,
                                 near="null_percentage")
        if f.null_percentage and not ctype.nullable:
            raise _err(f"column '{col}' is NOT NULL: its 'null_percentage' must be 0", "null_percentage")
    f.scale = _int(s.get("scale", 1), f"'scale' of column '{col}'", near="scale")
    e = s.get("e", 1)
    if not isinstance(e, (int, float)) or isinstance(e, bool) or e < 0:
        raise _err(f"'e' (the Zipf exponent) of column '{col}' must be a number of at least 0", "e")
    f.e = float(e)
    if "values" in s and s["values"] is not None:
        f.values = _values(s["values"], ctype, col)
    if s.get("range") is not None and t != "BOOLEAN":  # Feldera documents range as ignored for booleans
        f.range = _range(s["range"], ctype, col)
    if t == "ARRAY":
        f.value = _field(s.get("value", {}), ctype.component, f"{col}[]", "value")
    return f


def _values(values, ctype, col: str) -> list:
    """The values, each checked by the converter HTTP ingress uses, so none can fail to parse later."""
    if not isinstance(values, list):
        raise _err(f"'values' of column '{col}' must be a list", "values")
    if not values and not ctype.nullable:
        raise _err(f"'values' of column '{col}' is empty, which makes NULLs, but the column is NOT NULL", "values")
    conv = value_converter(ctype)
    for v in values:
        if v is None:
            if not ctype.nullable:
                raise _err(f"'values' of column '{col}' holds null, but the column is NOT NULL", "values")
            continue
        try:
            conv(v)
        except RecordError as e:
            raise _err(f"'values' of column '{col}' holds {json.dumps(v)}, which is no {ctype.type}: "
                       f"{e.description}", "values") from None
    return values


def _range(r, ctype, col: str) -> tuple:
    t = ctype.type
    if not isinstance(r, list) or len(r) != 2:
        raise _err(f"'range' of column '{col}' must be a list of two values [start, end)", "range")
    a, b = r
    if t == "DATE" and isinstance(a, str) and isinstance(b, str):
        a, b = (_parse(x, col, lambda s: (_dt.date.fromisoformat(s) - _dt.date(1970, 1, 1)).days, "YYYY-MM-DD")
                for x in (a, b))
    elif t == "TIME" and isinstance(a, str) and isinstance(b, str):
        a, b = (_parse(x, col, _time_ms, "HH:MM:SS") for x in (a, b))
    elif t == "TIMESTAMP" and isinstance(a, str) and isinstance(b, str):
        a, b = (_parse(x, col, _timestamp_ms, "RFC 3339") for x in (a, b))
    numeric_ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    ints_ok = numeric_ok and all(isinstance(x, int) for x in (a, b))
    if t in ("REAL", "DOUBLE", "DECIMAL"):
        if not numeric_ok:
            raise _err(f"'range' of column '{col}' must hold two numbers", "range")
        a, b = float(a), float(b)
    elif not ints_ok:
        kinds = {"DATE": "whole numbers (days since 1970-01-01) or two dates", "TIME":
                 "whole numbers (milliseconds) or two times", "TIMESTAMP":
                 "whole numbers (milliseconds since 1970) or two RFC 3339 timestamps"}
        raise _err(f"'range' of column '{col}' must hold two {kinds.get(t, 'whole numbers')}", "range")
    if a >= b:
        raise _err(f"'range' of column '{col}' is empty: its start must be below its end", "range")
    if (t in STRING_TYPES or t in ("ARRAY", "TIME")) and a < 0:
        raise _err(f"'range' of column '{col}' must not be negative", "range")
    lo_hi = INTEGER_RANGES.get(t)
    if lo_hi and (a < lo_hi[0] or b - 1 > lo_hi[1]):
        raise _err(f"'range' of column '{col}' goes beyond what {t} holds", "range")
    return a, b


def _parse(s: str, col: str, fn, form: str):
    try:
        return fn(s)
    except ValueError:
        raise _err(f"'range' of column '{col}' holds '{s}', which is no {form} value", s) from None


def _time_ms(s: str) -> int:
    t = _dt.datetime.strptime(s, "%H:%M:%S")
    return (t.hour * 3600 + t.minute * 60 + t.second) * 1000


def _timestamp_ms(s: str) -> int:
    d = _dt.datetime.fromisoformat(s)  # takes a trailing Z since Python 3.11
    if d.tzinfo is None:
        raise ValueError(s)
    return (d - _EPOCH) // _dt.timedelta(milliseconds=1)


def default_range(type_name: str) -> tuple | None:
    """Feldera's range when none is given: lengths for strings and arrays, days, milliseconds."""
    return _DEFAULT_RANGES.get(type_name)


__all__ = [
    "STRING_STRATEGIES",
    "DatagenConfig",
    "FieldSettings",
    "Plan",
    "check_columns",
    "default_range",
    "parse_datagen",
]
