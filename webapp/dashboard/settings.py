"""The dashboard's settings: one registry (name, default, help), read from ``SLUICE_*`` variables and flags.

``create_app(config)`` applies, in order: the defaults below, then ``SLUICE_<NAME>`` environment
variables, then ``config``. ``docs/dashboard.md`` lists them from this registry
(``python -m webapp.dashboard.settings`` prints the table).
"""

from __future__ import annotations

import os

from ..settings import Setting  # the engine's registry (webapp/engine/settings.py) uses the same class


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


SETTINGS: list[Setting] = [
    Setting("UPSTREAM", "http://127.0.0.1:8080", "URL of the pipeline server (`sluice engine` or Feldera)"),
    Setting("API_KEY", None, "API key sent upstream as `Authorization: Bearer` (also read from `API_KEY_FILE`)"),
    Setting("API_KEY_FILE", None, "file holding the upstream API key (its first key; `#` starts a comment)"),
    Setting("ALLOWED_HOSTS", [], "Host names accepted besides loopback names (`*` accepts any)", _list),
    Setting("ALLOWED_ORIGINS", [], "extra browser origins allowed to open the WebSocket or change state", _list),
    Setting("USERS_FILE", None, "users file (`sluice user add`): when set, every page, API call and WebSocket needs "
            "a signed-in user"),
    Setting("SECRET_KEY", None, "key signing session cookies (default: generated and kept in `<USERS_FILE>.secret`)"),
    Setting("PROXY_FIX", False, "trust one proxy's `X-Forwarded-For/-Proto/-Host` (behind a TLS proxy)", _bool),
    Setting("LOGIN_ATTEMPTS", 5, "failed sign-ins allowed per client address per minute (then 429)", int),
    Setting("SESSION_HOURS", 12.0, "hours a sign-in lasts", float),
    Setting("WS_MAX_MESSAGE", 1 << 20, "largest WebSocket message from a browser, in bytes; a larger one closes it",
            int),
    Setting("UPLOAD_MAX_BYTES", 4 << 30, "largest body of one file-upload request (`/api/.../upload`), in bytes; "
            "413 beyond it (a chunked body is counted as it streams)", int),
    Setting("UPLOAD_RETRY_SECONDS", 120.0, "seconds the upload page keeps sending a part again, with the same "
            "`Idempotency-Key` (stored at most once), while the pipeline server cannot be reached (a restart: 502) "
            "or is busy (503, 429), before the upload stops with the server's error", float),
    Setting("INGRESS_RATE", 256 << 20, "bytes per second each client (user, else address) may push through the "
            "dashboard (uploads and data entry), with one second of burst; 429 with `Retry-After` while over it; 0: no limit", int),
    Setting("FORM_MAX_BYTES", 1 << 20, "largest body of any request but a file upload (data entry, queries, the "
            "program editor, sign-in), in bytes; 413 beyond it, from `Content-Length` before the body is read",
            int),
    Setting("DRAIN_MAX_BYTES", 16 << 20, "bytes of a request body still read (and dropped) after an answer given "
            "before the body was read, so a browser still sending sees the answer; beyond, the connection is cut "
            "(gevent worker)", int),
    Setting("DRAIN_SECONDS", 5.0, "seconds that reading may take at most", float),
    Setting("MAX_SUBSCRIPTIONS", 100, "subscriptions one WebSocket may hold at once; more are refused with an "
            "`error` frame `TooManySubscriptions`", int),
    Setting("USER_MAX_SUBSCRIPTIONS", 300, "subscriptions one client (signed-in user, else address) may hold at once "
            "over all its WebSockets and `/stream` requests; more are refused like `MAX_SUBSCRIPTIONS`", int),
    Setting("DEMO_DATA", False, "run the demo generator (feeds pipeline `DEMO_PIPELINE`)", _bool),
    Setting("DEMO_PIPELINE", "demo", "pipeline the demo generator feeds"),
    Setting("DEMO_RATE", 2.0, "demo changes per second", float),
    Setting("BATCH_MS", 40, "milliseconds the hub gathers steps into one frame", int),
    Setting("RING_STEPS", 10_000, "steps kept per view, for reconnects (`since`) and for change logs started "
            "before now (`log_from`); the page counts what was trimmed", int),
    Setting("RING_CHANGES", 200_000, "changes kept per view, like `RING_STEPS`", int),
    Setting("MAX_FRAME_CHANGES", 20_000, "changes per frame and subscription before yielding to others", int),
    Setting("UPSTREAM_BUFFER", 256, "egress chunks buffered in the hub per view before it stops reading", int),
    Setting("SNAPSHOT_QUIET_MS", 250, "quiet time that ends a snapshot stream (Feldera does not mark its end)", int),
    Setting("FEED_LINGER", 30.0, "seconds an unwatched view keeps its upstream stream and state", float),
    Setting("RETRY_MAX", 10.0, "longest wait between upstream retries, in seconds", float),
    Setting("STATE_DIR", None, "directory where the dashboard keeps what outlives a restart: the statistics history "
            "and health events (`history.sqlite3`); none: kept in memory by each worker (`sluice up`: "
            "`<data-dir>/dashboard`)"),
    Setting("HISTORY_INTERVAL", 5.0, "seconds between two samples of every pipeline's statistics for the history "
            "page; 0: no sampling", float),
    Setting("HISTORY_MAX_SAMPLES", 200_000, "samples (one per running pipeline per interval, about 0.3 KiB each with "
            "a few tables and views) and, separately, health events the history keeps; the oldest go first", int),
    Setting("LOG_STREAMS", 10, "log streams (open logs pages) one client (signed-in user, else address) may hold at "
            "once, each holding a connection to the pipeline server; more are refused with 429 `TooManyLogStreams`",
            int),
    Setting("LOG_PAGE_LINES", 5000, "log lines a logs page keeps in the browser; older ones are dropped and counted",
            int),
    Setting("STREAM_STALL", 8.0, "seconds without any line on an open egress stream (Sluice's engine sends a "
            "keepalive every 3 s, `--keepalive`) after which its views say `upstream down`: the server is not "
            "answering; live again at the next line. Above the server's keepalive interval; 0: never (a server "
            "that sends no keepalives)", float),
    Setting("STATUS_TIMEOUT", 5.0, "seconds a status read behind the pages (pipeline status, statistics, the "
            "pipelines list) waits for the pipeline server before the page says it is not answering "
            "(502 `UpstreamUnreachable`); such reads are not retried, the pages poll again", float),
    Setting("ENTRY_TIMEOUT", 10.0, "seconds the data-entry page waits for the answer to a submission (or to a "
            "question about its progress) before it says the pipeline server is not answering and that the rows may "
            "or may not have been stored; a later answer still replaces that", float),
    Setting("STREAM_TIMEOUT", 30.0, "seconds of upstream silence before an egress stream is reopened", float),
]

BY_NAME = {s.name: s for s in SETTINGS}


def load(config: dict | None = None, environ: dict | None = None) -> dict:
    """Defaults, then ``SLUICE_<NAME>`` from ``environ``, then ``config``; keys are the setting names.
    Raises SettingError naming a variable that holds no valid value."""
    env = os.environ if environ is None else environ
    out = {s.name: s.from_environ(env) for s in SETTINGS}
    out.update(config or {})
    if not out.get("API_KEY") and out.get("API_KEY_FILE"):
        out["API_KEY"] = read_key_file(out["API_KEY_FILE"])
    return out


def read_key_file(path: str) -> str | None:
    """The first key in a key file (the engine's format: one key per line, ``#`` comments)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                return line.strip()
    return None


def markdown_table() -> str:
    lines = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = ",".join(s.default) if isinstance(s.default, list) else s.default
        shown = f"`{default}`" if default not in (None, "") else "(none)"
        lines.append(f"| `{s.name}` | `SLUICE_{s.name}` | {shown} | {s.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())

__all__ = ["Setting", "SETTINGS", "load", "markdown_table", "read_key_file"]
