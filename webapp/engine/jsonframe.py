"""Framing a JSON ingress body: the stream of top-level JSON values it holds, in one linear pass.

A body may hold one value per line (NDJSON), several on a line, or values spread over many lines
(a pretty-printed array). Each line that holds exactly one value is read by orjson. Anything else is
read by the standard library's decoder over a *window* of the text: a value that runs past the
window's end makes the window grow to at least twice its length (always ending at a line end, where
no JSON token can be cut), so a value of n characters costs O(n) however many lines it spans; values
after it on the same window are read from the same window. After a syntax error, reading goes on at
the next line with a new window, so the decoder's error position (counted from the window's start)
never rescans text already read. ``Frame.scanned`` counts the characters the decoders read, which
stays within a small multiple of the body's size: the ingress stats show it.

With ``exact`` (a table with a DECIMAL column), numbers with a fraction or an exponent are ``Decimal``,
as written: a line orjson read with a float in it is read again by the exact decoder (only such lines,
so the work stays linear), and windows are read by the exact decoder.

JSON has no NaN or infinity. ``NaN``, ``Infinity``, ``-Infinity`` (which Python's decoder accepts)
and numbers too large for a double (``1e400``) become ``NonFinite`` values, which the row converter
refuses, naming the column, instead of storing something the output could only write as ``null``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson


class NonFinite:
    """A number JSON cannot spell (``NaN``, ``Infinity``, ``1e400``), kept as its text for the error."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text


def _float(text: str) -> Any:
    v = float(text)
    return v if math.isfinite(v) else NonFinite(text)


def _exact_float(text: str) -> Any:
    return Decimal(text) if math.isfinite(float(text)) else NonFinite(text)


def _has_float(v: Any) -> bool:
    if isinstance(v, float):
        return True
    if isinstance(v, dict):
        return any(_has_float(x) for x in v.values())
    return isinstance(v, list) and any(_has_float(x) for x in v)


_decoder = json.JSONDecoder(parse_float=_float, parse_constant=NonFinite)
_exact_decoder = json.JSONDecoder(parse_float=_exact_float, parse_constant=NonFinite)
_WS = " \t\r\n"
_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes that are not UTF-8, as decoded with surrogateescape


class FrameError(Exception):
    """A value that could not be read; ``text`` is the start of what was sent."""

    def __init__(self, description: str, text: str):
        super().__init__(description)
        self.description, self.text = description, text


class Frame:
    """The values of one body: iterate for ``(value, line, error)``; ``scanned`` counts decoder work."""

    def __init__(self, body: bytes, exact: bool = False):
        self.body = body
        self.exact = exact
        self._decoder = _exact_decoder if exact else _decoder
        self.scanned = 0

    def __iter__(self) -> Iterator[tuple[Any, int, FrameError | None]]:
        # Invalid UTF-8 fails its own line; the text around it is read as usual. Decoding once with
        # surrogateescape and searching for the escapes keeps this linear however many lines are bad.
        text = self.body.decode("utf-8", "surrogateescape")
        start, line = 0, 1
        for bad in _ESCAPED.finditer(text):
            if bad.start() < start:
                continue  # a second bad byte on a line already reported
            cut = text.rfind("\n", start, bad.start()) + 1 or start
            yield from self._text(text[start:cut], line)
            line += text.count("\n", start, cut)
            end = text.find("\n", bad.start())
            end = len(text) if end < 0 else end
            offset = len(text[cut:bad.start()].encode("utf-8", "surrogateescape"))
            yield None, line, FrameError(f"invalid UTF-8 at byte {offset} of the line",
                                         text[cut:end][:200].encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
            start, line = end + 1, line + 1
        if start < len(text):
            yield from self._text(text[start:], line)

    def _text(self, text: str, line: int) -> Iterator[tuple[Any, int, FrameError | None]]:
        n, pos = len(text), 0
        while pos < n:
            eol = text.find("\n", pos)
            eol = n if eol < 0 else eol + 1
            raw = text[pos:eol]
            if raw.isspace():
                pos, line = eol, line + 1
                continue
            self.scanned += len(raw)
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                pos, line = yield from self._window(text, pos, eol, line)
                continue
            if self.exact and _has_float(value):
                self.scanned += len(raw)
                value = self._decoder.decode(raw)
            yield value, line, None
            pos, line = eol, line + 1

    def _window(self, text: str, base: int, end: int, line: int):
        """Read values from ``text[base:end]`` (growing it as a value needs); return where to go on."""
        window, i, n = text[base:end], 0, len(text)
        while True:
            while i < len(window) and window[i] in _WS:
                if window[i] == "\n":
                    line += 1
                i += 1
            if i >= len(window):
                return base + i, line
            try:
                value, stop = self._decoder.raw_decode(window, i)
            except RecursionError:
                # Where the value ends is unknown; trying again on each of its lines would cost its depth per
                # line, so the rest of the window fails with it, and the error says which lines that is.
                self.scanned += len(window) - i
                last = line + window.count("\n", i, len(window) - 1)
                yield None, line, FrameError(f"JSON nested too deeply (lines {line} to {last} were not read)",
                                             window[i:i + 200])
                return base + len(window), last + 1
            except json.JSONDecodeError as e:
                self.scanned += e.pos - i + 1
                if base + len(window) < n and not window[e.pos:].strip():
                    # The value goes on past the window: at least double it, to a line end.
                    grow = text.find("\n", base + i + 2 * (len(window) - i))
                    end = n if grow < 0 else grow + 1
                    base, window, i = base + i, text[base + i:end], 0
                    continue
                err_line = line + window.count("\n", i, e.pos)
                yield None, line, FrameError(f"invalid JSON: {e.msg} at line {err_line}, column {e.colno}",
                                             window[i:i + 200])
                return self._next_line(text, base + e.pos, err_line)
            self.scanned += stop - i
            yield value, line, None
            line += window.count("\n", i, stop)
            i = stop

    @staticmethod
    def _next_line(text: str, pos: int, line: int) -> tuple[int, int]:
        nl = text.find("\n", pos)
        return (len(text), line) if nl < 0 else (nl + 1, line + 1)


__all__ = ["Frame", "FrameError", "NonFinite"]
