"""The one validator for rows typed or pasted into the dashboard, driven by rules that are plain data.

``rules_for(fields)`` turns a table's Feldera schema fields into one rule per column (a JSON-ready dict).
``check_value(rule, value)`` is the authoritative check: it takes what a form sends (text) or what a
JSON document holds (typed values) and returns the value to send upstream, or raises ``FieldError``.
The page receives the same rules and ``static/js/rules.js`` interprets them, so the browser refuses the
same values before sending; ``tests/dashboard/test_validate.py`` runs both on one table of values.

A rule: ``{"name", "type" (as the schema says), "label" (e.g. "DECIMAL(10, 2) NOT NULL"), "nullable",
"key" (part of the primary key), "kind", "input"}`` plus, by kind:

    integer    min, max (decimal strings, exact for BIGINT)      text "12", numbers; "12.0", 12.0 and 1.2e1
                                                                  too (a whole number), not 12.5
    decimal    precision, scale                                   text or numbers; sent as a string
    float      max (largest finite magnitude)                     text or numbers
    boolean                                                       true/false, "true"/"false"
    string     max_length (code points; null: unlimited)          strings only
    date, time, timestamp   pattern (a regex both languages read) text; calendar and clock ranges checked
    array      item (the component's rule)                        a JSON array, or text holding one
    json       (a type this validator does not know)              passed on; the engine decides

Raises: ``FieldError`` (a ValueError) from ``check_value``; ``check_row`` collects them instead.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

INTEGER_RANGES = {
    "TINYINT": (-(2 ** 7), 2 ** 7 - 1),
    "SMALLINT": (-(2 ** 15), 2 ** 15 - 1),
    "INTEGER": (-(2 ** 31), 2 ** 31 - 1),
    "INT": (-(2 ** 31), 2 ** 31 - 1),
    "BIGINT": (-(2 ** 63), 2 ** 63 - 1),
}
FLOAT_MAX = {"REAL": 3.4028234663852886e38, "FLOAT": 3.4028234663852886e38, "DOUBLE": 1.7976931348623157e308}
PATTERNS = {
    "date": r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$",
    "time": r"^([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?$",
    "timestamp": r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?$",
}
EXAMPLES = {"date": "2024-01-31", "time": "13:45:00", "timestamp": "2024-01-31 13:45:00"}
INPUTS = {"integer": "numeric", "decimal": "decimal", "float": "decimal", "boolean": "boolean", "string": "text",
          "date": "text", "time": "text", "timestamp": "text", "array": "json", "json": "json"}
# [0-9], not \d (which takes any Unicode digit in Python), and \Z, so both languages read the same.
_FLOAT_TEXT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_DECIMAL_TEXT = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?\Z")


class FieldError(ValueError):
    """Raised by ``check_value`` when a value does not fit its column; ``message`` says what would."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def label(ct: dict) -> str:
    """The type as SQL spells it: ``DECIMAL(10, 2) NOT NULL``, ``INTEGER ARRAY``, ``VARCHAR(20)``."""
    kind = str(ct.get("type", "?")).upper()
    if kind == "DECIMAL" and ct.get("precision") is not None:
        kind += f"({ct.get('precision')}, {ct.get('scale') or 0})"
    elif kind in ("VARCHAR", "CHAR") and (ct.get("precision") or -1) > 0:
        kind += f"({ct['precision']})"
    elif kind == "ARRAY" and ct.get("component"):
        kind = label(dict(ct["component"], nullable=True)) + " ARRAY"
    return kind + (" NOT NULL" if ct.get("nullable") is False else "")


