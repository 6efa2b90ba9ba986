"""Helpers for tests that talk to a real dashboard (gunicorn) over HTTP."""

from __future__ import annotations

import re
import socket
import uuid

import httpx


def csrf_client(url: str, **kw) -> httpx.Client:
    """A client of a dashboard without sign-in, sending the CSRF token that a first page set."""
    c = httpx.Client(base_url=url, timeout=60, **kw)
    assert c.get("/").status_code == 200  # a page sets the CSRF cookie
    c.headers["X-CSRF-Token"] = c.cookies["sluice_csrf"]
    return c


def sign_in(url: str, name: str, password: str) -> httpx.Client:
    """A client signed in as ``name``, from an address of its own (sign-in is rate-limited per address;
    the dashboard must run with --proxy-fix for the address to count)."""
    c = httpx.Client(base_url=url, timeout=60, headers={"X-Forwarded-For": f"10.9.{len(name)}.{uuid.uuid4().int % 250}"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": name, "password": password, "csrf_token": token, "next": "/"})
    assert r.status_code == 302, r.text
    c.headers["X-CSRF-Token"] = c.cookies["sluice_csrf"]
    return c


def handshake_status(url: str, origin: str, host: str | None = None, headers: dict | None = None) -> int:
    """Send a WebSocket handshake by hand (as a browser would: Host with the port) and return the status.
    (simple_websocket's client leaves its socket open when the handshake is refused.)"""
    u = httpx.URL(url)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    with socket.create_connection((u.host, u.port), timeout=5) as s:
        s.sendall((f"GET /ws HTTP/1.1\r\nHost: {host or f'{u.host}:{u.port}'}\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n{extra}\r\n").encode())
        return int(s.recv(200).split(b" ")[1])
