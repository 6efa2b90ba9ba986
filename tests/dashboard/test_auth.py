"""Sign-in and roles through a real dashboard process whose users file is made by `sluice user add`.

The dashboard runs with --proxy-fix, so tests that must not share the sign-in rate limit of 127.0.0.1
pretend to be other clients with X-Forwarded-For (which is also what checks ProxyFix is applied)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import httpx
import pytest
import simple_websocket

from webapp.dashboard.testing import DashboardProcess

from .conftest import TEST_SETTINGS
from .support import handshake_status

SQL = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, n INT);\nCREATE MATERIALIZED VIEW v AS SELECT id, n FROM t;\n"
PASSWORDS = {"vera": "viewer-pass-1", "ed": "editor-pass-2"}
KEYS: dict[str, str] = {}  # API keys printed by `sluice user add --api-key`


def sluice_user(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webapp.cli", "user", *args], input=stdin, text=True,
                          capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "users.json"
    for name, role in (("vera", "viewer"), ("ed", "editor")):
        r = sluice_user("add", name, "--role", role, "--users-file", str(path), stdin=PASSWORDS[name] + "\n")
        assert r.returncode == 0, r.stderr
    r = sluice_user("add", "kim", "--role", "viewer", "--api-key", "--users-file", str(path))
    assert r.returncode == 0, r.stderr
    KEYS["kim"] = r.stdout.strip().splitlines()[-1]
    assert KEYS["kim"].startswith("sluice-") and len(KEYS["kim"]) > 40
    return path


@pytest.fixture(scope="module")
def dash(engine, users_file):
    settings = TEST_SETTINGS | {"DEMO_PIPELINE": "authdemo"}
    with DashboardProcess(engine.url, "--users-file", str(users_file), "--proxy-fix", settings=settings) as d:
        yield d


def client_address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


_clients: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients():
    """Closes the clients sign_in made for a test (an open one is a ResourceWarning, an error here)."""
    yield
    while _clients:
        _clients.pop().close()


def sign_in(dash, name: str, password: str | None = None, address: str | None = None) -> httpx.Client:
    """A client signed in as ``name`` (its own client address, so the rate limit is its own)."""
    c = httpx.Client(base_url=dash.url, headers={"X-Forwarded-For": address or client_address()}, timeout=30)
    page = c.get("/login")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = c.post("/login", data={"username": name, "password": password or PASSWORDS[name], "csrf_token": token,
                               "next": "/"})
    c.last_login = r
    _clients.append(c)
    return c


def csrf(c: httpx.Client) -> dict:
    return {"X-CSRF-Token": c.cookies["sluice_csrf"]}


def test_users_file_holds_no_plain_password(users_file):
    text = users_file.read_text()
    for pw in PASSWORDS.values():
        assert pw not in text
    users = json.loads(text)["users"]
    assert users["vera"]["role"] == "viewer" and users["ed"]["role"] == "editor"
    h = users["ed"]["scrypt"]
    assert h["n"] >= 2 ** 14 and h["salt"] and h["hash"]
    assert users["ed"]["scrypt"]["salt"] != users["vera"]["scrypt"]["salt"]
    assert KEYS["kim"] not in text and len(users["kim"]["api_key"]["sha256"]) == 64
    assert (users_file.stat().st_mode & 0o777) == 0o600
    listed = sluice_user("list", "--users-file", str(users_file))
    assert listed.stdout.split() == ["ed", "editor", "password", "kim", "viewer", "api-key",
                                     "vera", "viewer", "password"]
    other = users_file.with_name("other.json")
    assert sluice_user("add", "x", "--role", "editor", "--users-file", str(other), stdin="short\n").returncode == 2
    assert sluice_user("add", "x", "--role", "editor", "--users-file", str(other), stdin="long-enough\n").returncode == 0
    assert sluice_user("remove", "x", "--users-file", str(other)).returncode == 0
    assert json.loads(other.read_text())["users"] == {}


def test_everything_needs_a_signed_in_user(dash):
    with httpx.Client(base_url=dash.url, timeout=30) as c:
        r = c.get("/pipelines/x")
        assert r.status_code == 302 and r.headers["location"].startswith("/login?next=/pipelines/x")
        r = c.get("/api/pipelines")
        assert r.status_code == 401 and r.json()["error_code"] == "Unauthorized"
        assert set(r.json()) == {"message", "error_code", "details"}
        assert c.get("/stream", params={"pipeline": "p", "view": "v"}).status_code == 401
        assert c.get("/api/pipelines/x/logs").status_code == 401  # the log proxy too
        assert c.get("/api/pipelines/x/history").status_code == 401
        assert c.get("/healthz").status_code == 200
        assert c.get("/static/js/api.js").status_code == 200
    assert handshake_status(dash.url, dash.url) == 401


def test_wrong_password_is_refused_and_sign_in_is_rate_limited(dash):
    address = client_address()
    assert sign_in(dash, "ed", "wrong-password", address).last_login.status_code == 401
    assert sign_in(dash, "nobody", "wrong-password", address).last_login.status_code == 401
    for _ in range(3):
        assert sign_in(dash, "ed", "wrong-password", address).last_login.status_code == 401
    r = sign_in(dash, "ed", None, address).last_login  # right password, but too many failures
    assert r.status_code == 429 and "too many failed sign-ins" in r.text and int(r.headers["Retry-After"]) > 0
    ok = sign_in(dash, "ed")  # another client address is not limited
    assert ok.last_login.status_code == 302 and ok.last_login.headers["location"] == "/"


def sign_in_with_key(dash, key: str, address: str | None = None) -> httpx.Client:
    c = httpx.Client(base_url=dash.url, headers={"X-Forwarded-For": address or client_address()}, timeout=30)
    _clients.append(c)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    c.last_login = c.post("/login", data={"api_key": key, "csrf_token": token, "next": "/pipelines"})
    return c


def test_sign_in_with_an_api_key(dash):
    c = sign_in_with_key(dash, KEYS["kim"])
    assert c.last_login.status_code == 302 and c.last_login.headers["location"] == "/pipelines"
    page = c.get("/")
    assert page.status_code == 200 and 'data-role="viewer"' in page.text and "kim" in page.text
    r = c.post("/api/pipelines/x/pause", headers=csrf(c))
    assert r.status_code == 403 and r.json()["details"]["role"] == "viewer"
    address = client_address()
    for wrong in (KEYS["kim"][:-1], "sluice-" + "A" * 43, PASSWORDS["vera"]):
        bad = sign_in_with_key(dash, wrong, address)
        assert bad.last_login.status_code == 401 and "unknown API key" in bad.last_login.text
        assert bad.get("/api/pipelines").status_code == 401
    for _ in range(2):
        sign_in_with_key(dash, "nope", address)
    assert sign_in_with_key(dash, KEYS["kim"], address).last_login.status_code == 429  # the same limit


def test_session_cookie_flags(dash):
    c = sign_in(dash, "vera")
    cookie = c.last_login.headers["set-cookie"]
    assert "sluice_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert c.get("/api/pipelines").status_code == 200
    page = c.get("/")
    assert page.status_code == 200 and 'data-role="viewer"' in page.text
    # behind a TLS proxy (ProxyFix): the cookie is Secure
    with httpx.Client(base_url=dash.url, timeout=30) as c2:
        headers = {"X-Forwarded-For": client_address(), "X-Forwarded-Proto": "https"}
        page = c2.get("/login", headers=headers)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = c2.post("/login", headers=headers | {"Cookie": f"sluice_csrf={token}"},
                    data={"username": "vera", "password": PASSWORDS["vera"], "csrf_token": token})
        assert r.status_code == 302
        assert "Secure" in r.headers["set-cookie"]
    out = c.post("/logout", headers=csrf(c))
    assert out.status_code == 302
    assert c.get("/api/pipelines").status_code == 401


def test_viewer_is_refused_state_changes_and_editor_is_not(dash, http, make_pipeline):
    p = make_pipeline(SQL)
    viewer, editor = sign_in(dash, "vera"), sign_in(dash, "ed")
    page = viewer.get(f"/pipelines/{p}")
    assert page.status_code == 200 and "data-action=" not in page.text and 'data-role="viewer"' in page.text
    assert 'data-action="pause"' in editor.get(f"/pipelines/{p}").text
    for action in ("pause", "resume", "stop", "start", "start_paused"):
        r = viewer.post(f"/api/pipelines/{p}/{action}", headers=csrf(viewer))
        assert r.status_code == 403, (action, r.text)
        assert r.json()["error_code"] == "Forbidden" and set(r.json()) == {"message", "error_code", "details"}
    r = viewer.post("/api/demo", json={"enabled": True}, headers=csrf(viewer))
    assert r.status_code == 403
    assert viewer.get(f"/api/pipelines/{p}").status_code == 200  # reading is fine
    with viewer.stream("GET", f"/api/pipelines/{p}/logs") as r:  # and so is reading the log
        assert r.status_code == 200 and json.loads(next(r.iter_lines())) == {"op": "open"}
    assert http.get(f"/pipelines/{p}", params={"selector": "status"}).json()["deployment_status"] == "Running"

    assert editor.post(f"/api/pipelines/{p}/pause").status_code == 403  # no CSRF token
    assert editor.post(f"/api/pipelines/{p}/pause", headers=csrf(editor)).status_code == 202
    r = editor.post("/api/demo", json={"enabled": False}, headers=csrf(editor))
    assert r.status_code == 200 and r.json()["enabled"] is False


def test_websocket_with_a_session(dash):
    c = sign_in(dash, "vera")
    cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    ws = simple_websocket.Client.connect(dash.url.replace("http://", "ws://") + "/ws", headers={"Cookie": cookie})
    try:
        ws.send(json.dumps({"op": "nonsense"}))
        assert ws.receive(timeout=5) is not None  # an error message: the connection is open
        ws.send("x" * ((1 << 20) + 10))  # over WS_MAX_MESSAGE: the server closes the connection
        with pytest.raises(simple_websocket.ConnectionClosed) as closed:
            for _ in range(5):
                ws.receive(timeout=5)
        assert closed.value.reason == 1009  # message too big
    finally:
        if ws.connected:
            ws.close()


def test_security_headers_on_every_answer(dash):
    c = sign_in(dash, "vera")
    for r in (c.get("/"), c.get("/api/pipelines"), c.get("/login"), httpx.get(dash.url + "/api/hub"),
              c.post("/api/demo", json={}, headers=csrf(c))):
        h = r.headers
        assert "script-src 'self'" in h["Content-Security-Policy"] and "'unsafe-inline'" not in h[
            "Content-Security-Policy"], r.url
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "same-origin"
        assert h["X-Frame-Options"] == "DENY"
    assert "<script>" not in c.get("/login").text


def _break(path) -> str:
    """Append what a bad hand edit leaves; returns the text before."""
    good = path.read_text()
    path.write_text(good + "}{ broken\n")
    return good


def test_a_broken_users_file_is_named_with_its_position_and_refused_at_start(tmp_path):
    path = tmp_path / "users.json"
    assert sluice_user("add", "ann", "--role", "editor", "--users-file", str(path), stdin="long-enough\n").returncode == 0
    line = len(_break(path).splitlines()) + 1
    for action in (["list"], ["remove", "ann"], ["add", "bob", "--role", "viewer"]):
        r = sluice_user(*action, "--users-file", str(path), stdin="long-enough\n")
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert f"the users file {path} is not valid JSON: Extra data at line {line}, column 1. Correct it" \
            in r.stderr, r.stderr
    assert "bob" not in path.read_text()
    r = subprocess.run([sys.executable, "-m", "webapp.cli", "dashboard", "--port", "0", "--users-file", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and f"sluice dashboard: the users file {path} is not valid JSON" in r.stderr, r.stderr
    assert "listening" not in r.stdout


def test_a_running_dashboard_keeps_the_last_good_users_while_the_file_is_broken(dash, users_file):
    from webapp.engine.testing import wait_until
    good = _break(users_file)
    try:
        assert sign_in(dash, "ed").last_login.status_code == 302
        vera = sign_in(dash, "vera")
        assert vera.get("/api/pipelines").status_code == 200
        warning = r"WARNING sluice\.dashboard\.auth: the users file .* is not valid JSON: Extra data at line \d+, " \
                  r"column 1: the 3 users read at .* stay in force until it is corrected"
        assert len(re.findall(warning, dash.log)) == 1, dash.log
        # A worker started while the file is broken has no good version: sign-in answers 503, in words.
        old = dash.kill_worker()
        wait_until(lambda: dash.worker_pids and old not in dash.worker_pids
                   and httpx.get(dash.url + "/healthz").status_code == 200, 30, "a new worker",
                   ignore=(httpx.HTTPError,))
        r = sign_in(dash, "ed").last_login
        assert r.status_code == 503 and "users file cannot be read" in r.text
        r = vera.get("/api/pipelines")  # a session made before: its user cannot be checked
        assert r.status_code == 503 and r.json()["error_code"] == "UsersFileUnreadable"
    finally:
        users_file.write_text(good)
    assert sign_in(dash, "ed").last_login.status_code == 302