def rule_for(name: str, ct: dict, key: bool = False) -> dict:
    """The rule for one column of type ``ct`` (a schema ``columntype``)."""
    t = str(ct.get("type", "")).upper()
    rule: dict[str, Any] = {"name": name, "type": t, "label": label(ct), "nullable": ct.get("nullable") is not False,
                            "key": key}
    if t in INTEGER_RANGES:
        lo, hi = INTEGER_RANGES[t]
        rule.update(kind="integer", min=str(lo), max=str(hi))
    elif t == "DECIMAL":
        rule.update(kind="decimal", precision=int(ct.get("precision") or 38), scale=int(ct.get("scale") or 0))
    elif t in FLOAT_MAX:
        rule.update(kind="float", max=FLOAT_MAX[t])
    elif t == "BOOLEAN":
        rule.update(kind="boolean")
    elif t in ("VARCHAR", "CHAR", "STRING", "TEXT"):
        n = ct.get("precision")
        rule.update(kind="string", max_length=int(n) if n is not None and int(n) > 0 else None)
    elif t in ("DATE", "TIME", "TIMESTAMP"):
        k = t.lower()
        rule.update(kind=k, pattern=PATTERNS[k], example=EXAMPLES[k])
    elif t == "ARRAY" and ct.get("component"):
        rule.update(kind="array", item=rule_for("item", ct["component"]))
    else:
        rule.update(kind="json")
    rule["input"] = INPUTS[rule["kind"]]
    return rule


def _col(f: dict) -> str:
    return f["name"] if f.get("case_sensitive") else f["name"].lower()


def rules_for(fields: list[dict], primary_key: list[str] | None = None) -> list[dict]:
    """One rule per field of a relation's schema, in column order (see the module docstring)."""
    keys = {k.lower() for k in primary_key or []}
    out = []
    for f in fields:
        rule = rule_for(_col(f), f.get("columntype") or {}, _col(f).lower() in keys)
        rule["case_sensitive"] = bool(f.get("case_sensitive"))
        out.append(rule)
    return out


class DuplicateName(ValueError):
    """Raised by ``loads`` when one JSON object names a column twice (json.loads would keep the last)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise DuplicateName(f"duplicate name {json.dumps(k, ensure_ascii=False)} in one JSON object: "
                                "give each column once")
        out[k] = v
    return out


class TooDeep(ValueError):
    """Raised by ``loads`` when arrays and objects nest deeper than Python's recursion limit lets it read."""


def loads(text: str | bytes) -> Any:
    """JSON as the dashboard reads it: numbers with a point or exponent as exact ``Decimal``, and an
    object naming a key twice refused (``DuplicateName``) rather than silently keeping the last."""
    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_pairs)
    except RecursionError:
        raise TooDeep("arrays and objects are nested too deeply to read (several hundred levels)") from None


def _show(v: Any) -> str:
    s = str(v) if isinstance(v, Decimal) else json.dumps(v, default=str, ensure_ascii=False, separators=(",", ":"))
    return s if len(s) <= 60 else s[:57] + "..."


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)


def _split(text: str) -> tuple[str, str, str] | None:
    """``(sign, whole digits, fraction digits)`` of a number written as text (``-1.50e2`` → ``("-", "150",
    "")``), without leading or trailing zeros; None when ``text`` is not a number. The exponent is capped at
    ±1000, which keeps ``1e999999999`` small and is far beyond any column's digits."""
    m = _DECIMAL_TEXT.match(text)
    if not m or not (m.group(2) or m.group(3)):
        return None
    whole, frac = m.group(2) or "", m.group(3) or ""
    exp = max(-1000, min(1000, int(m.group(4) or 0)))
    digits, point = whole + frac, len(whole) + exp  # the value is 0.<digits> * 10^point, shifted
    if point < 0:
        digits, point = "0" * -point + digits, 0
    elif point > len(digits):
        digits += "0" * (point - len(digits))
    return m.group(1), digits[:point].lstrip("0"), digits[point:].rstrip("0")


def _number_text(v: Any) -> str | None:
    if isinstance(v, str):
        return v.strip()
    if _is_number(v) and _finite(v):
        return repr(v) if isinstance(v, float) else str(v)
    return None


def _integer(rule: dict, v: Any) -> int:
    # A whole number however it is written (5, "5", 5.0, "5.0", "5e0"); a fractional part refuses it, in
    # the form and in JSON alike (the engine, like Feldera's JSON reader, takes 5.0 for an integer).
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    else:
        text = _number_text(v)
        parts = _split(text) if text is not None else None
        if parts is None or parts[2]:
            raise FieldError(f"expected a whole number ({rule['type']}), found {_show(v)}")
        n = int(parts[0] + (parts[1] or "0"))
    if not int(rule["min"]) <= n <= int(rule["max"]):
        raise FieldError(f"{n} is out of range for {rule['type']} ({rule['min']} to {rule['max']})")
    return n


