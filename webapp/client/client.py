"""``Client``: a connection to a Sluice engine or any Feldera-compatible ``/v0`` server."""

from __future__ import annotations

import os
import time
import weakref

import httpx

from ._http import Http
from ._rest import Rest
from .errors import CompilationError, NotFoundError, WaitTimeout
from .pipeline import Pipeline, _backoff

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0
DEFAULT_WAIT_TIMEOUT = 300.0
_COMPILING = {"Pending", "CompilingSql", "SqlCompiled", "CompilingRust"}


class Client:
    """Talks to one server over HTTP.

    ``url`` defaults to ``$SLUICE_URL``, then ``$FELDERA_HOST``, then ``http://127.0.0.1:8080``;
    ``api_key`` to ``$SLUICE_API_KEY``, then ``$FELDERA_API_KEY`` (sent as ``Authorization: Bearer``).
    ``timeout`` applies to each HTTP request (connect, and each read of a stream); ``wait_timeout``
    is the default limit of waits for states, compilation and completion tokens. ``transport`` is
    an ``httpx`` transport (``httpx.MockTransport`` in tests). Failed requests are retried
    ``retries`` times, with exponential backoff from ``backoff`` seconds, where that is safe
    (see ``webapp.client._http``). The client is thread-safe; ``close()`` it, or use ``with``.
    """

    def __init__(self, url: str | None = None, api_key: str | None = None, timeout: float | None = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None, *, retries: int = 3, backoff: float = 0.5,
                 wait_timeout: float = DEFAULT_WAIT_TIMEOUT):
        self.url = (url or os.environ.get("SLUICE_URL") or os.environ.get("FELDERA_HOST") or DEFAULT_URL).rstrip("/")
        api_key = api_key or os.environ.get("SLUICE_API_KEY") or os.environ.get("FELDERA_API_KEY") or None
        self.timeout = timeout
        self.wait_timeout = wait_timeout
        self._handlers: weakref.WeakSet = weakref.WeakSet()  # open OutputHandlers, closed with the client
        self._http = Http(self.url, api_key=api_key, timeout=timeout, transport=transport, retries=retries,
                          backoff=backoff, user_agent=f"sluice-client/{_version()}")
        self._rest = Rest(self._http)

    def __repr__(self) -> str:
        return f"<Client {self.url}>"

    def close(self) -> None:
        """Close every open ``OutputHandler`` (their iteration ends), then the connections."""
        for handler in list(self._handlers):
            handler.close()
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- platform ------------------------------------------------------------------------------
    def config(self) -> dict:
        """``GET /v0/config``: edition and version of the server."""
        return self._rest.config()

    def validate_program(self, program_code: str, ir: bool = False) -> dict:
        """``POST /v0/validate_program``: compile without creating a pipeline. Returns Feldera's answer,
        ``{"Success": {...}}`` (schema) or ``{"SqlError": {...}}`` (messages with line and column)."""
        return self._rest.validate_program(program_code, ir)

    # -- pipelines -----------------------------------------------------------------------------
    def pipeline(self, name: str) -> Pipeline:
        """The existing pipeline ``name``; raises ``NotFoundError`` (``UnknownPipelineName``) if there is none."""
        self._rest.get_pipeline(name, "status")
        return Pipeline(self, name)

    def pipelines(self) -> list[Pipeline]:
        """Every pipeline on the server."""
        rows = self._rest.list_pipelines("status")
        return [Pipeline(self, r["name"]) for r in rows]

    def create_pipeline(self, name: str, sql: str, *, description: str = "", runtime_config: dict | None = None,
                        program_config: dict | None = None, clear_storage: bool = True, wait: bool = True,
                        timeout_s: float | None = None) -> Pipeline:
        """Create the pipeline ``name`` running ``sql``, or replace its program; waits until compiled.

        Like the official ``PipelineBuilder.create_or_replace``, an existing pipeline is stopped and
        (with ``clear_storage``, the default) its data cleared first; ``clear_storage=False`` keeps
        it (Sluice then keeps the rows of every table whose definition did not change).
        Raises ``CompilationError`` with the compiler's messages (line and column) if the SQL is wrong,
        ``WaitTimeout`` if compiling takes longer than ``timeout_s``.
        """
        p = Pipeline(self, name)
        try:
            st = p.describe("status")
        except NotFoundError:
            st = None
        if st is not None:
            if st.get("deployment_status") != "Stopped":
                p.stop(force=True, timeout_s=timeout_s)
            if clear_storage:
                p.clear_storage(timeout_s=timeout_s)
        body: dict = {"name": name, "program_code": sql, "description": description}
        if runtime_config is not None:
            body["runtime_config"] = runtime_config
        if program_config is not None:
            body["program_config"] = program_config
        self._rest.put_pipeline(name, body)
        if wait:
            self._wait_compiled(p, timeout_s)
        return p

    def _wait_compiled(self, p: Pipeline, timeout_s: float | None) -> None:
        limit = self.wait_timeout if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit
        delays = _backoff(0.05, cap=1.0)
        while True:  # first look at once: Sluice compiles during the PUT
            status = p.describe("status").get("program_status")
            if status == "Success":
                return
            if status not in _COMPILING:
                raise CompilationError.from_program_error(p.name, status, p.describe("all").get("program_error") or {})
            if time.monotonic() > deadline:
                raise WaitTimeout(f"pipeline {p.name!r} still {status} after {limit} s")
            time.sleep(next(delays))


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("sluice")
    except Exception:
        return "dev"


__all__ = ["Client", "DEFAULT_URL", "DEFAULT_TIMEOUT", "DEFAULT_WAIT_TIMEOUT"]
