"""The module the engine's server and the dashboard share (webapp/_serving.py)."""

from __future__ import annotations

import re
import socket

import pytest

from webapp._serving import LOOPBACK_NAMES, ServedProcess, hostname, listening_url


@pytest.mark.parametrize("host,name", [("localhost:8080", "localhost"), ("127.0.0.1", "127.0.0.1"),
                                       ("[::1]:80", "[::1]"), ("[::1]", "[::1]"), ("::1", "::1"),
                                       ("evil.example:443", "evil.example"), ("[::1", "[::1")])
def test_hostname_strips_the_port(host, name):
    assert hostname(host) == name


def test_loopback_names_include_ipv6_in_both_forms():
    assert {"localhost", "127.0.0.1", "[::1]", "::1"} <= set(LOOPBACK_NAMES)


def test_listening_url_reads_the_bound_port():
    class Listener:
        def __init__(self, sock):
            self.sock = sock

    class Arbiter:
        pass

    with socket.create_server(("127.0.0.1", 0)) as s:
        arb = Arbiter()
        arb.LISTENERS = [Listener(s)]
        assert listening_url(arb) == f"http://127.0.0.1:{s.getsockname()[1]}"


class _Help(ServedProcess):
    """``sluice --help`` never prints a URL: start() must fail with the output in the message."""

    url_pattern = re.compile(r"listening on (http://\S+)")
    what = "help"

    def command(self):
        return ["--help"]


def test_a_process_that_never_listens_fails_with_its_log():
    with pytest.raises(RuntimeError, match=r"help exited before it was ready; log:\n.*usage: sluice"):
        _Help(ready_timeout=20).start()