def _finite(v: Any) -> bool:
    return v == v and v not in (float("inf"), float("-inf")) if not isinstance(v, Decimal) else v.is_finite()


def _float(rule: dict, v: Any) -> float:
    if _is_number(v):
        f = float(v)
    elif isinstance(v, str) and _FLOAT_TEXT.match(v.strip()):
        f = float(v.strip())
    else:
        raise FieldError(f"expected a number ({rule['type']}), found {_show(v)}")
    if not (f == f and abs(f) <= rule["max"]):
        raise FieldError(f"{_show(v)} is out of range for {rule['type']}")
    return f


def _decimal(rule: dict, v: Any) -> str:
    if not isinstance(v, str) and not _is_number(v):
        raise FieldError(f"expected a decimal number, found {_show(v)}")
    text = _number_text(v)
    parts = _split(text) if text is not None else None
    if parts is None:
        raise FieldError(f"expected a decimal number like 12.34, found {_show(v)}")
    sign, whole, frac = parts
    p, s = rule["precision"], rule["scale"]
    after, before = len(frac) > s, len(whole) > p - s
    if after and before:
        raise FieldError(f"too many digits before and after the decimal point: DECIMAL({p}, {s}) allows {p - s} "
                         f"before and {s} after")
    if after:
        raise FieldError(f"too many digits after the decimal point: DECIMAL({p}, {s}) allows {s}")
    if before:
        raise FieldError(f"too many digits before the decimal point: DECIMAL({p}, {s}) allows {p - s}")
    out = (whole or "0") + ("." + frac if frac else "")
    return "-" + out if sign == "-" and out != "0" else out


def _days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _temporal(rule: dict, v: Any) -> str:
    kind = rule["kind"]
    m = re.fullmatch(rule["pattern"], v.strip()) if isinstance(v, str) else None
    if not m:
        raise FieldError(f"expected a {kind.upper()} like {rule['example']}, found {_show(v)}")
    nums = [int(x) if x is not None else 0 for x in m.groups()]
    if kind != "time":
        y, mo, d = nums[:3]
        if y < 1 or not 1 <= mo <= 12 or not 1 <= d <= _days_in_month(y, mo):
            raise FieldError(f"{_show(v)} is not a calendar date")
    if kind != "date":
        h, mi, sec = nums[-4:-1]
        if h > 23 or mi > 59 or sec > 59:
            raise FieldError(f"{_show(v)} is not a time of day (00:00:00 to 23:59:59)")
    text = v.strip()
    return text[:10] + " " + text[11:] if kind == "timestamp" else text


def _array(rule: dict, v: Any) -> list:
    if isinstance(v, str):
        try:
            v = loads(v)  # exact numbers: [1.0000000001] is not the whole number 1
        except ValueError:
            raise FieldError(f"expected a JSON array like [1, 2], found {_show(v)}") from None
    if not isinstance(v, list):
        raise FieldError(f"expected a JSON array like [1, 2], found {_show(v)}")
    out = []
    for i, x in enumerate(v):
        try:
            out.append(check_value(rule["item"], x))
        except FieldError as e:
            raise FieldError(f"item {i + 1}: {e.message}") from None
    return out


