"""Sessions end with the credentials they were made with, and sign-in only ever sends a browser on to a
path of this dashboard (issue 16, items 7, 8 and 9). A real dashboard process; its users file is changed
with `sluice user`, as an administrator would."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
import simple_websocket

from webapp.dashboard.testing import DashboardProcess

from .conftest import TEST_SETTINGS
from .test_auth import client_address, sign_in, sign_in_with_key, sluice_user

WAIT = 30.0


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    return tmp_path_factory.mktemp("sessions") / "users.json"


@pytest.fixture(scope="module")
def dash(engine, users_file):
    add(users_file, "admin", "admin-pass-0")  # the file must exist before the dashboard starts
    with DashboardProcess(engine.url, "--users-file", str(users_file), "--proxy-fix", settings=TEST_SETTINGS) as d:
        yield d


def add(users_file, name: str, password: str, role: str = "editor") -> None:
    r = sluice_user("add", name, "--role", role, "--users-file", str(users_file), stdin=password + "\n")
    assert r.returncode == 0, r.stderr


def signed_in(c: httpx.Client) -> bool:
    r = c.get("/api/pipelines")
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def copy(dash, c: httpx.Client) -> httpx.Client:
    """Another client holding ``c``'s cookies as they are now: a stolen session cookie, which (unlike a
    browser) never takes the answer that clears it."""
    return httpx.Client(base_url=dash.url, cookies=dict(c.cookies), headers=dict(c.headers), timeout=WAIT)


@pytest.fixture(autouse=True)
def _close_clients(monkeypatch):
    """Every client a test here signs in with (or copies) is closed when the test ends."""
    made: list[httpx.Client] = []
    for name in ("sign_in", "sign_in_with_key", "copy"):
        def keep(*args, _make=globals()[name], **kw):
            made.append(_make(*args, **kw))
            return made[-1]
        monkeypatch.setitem(globals(), name, keep)
    yield
    for c in made:
        c.close()


def test_a_password_change_ends_the_sessions_made_with_the_old_one(dash, users_file):
    add(users_file, "pat", "first-pass-1")
    one, two = sign_in(dash, "pat", "first-pass-1"), sign_in(dash, "pat", "first-pass-1")
    assert signed_in(one) and signed_in(two)
    stolen = copy(dash, one)
    add(users_file, "pat", "second-pass-2")
    assert not signed_in(one) and not signed_in(two) and not signed_in(stolen)
    r = one.get("/pipelines")
    assert r.status_code == 302 and r.headers["location"].startswith("/login")
    assert sign_in(dash, "pat", "first-pass-1").last_login.status_code == 401
    assert signed_in(sign_in(dash, "pat", "second-pass-2"))


def test_setting_the_same_password_again_also_ends_the_sessions(dash, users_file):
    add(users_file, "sam", "same-pass-1")
    c = sign_in(dash, "sam", "same-pass-1")
    assert signed_in(c)
    add(users_file, "sam", "same-pass-1")  # an administrator resetting a password that leaked
    assert not signed_in(c)


def test_a_removed_user_added_again_does_not_get_its_old_sessions_back(dash, users_file):
    add(users_file, "rem", "remove-pass-1")
    c = sign_in(dash, "rem", "remove-pass-1")
    assert signed_in(c)
    stolen = copy(dash, c)
    assert sluice_user("remove", "rem", "--users-file", str(users_file)).returncode == 0
    assert not signed_in(c)
    add(users_file, "rem", "remove-pass-1")
    assert not signed_in(stolen), "the old session came back with the user"
    assert signed_in(sign_in(dash, "rem", "remove-pass-1"))


def test_a_new_api_key_ends_the_sessions_made_with_the_old_one(dash, users_file):
    r = sluice_user("add", "bot", "--role", "viewer", "--api-key", "--users-file", str(users_file))
    assert r.returncode == 0, r.stderr
    c = sign_in_with_key(dash, r.stdout.strip().splitlines()[-1])
    assert signed_in(c)
    assert sluice_user("add", "bot", "--role", "viewer", "--api-key", "--users-file", str(users_file)).returncode == 0
    assert not signed_in(c)


def test_an_open_websocket_ends_when_its_user_is_removed(dash, users_file):
    add(users_file, "wes", "socket-pass-1")
    c = sign_in(dash, "wes", "socket-pass-1")
    cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    ws = simple_websocket.Client.connect(dash.url.replace("http://", "ws://") + "/ws",
                                         headers={"Cookie": cookie, "X-Forwarded-For": c.headers["X-Forwarded-For"]})
    try:
        ws.send(json.dumps({"op": "ping", "t": 1}))
        assert json.loads(ws.receive(timeout=WAIT)) == {"op": "pong", "t": 1}
        assert sluice_user("remove", "wes", "--users-file", str(users_file)).returncode == 0
        deadline = time.monotonic() + WAIT
        with pytest.raises(simple_websocket.ConnectionClosed):
            while time.monotonic() < deadline:  # pings may come first; the socket must then close
                ws.receive(timeout=deadline - time.monotonic())
        assert ws.close_reason == 1008
    finally:
        if ws.connected:
            ws.close()


def login_form(c: httpx.Client, nxt: str) -> httpx.Response:
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return c.post("/login", data={"username": "admin", "password": "admin-pass-0", "csrf_token": token, "next": nxt})


@pytest.mark.parametrize("nxt", ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\\evil.example",
                                 "//evil.example", "https://evil.example/", " /x", "/x\nSet-Cookie: a=b",
                                 "javascript:alert(1)", "/\x00x"])
def test_sign_in_refuses_a_next_that_is_not_a_path_of_this_site(dash, nxt):
    """``/%09/evil.example`` used to answer ``Location: //evil.example``, and a line feed a 500."""
    with httpx.Client(base_url=dash.url, headers={"X-Forwarded-For": client_address()}, timeout=WAIT) as c:
        for r in (c.get("/login", params={"next": nxt}), login_form(c, nxt)):
            assert r.status_code == 400, (nxt, r.status_code, r.headers.get("location"))
            body = r.json()
            assert set(body) == {"message", "error_code", "details"} and body["error_code"] == "UnsafeNext"
            assert body["details"] == {"parameter": "next", "value": nxt}
            assert "location" not in r.headers
        assert not signed_in(c)  # nothing happened: a user fixes the link, not the password


@pytest.mark.parametrize("nxt", ["/pipelines/demo?tab=views", "/", "/pipelines/a%2F%2Fb"])
def test_sign_in_goes_on_to_a_path_of_this_site(dash, nxt):
    with httpx.Client(base_url=dash.url, headers={"X-Forwarded-For": client_address()}, timeout=WAIT) as c:
        assert c.get("/login", params={"next": nxt}).status_code == 200
        r = login_form(c, nxt)
        assert r.status_code == 302 and r.headers["location"] == nxt


def test_a_page_with_a_line_feed_in_its_path_still_sends_to_sign_in(dash):
    with httpx.Client(base_url=dash.url, timeout=WAIT) as c:
        r = c.get("/pipelines/a%0Ab")
        assert r.status_code == 302 and r.headers["location"] == "/login"
        assert c.get(r.headers["location"]).status_code == 200
