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


@pytest.mark.parametrize("command,flag", [(["up", "--engine-port", "0", "--port"], "--port"),
                                          (["up", "--port", "0", "--engine-port"], "--engine-port"),
                                          (["engine", "--port"], "--port")])
def test_a_busy_port_is_refused_at_once_naming_the_flag(tmp_path, command, flag):
    """Another program listening there: exit 2 with the flag to change, before anything starts
    (gunicorn alone retries for seconds and then says "Can't connect")."""
    import subprocess
    import sys
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "webapp.cli", *command, str(port), "--data-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"port {port} on 127.0.0.1 is in use" in r.stderr and f"choose another with {flag} N" in r.stderr
    assert "Sluice engine listening" not in r.stdout + r.stderr, "nothing was started"
