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


def test_a_server_on_every_address_prints_a_url_its_host_check_accepts(tmp_path):
    """--host 0.0.0.0: the printed URL used to be http://0.0.0.0:PORT, which the server's own Host check
    refuses (403 HostNotAllowed); it is the loopback one, with the names other machines may use."""
    import httpx

    from webapp.dashboard.testing import DashboardProcess
    from webapp.engine.testing import EngineProcess
    with EngineProcess(tmp_path / "data", "--host", "0.0.0.0", "--insecure") as eng:
        assert eng.url.startswith("http://127.0.0.1:"), eng.log
        assert "only this machine's loopback names are accepted: pass --allowed-host NAME" in eng.log
        with DashboardProcess(eng.url, "--host", "0.0.0.0", "--insecure", "--allowed-host", "sluice.example") as d:
            assert d.url.startswith("http://127.0.0.1:"), d.log
            assert httpx.get(d.url + "/", timeout=30).status_code == 200
            assert "on every address; other machines may reach it as sluice.example)" in d.log
