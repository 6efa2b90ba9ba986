"""Values for one generated row, following Feldera's datagen strategies.

Row ``idx`` of a plan (0, 1, 2, ... up to its ``limit``) decides every ``increment`` value, so the
rows a plan makes do not depend on how they were split between workers or across restarts; the
random strategies draw from the ``random.Random`` they are handed. Remainders follow Feldera's
(Rust's: the sign of the dividend), so a negative ``scale`` wraps the way it does there.
"""

from __future__ import annotations

import datetime as _dt
import math
import string

from ..catalog import INTEGER_RANGES
from .datagen_config import STRING_TYPES, FieldSettings, Plan, default_range
from .zipf import zipf_sample

_ALNUM = string.ascii_letters + string.digits
_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_DATE = _dt.date(1970, 1, 1)
_DAY_MS = 86_400_000
_FLOAT_MAX = {"REAL": 3.4028234663852886e38, "DOUBLE": 1.7976931348623157e308}
_DEFAULT = FieldSettings()


class GenerationError(Exception):
    """Raised when a value cannot be made (a date beyond year 9999, say); the connector stops with it."""


def _rem(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return math.fmod(a, b)
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


class RowMaker:
    """Makes a plan's rows as JSON-ready dicts."""

    def __init__(self, table, plan: Plan, strings=None):
        self.cols = [(c.name, c.type, plan.fields.get(c.name, _DEFAULT)) for c in table.columns]
        self.strings = strings  # a StringMaker, needed only by the string strategies

    def row(self, idx: int, rng) -> dict:
        return {name: self.value(ctype, fs, idx, rng) for name, ctype, fs in self.cols}

    def value(self, ctype, fs: FieldSettings, idx: int, rng):
        if fs.null_percentage and rng.randint(1, 100) <= fs.null_percentage:
            return None
        if fs.values is not None:
            return self._pick(fs, idx, rng)
        t = ctype.type
        if t == "BOOLEAN":
            return idx % 2 == 1 if fs.strategy == "increment" else rng.random() < 0.5
        if t in INTEGER_RANGES or t in ("REAL", "DOUBLE", "DECIMAL"):
            return self._number(ctype, fs, idx, rng)
        if t in STRING_TYPES:
            return self._string(fs, idx, rng)
        if t == "ARRAY":
            return self._array(ctype, fs, idx, rng)
        if t == "DATE":
            return self._date(fs, idx, rng)
        if t == "TIME":
            ms = self._temporal(t, fs, idx, rng) % _DAY_MS  # a time of day wraps around midnight, as chrono's does
            return _time_text(ms)
        if t == "TIMESTAMP":
            return _timestamp_text(self._temporal(t, fs, idx, rng))
        raise GenerationError(f"datagen cannot make values of type {t}")

    @staticmethod
    def _pick(fs: FieldSettings, idx: int, rng):
        vals = fs.values
        if not vals:
            return None  # Feldera: an empty list of values makes NULLs
        if fs.strategy == "increment":
            return vals[idx % len(vals)]
        if fs.strategy == "zipf":
            return vals[zipf_sample(rng, len(vals), fs.e) - 1]
        return vals[rng.randrange(len(vals))]

    @staticmethod
    def _number(ctype, fs: FieldSettings, idx: int, rng):
        t = ctype.type
        is_int = t in INTEGER_RANGES
        if is_int:
            lo, hi = INTEGER_RANGES[t]
        elif t == "DECIMAL":
            hi = 10.0 ** (ctype.precision - ctype.scale) - 1
            lo = -hi
        else:
            hi = _FLOAT_MAX[t]
            lo = -hi
        if fs.strategy == "increment":
            step = idx * fs.scale if is_int else float(idx) * fs.scale
            if fs.range is None:
                return _rem(step, hi)
            a, b = fs.range
            return a + _rem(step, b - a)
        if fs.strategy == "uniform":
            a, b = fs.range if fs.range is not None else (lo, hi)
            v = rng.randrange(a, b) if is_int else rng.uniform(a, b)
            return v * fs.scale
        a, b = fs.range if fs.range is not None else (0, hi)
        n = max(1, int(b - a))
        return a + (zipf_sample(rng, n, fs.e) - 1)

    def _string(self, fs: FieldSettings, idx: int, rng):
        lo, hi = fs.range if fs.range is not None else default_range("VARCHAR")
        if fs.strategy == "increment":
            return str(idx * fs.scale)
        if fs.strategy == "uniform":
            return "".join(rng.choices(_ALNUM, k=rng.randrange(lo, hi)))
        if fs.strategy == "zipf":
            return "".join(rng.choices(_ALNUM, k=zipf_sample(rng, hi, fs.e) - 1))
        return self.strings.make(fs.strategy, lo, hi, rng)

    def _array(self, ctype, fs: FieldSettings, idx: int, rng):
        lo, hi = fs.range if fs.range is not None else default_range("ARRAY")
        if fs.strategy == "increment":
            n = lo + _rem(idx * max(fs.scale, 1), hi - lo)
        elif fs.strategy == "uniform":
            n = rng.randrange(lo, hi) * max(fs.scale, 1)
        else:
            n = zipf_sample(rng, hi - lo, fs.e) - 1
        # Each element is generated as if it were row i of its own plan (Feldera's element increment).
        return [self.value(ctype.component, fs.value or _DEFAULT, i, rng) for i in range(n)]

    @staticmethod
    def _temporal(t: str, fs: FieldSettings, idx: int, rng) -> int:
        a, b = fs.range if fs.range is not None else default_range(t)
        if fs.strategy == "increment":
            return a + _rem(idx * fs.scale, b - a)
        if fs.strategy == "uniform":
            return rng.randrange(a, b) * fs.scale
        return a + zipf_sample(rng, b - a, fs.e) - 1

    def _date(self, fs: FieldSettings, idx: int, rng) -> str:
        days = self._temporal("DATE", fs, idx, rng)
        try:
            return (_EPOCH_DATE + _dt.timedelta(days=days)).isoformat()
        except OverflowError:
            raise GenerationError(f"day {days} after 1970-01-01 is beyond the dates a DATE holds") from None


def _time_text(ms: int) -> str:
    s, ms = divmod(ms, 1000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" + (f".{ms:03d}" if ms else "")


def _timestamp_text(ms: int) -> str:
    try:
        d = _EPOCH + _dt.timedelta(milliseconds=ms)
    except OverflowError:
        raise GenerationError(f"{ms} ms after 1970 is beyond the timestamps a TIMESTAMP holds") from None
    text = d.isoformat(sep=" ", timespec="seconds")
    return text + (f".{d.microsecond // 1000:03d}" if d.microsecond else "")


__all__ = ["GenerationError", "RowMaker"]
