"""A table's ``'connectors'`` property: Feldera's JSON list of connector configurations, checked.

Only the ``datagen`` transport exists on Sluice; every other transport Feldera has (and any name it
does not have) is refused by name, and so is every key Feldera would not read, so a program never
runs with part of its configuration ignored. Errors carry the offset of the offending text inside
the property's value, so the compiler can point at the line and column the user wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .datagen_config import DatagenConfig, check_columns, parse_datagen
from .errors import ConnectorConfigError

# Transports Feldera documents. They are named in the refusal, so a user learns the connector is
# known but not available here, rather than that it was misspelt.
FELDERA_TRANSPORTS = {
    "file_input", "file_output", "kafka_input", "kafka_output", "pubsub_input", "url_input", "s3_input",
    "delta_table_input", "delta_table_output", "iceberg_input", "postgres_input", "postgres_output",
    "postgres_cdc_input", "redis_output", "http_input", "http_output", "http_get", "nexmark", "clock",
    "nats_input", "rabbitmq_input", "s2_input", "s2_output", "ad_hoc_input", "empty",
}

# Keys of Feldera's connector configuration that an input connector reads.
_INPUT_KEYS = {"name", "transport", "format", "paused", "labels", "start_after", "max_queued_records",
               "max_batch_size", "max_worker_batch_size"}
# Keys that only mean something for an output connector (a view's).
_OUTPUT_KEYS = {"index", "send_snapshot", "enable_output_buffer", "max_output_buffer_time_millis",
                "max_output_buffer_size_records", "preprocessor"}
DEFAULT_MAX_QUEUED_RECORDS = 1_000_000  # Feldera's default backpressure threshold


@dataclass
class InputConnector:
    """One checked input connector of a table."""

    name: str
    transport: str
    datagen: DatagenConfig
    paused: bool = False
    labels: list[str] = field(default_factory=list)
    start_after: list[str] = field(default_factory=list)
    max_queued_records: int = DEFAULT_MAX_QUEUED_RECORDS
    max_batch_size: int | None = None
    raw: dict = field(default_factory=dict)  # the configuration as written, for statistics


def _no_duplicates(pairs):
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise ConnectorConfigError(f"key '{k}' appears twice in the same object", near=(k,))
        seen[k] = v
    return seen


def _locate(text: str, err: ConnectorConfigError, *needles: str) -> ConnectorConfigError:
    """Point ``err`` at the first of ``needles`` (JSON strings, quoted) found in ``text``."""
    if err.offset is None:
        for n in err.near + needles:
            at = text.find(json.dumps(n))
            if at >= 0:
                err.offset = at
                break
    return err


def load_connectors(text: str, what: str) -> list:
    """The property's JSON list (objects only), duplicate keys refused."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise ConnectorConfigError(f"the 'connectors' property of {what} is not valid JSON: {e.msg}", e.pos) from None
    except ConnectorConfigError as e:
        raise _locate(text, e) from None
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise ConnectorConfigError(f"the 'connectors' property of {what} must be a JSON list of objects", 0)
    return value


def _transport_name(conn: dict, text: str) -> str:
    transport = conn.get("transport")
    if not isinstance(transport, dict) or not isinstance(transport.get("name"), str):
        raise _locate(text, ConnectorConfigError("a connector needs \"transport\": {\"name\": ..., \"config\": ...}"),
                      "transport")
    extra = set(transport) - {"name", "config"}
    if extra:
        k = min(extra)
        raise _locate(text, ConnectorConfigError(f"unknown key '{k}' in a connector's transport"), k)
    return transport["name"]


def refuse_transport(name: str, text: str, output: bool) -> ConnectorConfigError:
    if name in FELDERA_TRANSPORTS:
        msg = (f"connector '{name}' is not supported by Sluice: only 'datagen' (a table's input) is; "
               + ("read a view over HTTP egress instead" if output else "push data over HTTP ingress instead"))
    else:
        msg = f"unknown connector transport '{name}'"
    return _locate(text, ConnectorConfigError(msg), name)


def parse_table_connectors(text: str, table) -> list[InputConnector]:
    """Check a table's ``'connectors'`` property against its columns; the connectors, in order."""
    out: list[InputConnector] = []
    names: set[str] = set()
    for i, conn in enumerate(load_connectors(text, f"table '{table.name}'")):
        tname = _transport_name(conn, text)
        if tname != "datagen":
            raise refuse_transport(tname, text, output=False)
        for k in conn:
            if k in _OUTPUT_KEYS:
                raise _locate(text, ConnectorConfigError(f"'{k}' applies to output connectors only, "
                                                         f"not to the input connector of table '{table.name}'"), k)
            if k not in _INPUT_KEYS:
                raise _locate(text, ConnectorConfigError(f"unknown connector key '{k}'"), k)
        if conn.get("format") is not None:
            raise _locate(text, ConnectorConfigError("datagen makes typed rows itself: remove its 'format'"), "format")
        name = conn.get("name", f"unnamed-{i}")
        if not isinstance(name, str) or not name:
            raise _locate(text, ConnectorConfigError("a connector's 'name' must be a non-empty string"), "name")
        if name in names:
            raise _locate(text, ConnectorConfigError(f"two connectors of table '{table.name}' are named '{name}'"), name)
        names.add(name)
        try:
            check_columns(table)
            cfg = parse_datagen(conn["transport"].get("config", {}), table)
        except ConnectorConfigError as e:
            raise _locate(text, e, "datagen") from None
        out.append(InputConnector(
            name=name, transport=tname, datagen=cfg,
            paused=_bool(conn, "paused", text),
            labels=_strings(conn, "labels", text),
            start_after=_strings(conn, "start_after", text),
            max_queued_records=_count(conn, "max_queued_records", text, DEFAULT_MAX_QUEUED_RECORDS),
            max_batch_size=_count(conn, "max_batch_size", text, None) or _count(conn, "max_worker_batch_size", text, None),
            raw=conn,
        ))
    return out


def check_view_connectors(text: str, view_name: str) -> None:
    """A view's connectors would be outputs; Sluice has none besides HTTP egress."""
    for conn in load_connectors(text, f"view '{view_name}'"):
        raise refuse_transport(_transport_name(conn, text), text, output=True)


def _bool(conn: dict, key: str, text: str) -> bool:
    v = conn.get(key, False)
    if not isinstance(v, bool):
        raise _locate(text, ConnectorConfigError(f"'{key}' must be true or false"), key)
    return v


def _strings(conn: dict, key: str, text: str) -> list[str]:
    v = conn.get(key)
    if v is None:
        return []
    if isinstance(v, str):  # Feldera takes one label as a plain string too
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _locate(text, ConnectorConfigError(f"'{key}' must be a string or a list of strings"), key)
    return list(v)


def _count(conn: dict, key: str, text: str, default):
    v = conn.get(key)
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise _locate(text, ConnectorConfigError(f"'{key}' must be a whole number of at least 1"), key)
    return v


__all__ = [
    "FELDERA_TRANSPORTS",
    "ConnectorConfigError",
    "InputConnector",
    "check_view_connectors",
    "parse_table_connectors",
]
