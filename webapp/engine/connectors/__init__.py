"""Connectors declared in a program: ``WITH ('connectors' = '[...]')`` on tables (inputs) and views.

Sluice runs Feldera's ``datagen`` input connector and refuses every other connector by name, at
compile time. Layout:

    config.py          the 'connectors' JSON: connector keys, transport, refusals
    datagen_config.py  datagen's plan, fields and strategies, checked against the table's columns
    generators.py      row values per strategy (zipf.py: the Zipf sampler; strings.py: word, name, email...)
    progress.py        which rows were delivered, carried by the log and checkpoints: no row twice or lost
    runner.py          the worker threads of one connector of a running pipeline

The compiler calls ``check_table_connectors``/``check_view_properties`` with the raw WITH properties;
the runtime calls ``start_connectors``, then each runner's ``start``, ``request_stop`` and ``join``.
"""

from __future__ import annotations

from .config import (
    ConnectorConfigError,
    InputConnector,
    check_view_connectors,
    parse_table_connectors,
)
from .progress import connector_key
from .progress import record as record_progress
from .runner import DatagenRunner

PROPERTY = "connectors"


def check_table_connectors(table, properties: dict) -> None:
    """Compile time: raises ``ConnectorConfigError`` (offset into the property's text) if unusable."""
    text = properties.get(PROPERTY)
    if text is not None:
        parse_table_connectors(text, table)


def check_view_properties(view_name: str, properties: dict) -> None:
    text = properties.get(PROPERTY)
    if text is not None:
        check_view_connectors(text, view_name)


def table_connectors(table) -> list[InputConnector]:
    text = table.properties.get(PROPERTY)
    return parse_table_connectors(text, table) if text is not None else []


def start_connectors(rt, max_workers: int) -> list[DatagenRunner]:
    """Runners for every input connector of ``rt``'s program (not yet started); raises
    ``ConnectorConfigError`` for what only the whole program shows (``start_after`` labels)."""
    runners = []
    for table in rt.program.tables:
        for conn in table_connectors(table):
            if conn.datagen.workers > max_workers:
                raise ConnectorConfigError(
                    f"connector '{table.name}.{conn.name}' asks for {conn.datagen.workers} workers; this engine "
                    f"allows at most {max_workers} (--max-datagen-workers)")
            key = connector_key(rt.program.table_ddl(table), table.name, conn)
            runners.append(DatagenRunner(rt, table, conn, key, rt.pipeline.conn_progress.get(key, {})))
    _check_start_order(runners)
    return runners


def _check_start_order(runners: list[DatagenRunner]) -> None:
    labels = {lab for r in runners for lab in r.conn.labels}
    for r in runners:
        for lab in r.conn.start_after:
            if lab not in labels:
                raise ConnectorConfigError(f"connector '{r.endpoint_name}' starts after label '{lab}', "
                                           "which no connector of the program carries")
    # A connector that (through others) waits for itself would never start.
    waits = {id(r): [o for o in runners if set(r.conn.start_after) & set(o.conn.labels)] for r in runners}
    for r in runners:
        seen, todo = set(), list(waits[id(r)])
        while todo:
            o = todo.pop()
            if o is r:
                raise ConnectorConfigError(f"connector '{r.endpoint_name}' would wait for itself through "
                                           "'start_after'")
            if id(o) not in seen:
                seen.add(id(o))
                todo.extend(waits[id(o)])


__all__ = [
    "PROPERTY",
    "ConnectorConfigError",
    "DatagenRunner",
    "InputConnector",
    "check_table_connectors",
    "check_view_properties",
    "record_progress",
    "start_connectors",
    "table_connectors",
]
