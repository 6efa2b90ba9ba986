"""``Pipeline``: one named pipeline on the server: lifecycle, input, output and ad-hoc queries.

Method names, parameters and defaults follow the official Feldera client (``feldera.Pipeline``);
what Sluice adds is keyword-only or a new method. Every wait has a timeout (``timeout_s``; None
means the client's ``wait_timeout``), where the official client waits forever.
"""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Callable, Iterator

import httpx
import orjson

from ._frames import dumps, find_relation, match_columns, records
from .errors import ApiError, NotFoundError, PipelineStateError, SchemaError, StreamError, WaitTimeout
from .operations import PipelineOperations
from .output import (
    MAX_BUFFERED_CHUNKS,
    MAX_BUFFERED_RECORDS,
    EgressStream,
    ForeachHandle,
    OutputHandler,
    split_lines,
)
from .status import INTERACTIVE, PipelineStatus

if TYPE_CHECKING:
    import pandas as pd

    from .client import Client

QUERY_FORMATS = ("text", "json", "csv", "arrow_ipc", "parquet", "hash")
_READ_ONLY_STARTS = {"SELECT", "VALUES", "EXPLAIN", "FROM", "TABLE", "SHOW", "DESCRIBE"}

# The JSON update formats input_json sends (the engine's ingress reads these three).
UPDATE_FORMATS = ("raw", "insert_delete", "debezium")


