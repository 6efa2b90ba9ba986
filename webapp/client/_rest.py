"""One method per ``/v0`` endpoint the client uses: paths, parameters and which calls are safe to
repeat live here, so that ``Client``, ``Pipeline`` and ``OutputHandler`` never build a URL themselves
(as the official client's ``rest/feldera_client.py``). Answers come back decoded (JSON), as bytes, or
as an open ``httpx.Response`` for streams, which the caller must close.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import quote

import httpx

from ._http import Http
from .errors import SluiceError, UnavailableError

NOT_DEPLOYED = "PipelineInteractionNotDeployed"


def _p(name: str, suffix: str = "") -> str:
    return f"/pipelines/{quote(name, safe='')}{suffix}"


def _q(name: str) -> str:
    return quote(name, safe="")


def _says_why_not_deployed(method):
    """For a call to a pipeline's running instance (``method(self, name, ...)``): a 503 ``%s`` from a
    pipeline that stopped on an error (a step that failed, a view whose SUM overflowed) says only "not
    running: start it first"; the error that stopped it is in its ``deployment_error``, read once here and
    added to the message and to ``details["deployment_error"]``.""" % NOT_DEPLOYED

    @functools.wraps(method)
    def call(self: "Rest", name: str, *args, **kw):
        try:
            return method(self, name, *args, **kw)
        except UnavailableError as e:
            if e.error_code != NOT_DEPLOYED:
                raise
            why = self._deployment_error(name)
            if why is None:
                raise
            details = (e.details if isinstance(e.details, dict) else {}) | {"deployment_error": why}
            raise UnavailableError(f"{e.message}. It stopped on this error: {why['message']}", error_code=e.error_code,
                                   details=details, status=e.status) from e
    return call


class Rest:
    def __init__(self, http: Http):
        self.http = http

    def _deployment_error(self, name: str) -> dict | None:
        """The error pipeline ``name`` stopped on, if any (None also when it cannot be read now)."""
        try:
            err = self.get_pipeline(name, "status").get("deployment_error")
        except SluiceError:
            return None
        return err if isinstance(err, dict) and err.get("message") else None

    # -- platform ------------------------------------------------------------------------------
    def config(self) -> dict:
        return self.http.json("GET", "/config", safe=True)

    def validate_program(self, program_code: str, ir: bool = False) -> dict:
        return self.http.json("POST", "/validate_program", json={"program_code": program_code, "ir": ir}, safe=True)

    # -- pipelines -----------------------------------------------------------------------------
    def list_pipelines(self, selector: str = "status") -> list[dict]:
        return self.http.json("GET", "/pipelines", params={"selector": selector}, safe=True)

    def get_pipeline(self, name: str, selector: str = "all") -> dict:
        return self.http.json("GET", _p(name), params={"selector": selector}, safe=True)

    def put_pipeline(self, name: str, body: dict) -> dict:
        return self.http.json("PUT", _p(name), json=body, safe=True)

    def delete_pipeline(self, name: str) -> None:
        self.http.request("DELETE", _p(name), safe=True, ok_after_retry=(404,))

    def action(self, name: str, action: str, **params) -> None:
        """``start``, ``pause``, ``resume``, ``stop``, ``clear``, ``dismiss_error``: each as safe to repeat as
        one call."""
        self.http.request("POST", _p(name, f"/{action}"), params=params or None, safe=True)

    # -- data ----------------------------------------------------------------------------------
    @_says_why_not_deployed
    def ingress(self, name: str, table: str, body: bytes, params: dict, headers: dict) -> Any:
        return self.http.json("POST", _p(name, f"/ingress/{_q(table)}"), params=params, content=body,
                              headers=headers, safe=False)

    @_says_why_not_deployed
    def completion_status(self, name: str, token: str) -> dict:
        return self.http.json("GET", _p(name, "/completion_status"), params={"token": token}, safe=True)

    @_says_why_not_deployed
    def egress(self, name: str, view: str, params: dict, timeout=httpx.USE_CLIENT_DEFAULT) -> httpx.Response:
        return self.http.stream("POST", _p(name, f"/egress/{_q(view)}"), params=params, safe=True, timeout=timeout)

    @_says_why_not_deployed
    def query(self, name: str, sql: str, fmt: str, safe: bool) -> httpx.Response:
        params = {"pipeline_name": name, "sql": sql, "format": fmt}
        return self.http.stream("GET", _p(name, "/query"), params=params, safe=safe)

    # -- observing -----------------------------------------------------------------------------
    @_says_why_not_deployed
    def stats(self, name: str) -> dict:
        return self.http.json("GET", _p(name, "/stats"), safe=True)

    @_says_why_not_deployed
    def time_series(self, name: str) -> dict:
        return self.http.json("GET", _p(name, "/time_series"), safe=True)

    @_says_why_not_deployed
    def metrics(self, name: str, fmt: str = "prometheus") -> str | list:
        resp = self.http.request("GET", _p(name, "/metrics"), params={"format": fmt}, safe=True)
        return resp.json() if fmt == "json" else resp.text

    @_says_why_not_deployed
    def logs(self, name: str, cursor: str | None = None, timeout=httpx.USE_CLIENT_DEFAULT) -> httpx.Response:
        return self.http.stream("GET", _p(name, "/logs"), params={"cursor": cursor}, safe=True, timeout=timeout)

    @_says_why_not_deployed
    def circuit_json_profile(self, name: str) -> dict:
        return self.http.json("GET", _p(name, "/circuit_json_profile"), safe=True)

    @_says_why_not_deployed
    def circuit_profile(self, name: str) -> bytes:
        return self.http.request("GET", _p(name, "/circuit_profile"), safe=True).content

    @_says_why_not_deployed
    def support_bundle(self, name: str, params: dict) -> bytes:
        return self.http.request("GET", _p(name, "/support_bundle"), params=params, safe=True).content

    # -- checkpoints and transactions ----------------------------------------------------------
    @_says_why_not_deployed
    def checkpoint(self, name: str) -> dict:
        # Not repeated: each call asks for (and numbers) one more checkpoint.
        return self.http.json("POST", _p(name, "/checkpoint"), safe=False)

    @_says_why_not_deployed
    def checkpoint_status(self, name: str, incarnation_uuid: str | None = None) -> dict:
        return self.http.json("GET", _p(name, "/checkpoint_status"), params={"incarnation_uuid": incarnation_uuid},
                              safe=True)

    @_says_why_not_deployed
    def checkpoints(self, name: str) -> list[dict]:
        return self.http.json("GET", _p(name, "/checkpoints"), safe=True)

    @_says_why_not_deployed
    def start_transaction(self, name: str) -> dict:
        # Not repeated: a repeat after a lost reply would meet the transaction it started (409).
        return self.http.json("POST", _p(name, "/start_transaction"), safe=False)

    @_says_why_not_deployed
    def commit_transaction(self, name: str) -> None:
        self.http.request("POST", _p(name, "/commit_transaction"), safe=False)


__all__ = ["Rest"]
