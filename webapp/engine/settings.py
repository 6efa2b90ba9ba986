"""The settings of ``sluice engine``: one registry for the engine's knobs and its HTTP server's.

Each entry gives a flag (``sluice engine`` and ``sluice up`` take them all), a ``SLUICE_*`` environment
variable, a default, limits and help; a value comes from the flag, else the variable, else the default.
``Settings`` (what ``Engine`` runs with) is built from the entries that name a ``field``; the others are read
by the server (``webapp.cli``). The table in ``docs/cli.md`` is rendered from here
(``python -m webapp.engine.settings`` prints it) and a test keeps it in step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..settings import Setting


def _S(name, default, flag, metavar, help, doc="", **kw) -> Setting:
    return Setting(name, default, help, flag=flag, metavar=metavar, doc=doc, **kw)


SETTINGS: list[Setting] = [
    _S("HOST", "127.0.0.1", "--host", "HOST", "address to listen on (127.0.0.1: this machine only)",
       "address to listen on. The default accepts connections from this machine only. Any address other than "
       "`127.0.0.1`, `localhost` or `::1` needs API keys or `--insecure`; see "
       "[Listening on other addresses](#listening-on-other-addresses)."),
    # Not SLUICE_PORT: that is the dashboard's port, and `sluice up` passes both variables to both children.
    _S("ENGINE_PORT", 8080, "--port", "PORT", "engine port (0 picks a free one and prints it)",
       "port to listen on; `0` picks a free port (the URL line shows which)", parse=int, minimum=0,
       maximum=65535),
    _S("DATA_DIR", "sluice-data", "--data-dir", "DIR", "directory for pipeline definitions and data; one engine "
       "per directory", "where pipeline definitions, the write-ahead log and checkpoints live (relative to the "
       "current directory); created if missing. One engine per directory."),
    _S("THREADS", 256, "--threads", "N", "HTTP threads: each open egress stream or waiting request holds one",
       "HTTP threads. Each open egress stream, `time_series_stream`, or waiting request (on a paused pipeline, a "
       "full buffer, the write-ahead log) holds one while it lasts; when all are busy, new requests wait for a "
       "free one.", parse=int, minimum=1),
    _S("MAX_BUFFERED_RECORDS", 100_000, "--max-buffered-records", "N",
       "records a table may have waiting before ingress requests wait",
       "records a table may hold accepted but not yet taken by a step; beyond that, ingress requests for the table "
       "wait (API: [Buffer limit](api.md#buffer-limit))", parse=int, minimum=1, field="max_buffered_records"),
    _S("INGRESS_WAIT", 30.0, "--ingress-wait", "SECS", "seconds an unforced ingress request waits on a paused "
       "pipeline or a full buffer before answering 503",
       "how long an unforced ingress request waits on a paused pipeline or a full buffer before it is answered "
       "503 `PipelinePaused` or `BufferFull` (this long in all, the waits before its body is read and after "
       "sharing it: [api.md](api.md#paused-pipelines-and-force)); also how long an ad-hoc `INSERT` waits "
       "for its rows to be processed", parse=float, minimum=0, field="ingress_wait_secs"),
    _S("EGRESS_STALL_TIMEOUT", 60.0, "--egress-stall-timeout", "SECS", "seconds the pipeline waits on a "
       "backpressure reader that reads nothing before it closes that stream",
       "how long a step waits for room in the queue of one `backpressure=true` egress stream before that stream "
       "is closed as stalled", parse=float, minimum=0, field="egress_stall_secs"),
    # Lists stay flags only: SLUICE_CORS_ORIGINS is read by the HTTP application itself (docs/cli.md), and
    # SLUICE_ALLOWED_HOSTS is the dashboard's, which `sluice up` hands to both children.
    _S("CORS_ORIGIN", [], "--cors-origin", "ORIGIN", "a browser origin (e.g. http://localhost:3000) allowed to "
       "call the API", "a browser origin (scheme, host and port, e.g. `http://localhost:3000`) allowed to call "
       "the API and read its answers; `*` allows every origin. Repeatable.", repeat=True, env=None),
    _S("ALLOWED_HOST", [], "--allowed-host", "NAME", "a Host name to accept besides loopback names and --host "
       "('*' accepts any)", "a `Host` name to accept besides the loopback names (`localhost`, `127.0.0.1`, "
       "`::1`) and the `--host` address; `*` accepts any. Repeatable.", repeat=True, env=None),
    _S("MAX_BODY_MB", 256, "--max-body-mb", "MIB", "largest request body in MiB; larger ones get 413 before "
       "they are read", "largest request body, in MiB (fractions allowed); a request whose `Content-Length` is "
       "larger is answered 413 `PayloadTooLarge` before its body is read", parse=float, minimum=0),
    # SLUICE_API_KEY holds keys themselves; SLUICE_API_KEY_FILE is the dashboard's (the key it sends upstream).
    _S("API_KEY_FILE", None, "--api-key-file", "FILE", "require API keys: one per line in FILE (also "
       "SLUICE_API_KEY); clients send 'Authorization: Bearer <key>'. Keys are never taken on the command line, "
       "where ps shows them", "require API keys, read from `FILE`; see [API keys](#api-keys)", env=None),
    # No variable: one left behind in an environment must not open a server to the network.
    _S("INSECURE", False, "--insecure", None, "allow listening on a non-loopback address without an API key",
       "allow listening on a non-loopback address without API keys", switch=True, env=None),
    _S("KEEPALIVE", 3.0, "--keepalive", "SECS", "seconds of silence after which an egress stream gets an empty "
       "chunk", "seconds without a line after which an egress stream gets an empty keepalive line",
       parse=float, minimum=0, field="keepalive_secs"),
    _S("HEADER_TIMEOUT", 10.0, "--header-timeout", "SECS", "seconds a request's head may take to arrive before "
       "the connection is closed with 408; 0: no limit",
       "time a request's head (request line and headers) may take to arrive once the engine starts reading it; "
       "then the client gets 408 `RequestTimeout` and the connection is closed, so a client trickling header "
       "lines cannot hold an HTTP thread. `0`: no limit", parse=float, minimum=0, field="header_timeout_secs"),
    _S("BODY_TIMEOUT", 30.0, "--body-timeout", "SECS", "seconds a request body may stop arriving before the "
       "request fails with 408; responses (egress streams) are not affected; 0: no limit",
       "time a request body may stop arriving (between two reads, not in total: a long upload is fine while it "
       "moves); then the request fails with 408 `RequestTimeout`, nothing of it is stored, and the connection "
       "is closed. Responses are not limited: an egress stream stays open as long as its reader wants. `0`: no "
       "limit", parse=float, minimum=0, field="body_timeout_secs"),
    _S("MAX_CONNECTIONS_PER_ADDRESS", 64, "--max-connections-per-address", "N", "open connections one client "
       "address may hold; more are answered 429 and closed; 0: no limit",
       "open connections (idle kept-alive ones included) one client address may hold; one more is answered 429 "
       "`TooManyConnections` and closed at once. A proxy or the dashboard in front of the engine brings all its "
       "users from one address: give it room (each egress stream it opens is one connection). `0`: no limit",
       parse=int, minimum=0, field="max_connections_per_address"),
    _S("QUERY_TIMEOUT", 60.0, "--query-timeout", "SECS", "seconds an ad-hoc query may run before it is stopped "
       "with 400 QueryTimeout; 0 for no limit",
       "how long an ad-hoc query may run (until its last row is handed out) before it is stopped with 400 "
       "`QueryTimeout`; `0` for no limit ([api.md](api.md#ad-hoc-queries))", parse=float, minimum=0,
       field="query_timeout_secs"),
    _S("MAX_DATAGEN_WORKERS", 16, "--max-datagen-workers", "N", "threads one datagen connector may ask for with "
       "'workers'; a pipeline asking for more does not start",
       "threads one `datagen` connector may ask for with its `workers` setting ([sql.md](sql.md#connectors)); a "
       "pipeline whose program asks for more fails to start, naming the connector", parse=int, minimum=1,
       field="max_datagen_workers"),
    _S("LOG_LINES", 10_000, "--log-lines", "N", "log lines kept per pipeline for GET .../logs; older ones are "
       "dropped", "log lines each pipeline keeps for `GET .../logs` "
       "([api.md](api.md#get-v0pipelinesnamelogs)); older lines are dropped, and a reader resuming from a "
       "dropped line is told how many it missed", parse=int, minimum=1, field="log_lines"),
    _S("PIPELINE_EVENTS", 720, "--pipeline-events", "N", "status-change events kept per pipeline for GET "
       ".../events; older ones are dropped", "status-change events each pipeline keeps for `GET .../events` "
       "([api.md](api.md#get-v0pipelinesnameevents)); older ones are dropped. Feldera keeps 720.", parse=int,
       minimum=1, field="pipeline_events"),
]

BY_NAME = {s.name: s for s in SETTINGS}

# Knobs the engine has but no flag sets (tests change them through ``Settings``).
_INTERNAL: list[tuple[str, type, Any]] = [
    ("wal_segment_bytes", int, 64 << 20),  # a log segment is rotated past this size
    ("egress_max_chunks", int, 100),  # chunks queued per egress stream
]

Settings = dataclasses.make_dataclass(
    "Settings",
    [(s.field, s.parse, dataclasses.field(default=s.default)) for s in SETTINGS if s.field]
    + [(name, kind, dataclasses.field(default=value)) for name, kind, value in _INTERNAL])
Settings.__module__ = __name__
Settings.__doc__ = """Engine-wide knobs: one field per registry entry with a ``field``, defaults from the registry."""


def engine_settings(values) -> Settings:
    """The ``Settings`` that resolved flag values (an ``argparse.Namespace``) describe."""
    return Settings(**{s.field: getattr(values, s.dest) for s in SETTINGS if s.field})


def markdown_table() -> str:
    """The table of ``sluice engine``'s settings in ``docs/cli.md``."""
    lines = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        flag = f"`{s.flag} {s.metavar}`" if s.metavar else f"`{s.flag}`"
        env = f"`{s.env_var}`" if s.env_var else "none"
        default = "off" if s.default is False else "none" if s.default in (None, []) else f"`{s.default}`"
        lines.append(f"| {flag} | {env} | {default} | {s.doc or s.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())

__all__ = ["BY_NAME", "SETTINGS", "Settings", "engine_settings", "markdown_table"]
