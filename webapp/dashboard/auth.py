"""Sign-in and roles, on when ``USERS_FILE`` is set (``sluice user add|remove|list`` manages that file).

- The users and their credentials come from the users file (``users.py``).
- A signed session cookie (Flask's ``session``: HttpOnly, SameSite=Lax, Secure when the request is HTTPS,
  ``PROXY_FIX`` to trust a TLS proxy's ``X-Forwarded-*``). The key is ``SECRET_KEY``, else one generated
  and kept next to the users file (``<users file>.secret``, mode 0600), so replicas and restarts agree.
- The session holds a stamp of the user's credentials (``credential_stamp``: a keyed hash of the password's
  salted hash and the API key's digest), checked on every request against the users file. Setting a
  password or key draws a new salt or key, so changing either, or removing the user and adding it again,
  ends every session made before.
- Failed sign-ins are limited per client address (``LOGIN_ATTEMPTS`` a minute, then 429).
- Every page needs a signed-in user (else a redirect to ``/login``), every API call and the WebSocket
  handshake too (else 401 with the error envelope); ``/healthz``, ``/static`` and ``/login`` are open.
- Roles: ``viewer`` may only read (GET); ``editor`` may also change state. Any request that is not
  GET/HEAD/OPTIONS needs an editor (403 ``Forbidden``), so a new state-changing endpoint is covered
  without marking it. Templates get ``role`` / ``can_edit`` to hide what a viewer may not use.

Without ``USERS_FILE`` the dashboard is open, as it is for local use: everyone is an editor.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections import defaultdict, deque
from datetime import timedelta

from flask import (Blueprint, Flask, Response, current_app, g, redirect, render_template, request, session,
                   url_for)
from flask.sessions import SecureCookieSessionInterface

from .answers import refuse
from .users import (ROLES, Users, UsersFileError, add_key_user, add_user, check_password, credential_stamp,
                    dummy_check, find_key_user, hash_password, read_users, remove_user, secret_key_for, write_users)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
OPEN_PATHS = ("/login", "/healthz")

bp = Blueprint("auth", __name__)
log = logging.getLogger("sluice.dashboard.auth")


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key."""

    def __init__(self, limit: int, window: float = 60.0):
        self.limit, self.window = limit, window
        self._events: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque:
        q = self._events[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def retry_after(self, key: str) -> float:
        """0 when allowed, else seconds until the next attempt is."""
        now = time.monotonic()
        with self._lock:
            q = self._trim(key, now)
            if len(q) < self.limit:
                if not q:
                    self._events.pop(key, None)
                return 0.0
            return max(0.0, q[0] + self.window - now)

    def hit(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._events) > 10_000:  # many addresses: drop the ones whose window has passed
                for k in [k for k, q in self._events.items() if not q or q[-1] <= now - self.window]:
                    del self._events[k]
            self._trim(key, now).append(now)


# -- the app --------------------------------------------------------------------------------------------

class _SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app) -> bool:
        return request.is_secure




def _is_page() -> bool:
    p = request.path
    return not (p.startswith("/api/") or p == "/ws" or p.startswith("/stream"))


def current_role() -> str:
    return getattr(g, "role", "editor")


def _holds(record: dict | None) -> bool:
    """Whether this request's session is of ``record``'s user as it is now (role, credentials)."""
    return (record is not None and record.get("role") in ROLES
            and hmac.compare_digest(str(session.get("stamp", "")), credential_stamp(record, current_app.secret_key)))


def still_signed_in() -> bool:
    """For a long-lived request (the WebSocket): whether its user still exists with the credentials it
    signed in with. Always True when sign-in is off."""
    users = current_app.extensions.get("sluice_users")
    name = getattr(g, "user", None)
    try:
        return users is None or (name is not None and _holds(users.get(name)))
    except UsersFileError:
        return False


def _users_unreadable(e: UsersFileError):
    """503 while there is no good version of the users file: the log names the file and the fault; the
    answer, seen before anyone signs in, says only what to ask for."""
    msg = ("sign-in is unavailable: this dashboard's users file cannot be read; ask its operator to correct "
           "it (the dashboard's log says where)")
    if _is_page():
        return render_template("login.html", next="/", error=msg, name=""), 503
    return refuse(503, "UsersFileUnreadable", msg, None)


