"""HTTP plumbing: one ``httpx.Client``, the ``/v0`` prefix, auth, error envelopes, and retries.

What is retried, with exponential backoff (``backoff`` · 2ⁿ seconds, capped at 8 s; ``Retry-After`` wins):

- a failure to connect, for every request: nothing reached the server, so repeating cannot double anything;
- any other transport failure (reset, read timeout, a reply cut short), and the answers 408, 429, 502, 504
  and 503-while-initializing, only for requests marked ``safe``: reads, and lifecycle calls whose
  repetition has the same effect as one call (PUT, start, pause, resume, stop, clear, DELETE).

Ingress is never repeated once its bytes may have reached the server: a lost reply leaves it unknown
whether the rows were taken. Every ingress request carries an ``Idempotency-Key``: Sluice's engine applies
a key's body once, so a caller may resend with the same key; the client does not, as Feldera does not
deduplicate on it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from .errors import ApiError, TransportError, error_from_response

log = logging.getLogger("sluice.client")

RETRY_STATUSES = {408, 429, 502, 504}
RETRY_503_CODES = {None, "Initializing", "PipelineInteractionUnreachable", "ApiConnectionLimit"}
MAX_BACKOFF = 8.0


class Http:
    def __init__(self, url: str, *, api_key: str | None, timeout: float | None, transport, retries: int,
                 backoff: float, user_agent: str):
        self.url = url.rstrip("/")
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.client = httpx.Client(base_url=self.url + "/v0", headers=headers, timeout=timeout,
                                   transport=transport, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    # -- one request ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                content: bytes | None = None, headers: dict | None = None, safe: bool = False,
                timeout: Any = httpx.USE_CLIENT_DEFAULT, ok_after_retry: tuple[int, ...] = ()) -> httpx.Response:
        """Send and read the whole answer; raises ``ApiError`` (status >= 400) or ``TransportError``.

        ``ok_after_retry``: statuses that mean success when they answer a repeated request (a 404
        for a DELETE whose first attempt did reach the server)."""
        return self._send(method, path, params, json, content, headers, safe, stream=False, timeout=timeout,
                          ok_after_retry=ok_after_retry)

    def json(self, method: str, path: str, **kw) -> Any:
        """``request`` and decode the JSON answer; a body that is not JSON raises ``ApiError``."""
        resp = self.request(method, path, **kw)
        try:
            return resp.json()
        except ValueError:
            raise ApiError(f"{method} {path}: the server answered {resp.status_code} with a body that is not JSON: "
                           f"{resp.text[:200]!r}", error_code="InvalidResponse", status=resp.status_code) from None

    def stream(self, method: str, path: str, *, params: dict | None = None, safe: bool = False,
               timeout: Any = httpx.USE_CLIENT_DEFAULT) -> httpx.Response:
        """Send and return the answer unread (status already checked); the caller must ``close()`` it."""
        return self._send(method, path, params, None, None, None, safe, stream=True, timeout=timeout)

    def _send(self, method, path, params, json, content, headers, safe, *, stream, timeout,
              ok_after_retry=()) -> httpx.Response:
        params = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        req = self.client.build_request(method, path, params=params, json=json, content=content, headers=headers,
                                        timeout=timeout)
        attempt = 0
        while True:
            try:
                resp = self.client.send(req, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
                if attempt < self.retries:
                    attempt = self._pause(attempt, None, f"{method} {path}: {e!r}")
                    continue
                raise TransportError(f"{method} {req.url}: cannot connect ({_describe(e)}), "
                                     f"tried {attempt + 1} time(s)") from e
            except httpx.TransportError as e:
                if safe and attempt < self.retries:
                    attempt = self._pause(attempt, None, f"{method} {path}: {e!r}")
                    continue
                hint = "" if safe else "; not retried, as the request may have reached the server"
                raise TransportError(f"{method} {req.url}: {_describe(e)}{hint}") from e
            if resp.status_code < 400 or (attempt and resp.status_code in ok_after_retry):
                return resp
            if stream:
                try:
                    resp.read()
                except httpx.HTTPError:
                    pass
                finally:
                    resp.close()
            err = error_from_response(resp)
            if safe and attempt < self.retries and _retryable(resp.status_code, err):
                attempt = self._pause(attempt, resp.headers.get("Retry-After"), str(err))
                continue
            raise err

    def _pause(self, attempt: int, retry_after: str | None, why: str) -> int:
        delay = min(MAX_BACKOFF, self.backoff * (2 ** attempt))
        if retry_after:
            try:
                delay = min(60.0, max(0.0, float(retry_after)))
            except ValueError:
                pass
        log.info("retrying in %.2fs (attempt %d of %d): %s", delay, attempt + 2, self.retries + 1, why)
        if delay:
            time.sleep(delay)
        return attempt + 1


def _retryable(status: int, err: ApiError) -> bool:
    if status in RETRY_STATUSES:
        return True
    return status == 503 and err.error_code in RETRY_503_CODES


def _param(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"  # Feldera rejects True/False
    return str(v)


def _describe(e: Exception) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


__all__ = ["Http"]