def check_value(rule: dict, value: Any) -> Any:
    """``value`` made ready to send for the column of ``rule``; raises ``FieldError`` when it does not fit."""
    if value is None:
        if not rule["nullable"]:
            raise FieldError("a value is required (NOT NULL)")
        return None
    kind = rule["kind"]
    if isinstance(value, str) and not value.strip() and kind not in ("string", "json"):
        raise FieldError(f"empty: enter a value of type {rule['type']}" + (" (or NULL)" if rule["nullable"] else ""))
    if kind == "integer":
        return _integer(rule, value)
    if kind == "float":
        return _float(rule, value)
    if kind == "decimal":
        return _decimal(rule, value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise FieldError(f"expected true or false, found {_show(value)}")
    if kind == "string":
        if not isinstance(value, str):
            raise FieldError(f"expected text, found {_show(value)}")
        n = rule.get("max_length")
        if n is not None and len(value) > n:
            raise FieldError(f"{len(value)} characters: {rule['type']}({n}) holds at most {n}")
        return value
    if kind in ("date", "time", "timestamp"):
        return _temporal(rule, value)
    if kind == "array":
        return _array(rule, value)
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return _plain(value)


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and "." not in str(v) else float(v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _slots(rules: list[dict]) -> dict[str, dict]:
    out = {}
    for r in rules:
        out[r["name"] if r.get("case_sensitive") else r["name"].lower()] = r
    return out


def find_rule(rules: list[dict], name: str) -> dict | None:
    """The rule for column ``name`` (matched as SQL identifiers are: case-insensitively unless quoted)."""
    slots = _slots(rules)
    return slots.get(name) or next((r for r in rules if not r.get("case_sensitive")
                                    and r["name"].lower() == name.lower()), None)


def check_row(rules: list[dict], row: Any, key_only: bool = False) -> tuple[dict, list[dict]]:
    """``(row ready to send, errors)``; each error is ``{"field", "message"}`` (``field`` None: the whole row).

    A missing column counts as NULL, as the engine takes it. ``key_only`` (a delete on a table with a
    primary key) checks only the key columns and sends only them."""
    if not isinstance(row, dict):
        return {}, [{"field": None, "message": f"expected a row (a JSON object of column: value), found {_show(row)}"}]
    errors, out, given = [], {}, {}
    for k, v in row.items():
        r = find_rule(rules, k) if isinstance(k, str) else None
        if r is None:
            errors.append({"field": k, "message": f"unknown column {k!r}; the columns are "
                                                  + ", ".join(r["name"] for r in rules)})
        else:
            given[r["name"]] = v
    use = [r for r in rules if r["key"]] if key_only and any(r["key"] for r in rules) else rules
    for r in use:
        try:
            out[r["name"]] = check_value(r, given.get(r["name"]))
        except FieldError as e:
            msg = "missing: a value is required (NOT NULL)" if r["name"] not in given else e.message
            errors.append({"field": r["name"], "message": msg})
    return out, errors


def _items(value: Any, where: str) -> list[dict]:
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _items(v, f"{where}, item {i + 1}" if where else f"item {i + 1}")]
    if isinstance(value, dict) and value and set(value) <= {"insert", "delete"} \
            and all(isinstance(v, dict) for v in value.values()):
        return [{"op": op, "row": value[op], "where": where or "item 1"} for op in ("delete", "insert") if op in value]
    return [{"op": "insert", "row": value, "where": where or "item 1"}]


def parse_documents(text: str) -> tuple[list[dict], list[dict]]:
    """The JSON editor's text as ``(items, errors)``.

    It takes a JSON array, one JSON value, or NDJSON (one value per line). A value is a row (inserted) or
    ``{"insert": row}`` / ``{"delete": row}`` (both: the delete goes first). Items are
    ``{"op", "row", "where"}`` (``where``: "line 3", "item 2"); errors are ``{"where", "message"}`` for
    text that is not JSON. Numbers with a point are read as ``Decimal``, so DECIMAL values stay exact."""
    if not text.strip():
        return [], [{"where": "text", "message": "nothing to send: type rows or documents"}]
    try:
        return _items(loads(text), ""), []
    except (DuplicateName, TooDeep) as e:
        return [], [{"where": "text", "message": str(e)}]
    except json.JSONDecodeError as whole_error:
        lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
        if len(lines) == 1 or text.lstrip()[:1] == "[":
            e = whole_error
            return [], [{"where": f"line {e.lineno}", "message": f"invalid JSON: {e.msg} (line {e.lineno}, "
                                                                 f"column {e.colno})"}]
    items, errors = [], []
    for n, line in lines:
        try:
            items += _items(loads(line), f"line {n}")
        except json.JSONDecodeError as e:
            errors.append({"where": f"line {n}", "message": f"invalid JSON: {e.msg} (column {e.colno})"})
        except (DuplicateName, TooDeep) as e:
            errors.append({"where": f"line {n}", "message": str(e)})
    return items, errors


__all__ = ["FieldError", "DuplicateName", "TooDeep", "loads", "parse_documents", "rules_for", "rule_for", "check_value", "check_row", "find_rule", "label"]
