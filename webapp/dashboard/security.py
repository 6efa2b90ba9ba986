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
  ``<script type="application/json">`` and load modules from ``/static``. Styles come from ``/static`` too,
  except the ``<style>`` elements the SQL editor (CodeMirror) makes at run time: a page that asks for
  ``style_nonce()`` gets a fresh nonce that its CSP allows for styles only (never for scripts).
- A body is at most ``FORM_MAX_BYTES`` (Flask's ``MAX_CONTENT_LENGTH``), except an upload's, which streams
  under its own limit: 413 from ``Content-Length`` before reading, or once a chunked body passes it. (Werkzeug
  would cut a chunked body at the limit without a word, and the JSON or form then read as empty.)
"""

from __future__ import annotations

import hmac
import io
import secrets
import time

from flask import Flask, Response, g, request

from webapp._serving import LOOPBACK_NAMES, hostname

from .answers import refuse, too_large

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_COOKIE = "sluice_csrf"
CSRF_HEADER = "X-CSRF-Token"
STREAMED = ("upload.upload",)  # endpoints that read their body as it comes, under their own limit


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


def style_nonce() -> str:
    """This answer's nonce for ``<style>`` elements (made once per request, allowed by its CSP)."""
    if "style_nonce" not in g:
        g.style_nonce = secrets.token_urlsafe(16)
    return g.style_nonce


def _is_websocket() -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _bound_body():
    """Refuse a body over the limit; read a chunked one here (at most one byte past it), so that what Flask
    parses later is the whole body or nothing."""
    if request.endpoint in STREAMED:
        return None
    limit = request.max_content_length
    env = request.environ
    if limit is None or "chunked" not in env.get("HTTP_TRANSFER_ENCODING", "").lower():
        return too_large() if limit is not None and (request.content_length or 0) > limit else None
    parts, size = [], 0
    while size <= limit:
        part = env["wsgi.input"].read(min(1 << 16, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
        time.sleep(0)  # under gevent a read that finds data waiting never lets the other requests run
    if size > limit:
        return too_large()
    body = b"".join(parts)
    env["wsgi.input"], env["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
    request.__dict__.pop("content_length", None)  # werkzeug caches it
    return None


def init_app(app: Flask) -> None:
    app.before_request(_bound_body)  # first: the CSRF check below may read the sign-in form

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
        styles = f"'self' 'nonce-{g.style_nonce}'" if "style_nonce" in g else "'self'"
        h.setdefault("Content-Security-Policy",
                     f"default-src 'self'; script-src 'self'; style-src {styles}; img-src 'self' data:; "
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
    app.jinja_env.globals["style_nonce"] = style_nonce


__all__ = ["init_app", "csrf_token", "CSRF_COOKIE", "CSRF_HEADER"]