def init_app(app: Flask) -> None:
    if app.config.get("PROXY_FIX"):
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    users_file = app.config.get("USERS_FILE")

    @app.context_processor
    def _role():
        return {"role": current_role(), "can_edit": current_role() == "editor",
                "auth_on": bool(users_file), "user": getattr(g, "user", None)}

    if not users_file:
        app.before_request(lambda: setattr(g, "role", "editor"))
        return

    app.secret_key = app.config.get("SECRET_KEY") or secret_key_for(users_file)
    app.session_interface = _SessionInterface()
    app.config.update(SESSION_COOKIE_NAME="sluice_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=float(app.config.get("SESSION_HOURS") or 12)))
    users = Users(users_file)
    app.extensions["sluice_users"] = users
    app.register_error_handler(UsersFileError, _users_unreadable)
    try:
        users.all()  # read at start: the version in force if a later edit breaks the file
    except UsersFileError:
        pass  # logged; requests answer 503 until the file is corrected
    app.extensions["sluice_login_limit"] = RateLimiter(int(app.config.get("LOGIN_ATTEMPTS") or 5), 60.0)

    @app.before_request
    def _require_user():
        g.role, g.user = "viewer", None
        if request.path in OPEN_PATHS or request.path.startswith("/static/"):
            return None
        name = session.get("user")
        record = users.get(name) if name else None
        if not _holds(record):
            session.pop("user", None)
            session.pop("stamp", None)
            if _is_page() and request.method in SAFE_METHODS:
                back = request.full_path.rstrip("?")
                return redirect(url_for("auth.login", next=back if _safe_next(back) else None))
            # details.login: the pages tell their own signed-out state from a 401 the pipeline server sent
            return refuse(401, "Unauthorized", "sign in first: this dashboard needs a user", {"login": "/login"})
        g.user, g.role = name, record["role"]
        if request.method not in SAFE_METHODS and g.role != "editor" and request.path != "/logout":
            return refuse(403, "Forbidden", f"user '{name}' is a {g.role}: only an editor may do this",
                           {"user": name, "role": g.role, "needs": "editor"})
        return None

    app.register_blueprint(bp)


_NOT_IN_A_PATH = re.compile(r"[\x00-\x1f\x7f\\]")


def _safe_next(target: str | None) -> str | None:
    """Where to go after signing in: ``target`` if it is a path of this site, "/" if none is given, else
    None. Browsers drop tabs and line breaks from a URL and read ``\\`` as ``/`` (``/<TAB>/evil.example``
    is ``//evil.example``, another site), so any control character or backslash is refused, and so is what
    is not a path (``//host``, ``https:...``)."""
    if not target:
        return "/"
    if _NOT_IN_A_PATH.search(target) or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    nxt = _safe_next(request.values.get("next"))
    if nxt is None:
        return refuse(400, "UnsafeNext", "next must be a path of this dashboard (like /pipelines/demo), without "
                      "control characters or backslashes", {"parameter": "next", "value": request.values["next"]})
    if request.method == "GET":
        return render_template("login.html", next=nxt, error=None, name="")
    limiter: RateLimiter = current_app.extensions["sluice_login_limit"]
    client = request.remote_addr or "?"
    wait = limiter.retry_after(client)
    name = request.form.get("username", "")
    if wait:
        msg = f"too many failed sign-ins from {client}: try again in {int(wait) + 1} seconds"
        resp = Response(render_template("login.html", next=nxt, error=msg, name=name), status=429)
        resp.headers["Retry-After"] = str(int(wait) + 1)
        return resp
    users = current_app.extensions["sluice_users"]
    api_key = request.form.get("api_key", "").strip()
    if api_key:
        name = find_key_user(users.all(), api_key) or ""
        record = users.get(name) if name else None
        if record is None or record.get("role") not in ROLES:
            limiter.hit(client)
            return render_template("login.html", next=nxt, error="unknown API key", name=""), 401
    else:
        password = request.form.get("password", "")
        record = users.get(name) if name else None
        if record is None:
            dummy_check(password)
        if record is None or record.get("role") not in ROLES or not check_password(record, password):
            limiter.hit(client)
            return render_template("login.html", next=nxt, error="wrong user name or password", name=name), 401
    session.clear()
    session.permanent = True
    session["user"] = name
    session["stamp"] = credential_stamp(record, current_app.secret_key)
    return redirect(nxt)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))


__all__ = ["init_app", "UsersFileError", "add_user", "add_key_user", "find_key_user", "remove_user", "read_users", "write_users",
           "hash_password", "check_password", "credential_stamp", "secret_key_for", "RateLimiter", "ROLES",
           "current_role", "still_signed_in"]