class Pipeline(PipelineOperations):
    """A handle on the pipeline ``name``; get one from ``Client.pipeline`` or ``Client.create_pipeline``.

    Logs, metrics, the profile, support bundles, checkpoints and transactions come from ``PipelineOperations``."""

    def __init__(self, client: "Client", name: str):
        self.client = client
        self.name = name

    def __repr__(self) -> str:
        return f"<Pipeline {self.name!r} at {self.client.url}>"

    def _timeout(self, timeout_s: float | None) -> float:
        return self.client.wait_timeout if timeout_s is None else timeout_s

    # -- reading state -------------------------------------------------------------------------
    @staticmethod
    def get(name: str, client: "Client") -> "Pipeline":
        """The existing pipeline ``name`` (the official client's spelling of ``client.pipeline(name)``)."""
        return client.pipeline(name)

    @staticmethod
    def all(client: "Client") -> list["Pipeline"]:
        """Every pipeline (the official client's spelling of ``client.pipelines()``)."""
        return client.pipelines()

    def describe(self, selector: str = "all") -> dict:
        """The pipeline's JSON as the server gives it (``selector`` ``all`` or ``status``).

        Raises ``NotFoundError`` if there is no such pipeline."""
        return self.client._rest.get_pipeline(self.name, selector)

    def status(self) -> PipelineStatus:
        """The current ``deployment_status``; ``PipelineStatus.NOT_FOUND`` if there is no such pipeline."""
        try:
            return PipelineStatus.from_str(self.describe("status")["deployment_status"])
        except NotFoundError:
            return PipelineStatus.NOT_FOUND

    def stats(self) -> dict:
        """``GET /stats``: ``global_metrics``, ``inputs`` and ``outputs`` as dicts (pipeline must be deployed)."""
        return self.client._rest.stats(self.name)

    def time_series(self) -> dict:
        """``GET /time_series``: recent samples of the pipeline's metrics (it must be deployed).

        Returns the server's JSON as it is; on Sluice's engine ``{"now": ms, "samples": [...]}``, one
        sample a second with ``t`` (ms), ``r`` and ``i`` (records processed and received so far),
        ``m`` (memory bytes) and ``s`` (storage bytes). This is a Sluice endpoint that recent Feldera also has; older Feldera
        answers 404, raised as ``NotFoundError``."""
        return self.client._rest.time_series(self.name)

    def program_info(self) -> dict | None:
        """``program_info`` (the schema is under ``["schema"]``), or None before the program compiled."""
        return self.describe("all").get("program_info")

    def program_status(self) -> str:
        return self.describe("status")["program_status"]

    def deployment_error(self) -> dict | None:
        return self.describe("status").get("deployment_error")

    def wait_for_status(self, expected: PipelineStatus | str, timeout: float | None = None) -> None:
        """Poll until the status is ``expected``; raises ``WaitTimeout``."""
        self._wait_status({PipelineStatus.from_str(str(expected)).value}, timeout, f"become {expected}")

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, wait: bool = True, timeout_s: float | None = None, dismiss_error: bool = True) -> None:
        """Start running; waits until ``Running``. Raises ``PipelineStateError`` if it fails to start."""
        self._start("running", wait, timeout_s, dismiss_error)

    def start_paused(self, wait: bool = True, timeout_s: float | None = None,
                     dismiss_error: bool = True) -> PipelineStatus:
        """Start paused (no steps run until ``resume()``); waits until ``Paused``."""
        self._start("paused", wait, timeout_s, dismiss_error)
        return self.status()

    def _start(self, initial: str, wait: bool, timeout_s: float | None, dismiss_error: bool) -> None:
        rest = self.client._rest
        if dismiss_error:
            rest.action(self.name, "dismiss_error")
        rest.action(self.name, "start", initial=initial, dismiss_error=False)
        if wait:
            self._wait_status({"Running" if initial == "running" else "Paused"}, timeout_s, f"start {initial}")

    def pause(self, wait: bool = True, timeout_s: float | None = None) -> None:
        """Pause: no more steps, unforced input waits. Waits until ``Paused``."""
        self.client._rest.action(self.name, "pause")
        if wait:
            self._wait_status({"Paused"}, timeout_s, "pause")

    def resume(self, wait: bool = True, timeout_s: float | None = None) -> None:
        """Resume a paused pipeline; waits until ``Running``."""
        self.client._rest.action(self.name, "resume")
        if wait:
            self._wait_status({"Running"}, timeout_s, "resume")

    def stop(self, force: bool, wait: bool = True, timeout_s: float | None = None) -> None:
        """Stop; waits until ``Stopped``. ``force`` is required, as in the official client: on Feldera
        ``force=False`` checkpoints first (an Enterprise feature); Sluice treats both the same."""
        self.client._rest.action(self.name, "stop", force=bool(force))
        if wait:
            self._wait_status({"Stopped"}, timeout_s, "stop")

    def clear_storage(self, wait: bool = True, timeout_s: float | None = None, poll_interval_s: float = 0.25) -> None:
        """Delete the pipeline's stored data (it must be stopped); waits until storage is ``Cleared``."""
        if self.describe("status").get("storage_status") == "Cleared":
            return
        self.client._rest.action(self.name, "clear")
        if not wait:
            return
        deadline = time.monotonic() + self._timeout(timeout_s)
        for delay in _backoff(cap=poll_interval_s):
            st = self.describe("status").get("storage_status")
            if st == "Cleared":
                return
            if time.monotonic() > deadline:
                raise WaitTimeout(f"storage of pipeline {self.name!r} still {st} after {self._timeout(timeout_s)} s")
            time.sleep(delay)

    clear = clear_storage

    def dismiss_error(self) -> None:
        self.client._rest.action(self.name, "dismiss_error")

    def delete(self, clear_storage: bool = False) -> None:
        """Delete the pipeline. It must be stopped and its storage cleared (Feldera's rule; else 400
        ``DeleteRestrictedToClearedStorage``): ``clear_storage=True`` clears it first."""
        if clear_storage:
            self.clear_storage()
        self.client._rest.delete_pipeline(self.name)

    def _wait_status(self, targets: set[str], timeout_s: float | None, action: str) -> dict:
        limit = self._timeout(timeout_s)
        deadline = time.monotonic() + limit
        for delay in _backoff():
            st = self.describe("status")
            status = st.get("deployment_status")
            if status in targets:
                return st
            err = st.get("deployment_error")
            if err and status == "Stopped" and st.get("deployment_desired_status") == "Stopped" \
                    and "Stopped" not in targets:
                raise PipelineStateError(f"pipeline {self.name!r} failed to {action}: {err.get('message')}",
                                         error_code=err.get("error_code"), details=err.get("details"))
            if time.monotonic() > deadline:
                raise WaitTimeout(f"pipeline {self.name!r} did not {action} within {limit} s (it is {status})",
                                  details={"status": status, "expected": sorted(targets)})
            time.sleep(delay)
        raise AssertionError("unreachable")

    # -- input ---------------------------------------------------------------------------------
    def input_json(self, table_name: str, data: dict | list, update_format: str = "raw", force: bool = False,
                   wait: bool = True, connector_metadata: dict | None = None, *, timeout_s: float | None = None,
                   **kwargs) -> str:
        """Push one row (a dict) or many (a list) into ``table_name``; returns the completion token.

        ``update_format="raw"``: each dict is a row to insert. ``"insert_delete"``: each is
        ``{"insert": row}``, ``{"delete": row}`` or ``{"update": columns}`` (a partial update by primary
        key). ``"debezium"``: each is a Debezium change event ``{"payload": {"op", "before", "after"}}``
        (the official client takes it through ``push_to_pipeline`` only). With ``wait`` (the default) it
        returns once the input has been processed, so a query right after sees it. Raises
        ``PipelineStateError`` if the pipeline is paused and ``force`` is False, ``BadRequestError``
        (``ParseErrors``) for bad records.
        """
        if update_format not in UPDATE_FORMATS:
            raise ValueError(f"update_format must be one of {', '.join(map(repr, UPDATE_FORMATS))}, "
                             f"not {update_format!r}")
        timeout_s = kwargs.pop("wait_timeout_s", timeout_s)  # the official client's spelling
        if kwargs:
            raise TypeError(f"input_json() got unexpected arguments {sorted(kwargs)}")
        if not force:
            self._refuse_if_paused(table_name)
        params = {"format": "json", "update_format": update_format, "array": isinstance(data, list)}
        token = self._ingress(table_name, dumps(data), params, force, connector_metadata)
        if wait:
            self.wait_for_token(token, timeout_s)
        return token

    def input_pandas(self, table_name: str, df: pd.DataFrame, force: bool = False, chunk_size: int = 1000,
                     progress: bool = False, connector_metadata: dict | None = None, *, wait: bool = True,
                     timeout_s: float | None = None) -> str | None:
        """Push a DataFrame into ``table_name`` in chunks of ``chunk_size`` rows; returns the last token.

        The columns are checked against the table before anything is sent (names match as SQL
        identifiers do; NOT NULL columns must be present). Timestamps (tz-aware ones in UTC), dates,
        times and decimals are sent exactly, NaN/NaT/NA as NULL. Each chunk is converted and sent on
        its own; then it waits for the last token. ``progress=True`` shows a tqdm bar.
        """
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, not {type(df).__name__}")
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        info = self.describe("all")
        self._check_interactive(info, f"push to {table_name!r}")
        if info.get("deployment_status") == "Paused" and not force:
            self._refuse_if_paused(table_name, info)
        table, segment = find_relation(info.get("program_info"), table_name, inputs=True, outputs=False)
        pairs = match_columns(df, table)
        bar = _progress_bar(len(df), table["name"]) if progress else None
        params = {"format": "json", "update_format": "raw", "array": True}
        token = None
        try:
            for start in range(0, len(df), chunk_size):
                part = df.iloc[start:start + chunk_size]
                try:
                    body = dumps(records(part, pairs))
                except SchemaError as e:
                    if start:
                        e.message += f" (rows 0 to {start - 1} were already sent; last token {token})"
                        e.args = (e.message,)
                    raise
                token = self._ingress(segment, body, params, force, connector_metadata)
                if bar is not None:
                    bar.update(len(part))
        finally:
            if bar is not None:
                bar.close()
        if wait and token is not None:
            self.wait_for_token(token, timeout_s)
        return token

    def _refuse_if_paused(self, table_name: str, info: dict | None = None) -> None:
        info = info or self.describe("status")
        if info.get("deployment_status") == "Paused":
            raise PipelineStateError(
                f"pipeline {self.name!r} is paused, so input to {table_name!r} would wait until it resumes: "
                "call resume() first, or pass force=True to push while paused",
                error_code="PipelinePaused", details={"pipeline_name": self.name, "table": table_name})

    def _check_interactive(self, info: dict, action: str) -> None:
        status = info.get("deployment_status")
        try:
            ok = PipelineStatus.from_str(status) in INTERACTIVE
        except ValueError:
            ok = False
        if not ok:
            raise PipelineStateError(f"cannot {action}: pipeline {self.name!r} is {status}; start it first",
                                     error_code="PipelineNotRunning", details={"status": status})

    def _ingress(self, table: str, body: bytes, params: dict, force: bool, connector_metadata: dict | None) -> str:
        params = dict(params, force=bool(force))
        if connector_metadata is not None:
            params["connector_metadata"] = orjson.dumps(connector_metadata).decode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        answer = self.client._rest.ingress(self.name, table, body, params, headers)
        token = answer.get("token") if isinstance(answer, dict) else None
        if not token:
            raise ApiError(f"the server took the input to {table!r} but returned no completion token",
                           error_code="NoToken", status=200)
        return token

    def wait_for_token(self, token: str, timeout_s: float | None = None) -> dict:
        """Poll ``completion_status`` until ``token`` is complete; returns it (``{"status", "step"}``)."""
        limit = self._timeout(timeout_s)
        deadline = time.monotonic() + limit
        for delay in _backoff(0.005):
            st = self.client._rest.completion_status(self.name, token)
            if str(st.get("status", "")).lower() == "complete":
                return st
            if time.monotonic() > deadline:
                raise WaitTimeout(f"input with token {token} was not processed within {limit} s "
                                  "(is the pipeline paused?)", details={"token": token})
            time.sleep(delay)
        raise AssertionError("unreachable")

    # -- output --------------------------------------------------------------------------------
    def listen(self, view_name: str, *, send_snapshot: bool = False, max_buffered_chunks: int = MAX_BUFFERED_CHUNKS,
               max_buffered_records: int = MAX_BUFFERED_RECORDS, timeout_s: float | None = None) -> OutputHandler:
        """Follow ``view_name``: returns an ``OutputHandler`` that gets every change from now on.

        It returns only once the stream's first line arrived, so changes from input pushed after
        it returns are never missed. To see changes from the very beginning, ``start_paused()``,
        ``listen()``, then ``resume()``. See ``OutputHandler`` on backpressure."""
        info = self.describe("all")
        self._check_interactive(info, f"listen to {view_name!r}")
        rel, segment = find_relation(info.get("program_info"), view_name, inputs=True, outputs=True)
        handler = OutputHandler(self, view_name, rel, segment, send_snapshot=send_snapshot,
                                max_buffered_chunks=max_buffered_chunks, max_buffered_records=max_buffered_records)
        return handler.start(self.client.timeout if timeout_s is None else timeout_s)

    def foreach_chunk(self, view_name: str, callback: Callable[[pd.DataFrame, int], None],
                      **listen_kw) -> ForeachHandle:
        """Call ``callback(df, seq_no)`` on a separate thread for each chunk of ``view_name``.

        ``df`` has the view's columns, typed, plus ``insert_delete``; ``seq_no`` increases. Returns a
        ``ForeachHandle``: ``stop()`` ends it, ``join()`` waits and re-raises what the callback raised."""
        return ForeachHandle(self.listen(view_name, **listen_kw), callback)

    def egress(self, view_name: str, *, backpressure: bool = False, send_snapshot: bool = False,
               format: str = "json", read_timeout: float | None = None) -> EgressStream:
        """Open ``POST /egress/{view_name}`` and return the raw stream, an ``EgressStream``.

        Iterating it gives every chunk as the server sent it, as a dict (the empty chunk sent on
        connect and keepalives included, so sequence gaps can be seen); see ``EgressStream``. Use it
        in a ``with`` block so the stream is closed. Unlike ``listen()`` it makes one request, keeps no
        buffer and no thread, and does not check the name against the schema: ``view_name`` goes
        into the URL as given (quote a case-sensitive name as in SQL: ``'"MyView"'``), and an unknown
        view raises the server's ``NotFoundError`` here. ``backpressure`` (default False, as on the
        server): with True the pipeline waits for this reader; without, a reader that falls behind
        loses chunks. ``send_snapshot``: begin with the view's current contents, in chunks marked
        ``"snapshot": true`` (the view must be materialized). ``read_timeout``: seconds of silence
        after which reading raises ``StreamError`` (None: the client's ``timeout``; the engine sends
        a keepalive every few seconds)."""
        params = {"format": format, "backpressure": bool(backpressure),
                  "send_snapshot": True if send_snapshot else None, "array": False if format == "json" else None}
        timeout = httpx.USE_CLIENT_DEFAULT if read_timeout is None else \
            httpx.Timeout(self.client.timeout, read=read_timeout)
        resp = self.client._rest.egress(self.name, view_name, params, timeout)
        return EgressStream(resp, view_name)

    # -- ad-hoc queries ------------------------------------------------------------------------
    def query(self, query: str, wait: bool = False) -> Iterator[dict]:
        """Run SQL on the pipeline's current state; yields one dict per row (lazily, like the official client).
        A number with a fraction is a ``Decimal`` with every digit the server wrote, as the official client reads
        it: a DECIMAL is written as such a number, which a float would round."""
        return self._query_json(query, wait)

    def _query_json(self, sql: str, wait: bool) -> Iterator[dict]:
        resp = self._open_query(sql, "json")
        keys = None
        try:
            for line in _lines(resp, "query"):
                try:
                    row = json.loads(line, parse_float=Decimal)  # orjson has no parse_float
                except ValueError:
                    raise StreamError(f"the query answer has a line that is not JSON: {line[:200]!r}") from None
                if keys is None:
                    keys = set(row) if isinstance(row, dict) else set()
                elif isinstance(row, dict) and set(row) != keys and _is_error_row(row):
                    raise StreamError(f"the query failed part way: {row.get('error') or row.get('message')}",
                                      error_code="AdHocQueryError", details=row)
                yield row
        finally:
            resp.close()
        if wait:
            self._wait_adhoc_write()

    def query_pandas(self, query: str) -> pd.DataFrame:
        """``query`` as a DataFrame (column types as pandas infers them from the JSON values)."""
        import pandas as pd

        rows = list(self.query(query))
        return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()

    def query_tabular(self, query: str) -> Iterator[str]:
        """``query`` as the lines of a text table (``format=text``)."""
        resp = self._open_query(query, "text")
        try:
            for line in _lines(resp, "query"):
                text = line.decode("utf-8", "replace")
                if text.startswith("ERROR: "):
                    raise StreamError(f"the query failed part way: {text[7:]}", error_code="AdHocQueryError")
                yield text
        finally:
            resp.close()

    def execute(self, query: str, wait: bool = False) -> None:
        """Run a statement for its effect (``INSERT INTO t VALUES ...``), draining the answer."""
        for _ in self.query_tabular(query):
            pass
        if wait:
            self._wait_adhoc_write()

    def query_raw(self, query: str, format: str = "json") -> httpx.Response:
        """Open ``query``'s answer in ``format`` (``text``, ``json``, ``csv``, ``arrow_ipc``, ``parquet``, ``hash``)
        and return it unread, its status already checked (``ApiError`` with the server's message before the
        first row, e.g. ``AdHocQueryError``). Read it with ``iter_bytes()`` and ``close()`` it: it streams."""
        if format not in QUERY_FORMATS:
            raise ValueError(f"format must be one of {', '.join(QUERY_FORMATS)}, not {format!r}")
        return self._open_query(query, format)

    def _open_query(self, sql: str, fmt: str) -> httpx.Response:
        return self.client._rest.query(self.name, sql, fmt, _read_only(sql))

    def _wait_adhoc_write(self, timeout_s: float | None = None) -> None:
        target = self.stats()["global_metrics"].get("total_input_records", 0)
        deadline = time.monotonic() + self._timeout(timeout_s)
        for delay in _backoff():
            gm = self.stats()["global_metrics"]
            if gm.get("total_completed_records", 0) >= target:
                return
            if time.monotonic() > deadline:
                raise WaitTimeout(f"pipeline {self.name!r} did not process its input within "
                                  f"{self._timeout(timeout_s)} s")
            time.sleep(delay)


def _backoff(first: float = 0.02, factor: float = 1.5, cap: float = 0.5) -> Iterator[float]:
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * factor)


def _lines(resp: httpx.Response, what: str) -> Iterator[bytes]:
    try:
        yield from split_lines(resp.iter_bytes())
    except httpx.HTTPError as e:
        raise StreamError(f"the {what} answer broke off: {type(e).__name__}: {e}") from e


def _read_only(sql: str) -> bool:
    words = sql.lstrip(" \t\r\n(").split(None, 1)
    return bool(words) and words[0].upper().rstrip("(") in _READ_ONLY_STARTS


def _is_error_row(row: dict) -> bool:
    return set(row) == {"error"} or {"message", "error_code"} <= set(row)


def _progress_bar(total: int, name: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("input_pandas(progress=True) needs tqdm: pip install tqdm") from None
    return tqdm(total=total, unit="rows", desc=f"input {name}")


__all__ = ["Pipeline"]
