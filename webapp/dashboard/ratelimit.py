"""``INGRESS_RATE``: bytes per second each client may push through the dashboard (uploads and data entry).

A client is the signed-in user, else the remote address. Bytes are charged as they stream, so a request is
never cut halfway; a request arriving while its client's bucket is in debt is refused with 429, the error
envelope and ``Retry-After``. Kept per process (each replica counts on its own).
"""

from __future__ import annotations

import math
import threading
import time

import orjson
from flask import Response, current_app, g, request


class IngressLimiter:
    """A token bucket of bytes per client: ``rate`` a second, at most one second's worth saved up."""

    def __init__(self, rate: float):
        self.rate = float(rate)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.rate, now))
        return min(self.rate, tokens + (now - at) * self.rate)

    def retry_after(self, key: str) -> float:
        """0 when ``key`` may send now, else seconds to wait."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            level = self._level(key, time.monotonic())
        return 0.0 if level >= 0 else -level / self.rate

    def charge(self, key: str, n: int) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 10_000:  # many clients: forget the ones that are full again
                self._buckets = {k: v for k, v in self._buckets.items() if self._level(k, now) < self.rate}
            self._buckets[key] = (self._level(key, now) - n, now)


def limiter() -> IngressLimiter:
    ext = current_app.extensions
    if "sluice_ingress_limit" not in ext:
        ext["sluice_ingress_limit"] = IngressLimiter(current_app.config.get("INGRESS_RATE") or 0)
    return ext["sluice_ingress_limit"]


def client() -> str:
    return getattr(g, "user", None) or request.remote_addr or "?"


def refusal() -> Response | None:
    """The 429 answer when this request's client is over its rate, else None."""
    lim, who = limiter(), client()
    wait = lim.retry_after(who)
    if not wait:
        return None
    secs = max(1, math.ceil(wait))
    body = {"message": f"data from {who} comes faster than {lim.rate:.0f} bytes per second (INGRESS_RATE): "
                       f"retry in {secs} s", "error_code": "TooManyRequests",
            "details": {"retry_after": secs, "rate": lim.rate}}
    return Response(orjson.dumps(body), status=429, mimetype="application/json",
                    headers={"Retry-After": str(secs), "Cache-Control": "no-store"})


__all__ = ["IngressLimiter", "limiter", "client", "refusal"]
