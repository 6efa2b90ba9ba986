"""Security headers and request checks, applied to every request of the dashboard.

- ``Host`` must be a loopback name, a name in ``ALLOWED_HOSTS`` (``*``: any), so a DNS-rebinding page
  cannot reach a local dashboard through a name it controls.
- State-changing requests (any method but GET/HEAD/OPTIONS) and the WebSocket handshake must come from
  the dashboard's own origin (or one in ``ALLOWED_ORIGINS``) when they carry an ``Origin``; browsers
  always send one on those.
- State-changing requests must also carry the CSRF token (header ``X-CSRF-Token``) matching the
  ``sluice_csrf`` cookie (double submit: no server-side session, so replicas need no shared state).
  ``static/js/api.js`` is the one place that adds it; the sign-in/out forms send it as ``csrf_token``.
- Every answer gets a Content-Security-Policy without inline script: pages pass their data in
  ``<script type="application/json">`` and load modules from ``/static``.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, Response, g, request

from webapp._serving import LOOPBACK_NAMES, hostname

from .answers import refuse

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_COOKIE = "sluice_csrf"
CSRF_HEADER = "X-CSRF-Token"





def csrf_token() -> str:
    """The token for this browser (from its cookie, or a new one set on the way out)."""
    tok = getattr(g, "csrf_token", None)
    if tok is None:
        tok = request.cookies.get(CSRF_COOKIE)
        if not tok or len(tok) < 20:
            tok = secrets.token_urlsafe(24)
            g.csrf_new = True
        g.csrf_token = tok
    return tok


def _is_websocket() -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def init_app(app: Flask) -> None:
    def allowed_hosts() -> tuple[bool, set[str]]:
        hosts = app.config.get("ALLOWED_HOSTS") or []
        return "*" in hosts, set(LOOPBACK_NAMES) | set(hosts)

    @app.before_request
    def _guard():
        any_host, hosts = allowed_hosts()
        host = hostname(request.host or "")
        if not any_host and host not in hosts:
            return refuse(403, "HostNotAllowed", f"requests for host '{host}' are refused; start the dashboard "
                           f"with --allowed-host {host} (or SLUICE_ALLOWED_HOSTS) to accept it", {"host": host})
        changing = request.method not in SAFE_METHODS
        if changing or _is_websocket():
            origin = request.headers.get("Origin")
            own = f"{request.scheme}://{request.host}"
            if origin and origin != own and origin not in (app.config.get("ALLOWED_ORIGINS") or []):
                return refuse(403, "OriginNotAllowed", f"requests from origin '{origin}' are refused",
                               {"origin": origin})
        if changing:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent and request.mimetype == "application/x-www-form-urlencoded":
                sent = request.form.get("csrf_token", "")  # the sign-in and sign-out forms
            cookie = request.cookies.get(CSRF_COOKIE, "")
            if not sent or not cookie or not hmac.compare_digest(sent, cookie):
                return refuse(403, "CsrfFailed", "missing or wrong CSRF token: reload the page", None)
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        h = resp.headers
        h.setdefault("Content-Security-Policy",
                     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                     "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                     "form-action 'self'")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("X-Frame-Options", "DENY")
        if getattr(g, "csrf_new", False):
            resp.set_cookie(CSRF_COOKIE, g.csrf_token, httponly=True, samesite="Strict", path="/",
                            secure=request.scheme == "https")
        return resp

    app.jinja_env.globals["csrf_token"] = csrf_token


__all__ = ["init_app", "csrf_token", "CSRF_COOKIE", "CSRF_HEADER"]
