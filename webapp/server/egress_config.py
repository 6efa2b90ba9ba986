"""What an egress request asks for: from its query string, or from a connector configuration in its body.

Feldera accepts either query parameters (``format``, ``backpressure``, ``send_snapshot``, ``array``) or a
JSON body holding an output connector's configuration, never both (400, "Can't mix ..."):

    {"transport": {"name": "http_output", "config": {"backpressure": true}},
     "format": {"name": "json", "config": {"array": true}}}

Sluice honours what such a body can say about an HTTP stream: the format (``json``, whose chunks are
always arrays, or ``csv``) and ``backpressure``. Anything else in it is refused by name (400
``InvalidParam``), never ignored: a reader must not wait on a stream configured otherwise than it asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from ..engine.errors import InvalidParam

_FORMAT_OPTIONS = {"json": {"array": (True,), "update_format": ("insert_delete",), "json_flavor": ("default",)},
                   "csv": {}}


@dataclass
class EgressConfig:
    fmt: str = "csv"
    backpressure: bool = False
    snapshot: bool = False


def _refuse(message: str, field: str, value=None) -> InvalidParam:
    return InvalidParam(message, {"field": field, "value": value})


def _object(v, field: str) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _refuse(f"'{field}' must be an object", field, v)
    return v


def from_body(raw: bytes, params: dict) -> EgressConfig:
    """The configuration a JSON body gives; ``params`` are the request's query parameters (none allowed)."""
    if params:
        raise InvalidParam("Can't mix configuration in the request body with query parameters "
                           f"({', '.join(sorted(params))}): send one or the other", {"parameters": sorted(params)})
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidParam(f"the egress request body is not valid JSON: {e}", None) from None
    body = _object(body, "body")
    unknown = set(body) - {"transport", "format"}
    if unknown:
        raise _refuse(f"egress configuration field(s) {sorted(unknown)} are not supported: only 'transport' and "
                      "'format'", "body", sorted(unknown))
    transport = _object(body.get("transport"), "transport")
    if transport.get("name", "http_output") != "http_output":
        raise _refuse(f"transport '{transport.get('name')}' cannot serve an HTTP egress stream: use 'http_output'",
                      "transport.name", transport.get("name"))
    tconf = _object(transport.get("config"), "transport.config")
    extra = set(tconf) - {"backpressure"}
    if extra:
        raise _refuse(f"transport.config field(s) {sorted(extra)} are not supported: only 'backpressure'",
                      "transport.config", sorted(extra))
    backpressure = tconf.get("backpressure", False)
    if not isinstance(backpressure, bool):
        raise _refuse("transport.config.backpressure must be true or false", "transport.config.backpressure",
                      backpressure)
    fmt_obj = _object(body.get("format"), "format")
    fmt = fmt_obj.get("name", "csv")
    if fmt not in _FORMAT_OPTIONS:
        raise _refuse(f"unknown output format '{fmt}': use json or csv", "format.name", fmt)
    for key, value in _object(fmt_obj.get("config"), "format.config").items():
        allowed = _FORMAT_OPTIONS[fmt].get(key)
        if allowed is None or value not in allowed:
            want = f"it may only be {allowed[0]!r}" if allowed else "Sluice does not support it"
            raise _refuse(f"format.config.{key} = {value!r} is not supported for {fmt} egress: {want}",
                          f"format.config.{key}", value)
    if fmt == "json" and _object(fmt_obj.get("config"), "format.config").get("array") is not True:
        raise _refuse("JSON egress configured in the body must set format.config.array to true (as in Feldera)",
                      "format.config.array")
    return EgressConfig(fmt=fmt, backpressure=backpressure)


__all__ = ["EgressConfig", "from_body"]
