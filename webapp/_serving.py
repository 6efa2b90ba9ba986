"""What the engine's server and the dashboard share about being served: neither imports the other.

- ``LOOPBACK_NAMES`` and ``hostname(host)``: the Host-header check both make against DNS rebinding.
- ``listening_url(server)``: the URL gunicorn's first listener is bound to (port 0 becomes the real one);
  ``browse_url(url, allowed_hosts)``: the URL to print for it, loopback for a listen-everywhere address.
- ``peer_closed(sock)``: whether the client of a request has closed its connection (a cancelled query).
- ``port_problem(host, port, flag)``: why a port cannot be listened on (in use, not allowed), before serving.
- ``die_with_parent()``: a child process (gunicorn worker, ``sluice up``'s children) dies with its parent.
- ``ServedProcess``: a ``sluice`` subcommand run as a child process for tests and benchmarks, on an
  ephemeral port read from its output, its log kept for failure messages, stopped on exit.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")
_PR_SET_PDEATHSIG = 1


def port_problem(host: str, port: int, flag: str) -> str | None:
    """Why ``host:port`` cannot be listened on, in words that name ``flag``; None when it can (or port 0).

    Asked before gunicorn starts: gunicorn retries a busy port for several seconds, then prints
    "Can't connect to ...", which reads as a network failure rather than "choose another port"."""
    if not port:
        return None
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        return f"cannot listen on {host}: {e.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds: TIME_WAIT is no obstacle
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is in use by another program: choose another with {flag} N "
                        f"(or stop what listens there: 'ss -ltnp sport = :{port}' shows it)")
            return f"cannot listen on {host}:{port}: {e.strerror} (choose another with {flag} N)"
    return None


def peer_closed(sock) -> bool:
    """Whether the peer of ``sock`` (a request's client) has closed the connection: the socket reads as
    ended, or fails. Never blocks; data waiting to be read (a pipelined request) is not an end."""
    try:
        if not select.select([sock], [], [], 0)[0]:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True


def hostname(host: str) -> str:
    """``Host`` without its port (``[::1]:80`` -> ``[::1]``, ``a:80`` -> ``a``)."""
    if host.startswith("["):
        return host[: host.index("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def browse_url(url: str, allowed_hosts) -> tuple[str, str]:
    """The URL to print for ``url``, the one a server listens on, and a note to print with it ("" when none).

    A listen-everywhere address (``0.0.0.0``, ``[::]``) is no address to browse to, and the Host check
    (loopback names plus ``allowed_hosts``; ``*`` any) refuses it: the loopback URL is shown instead, which
    works on this machine, with the names other machines may use."""
    shown = url.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:")
    if shown == url:
        return url, ""
    hosts = list(allowed_hosts or [])
    if "*" in hosts:
        return shown, "on every address; any host name is accepted"
    if hosts:
        return shown, f"on every address; other machines may reach it as {', '.join(hosts)}"
    return shown, ("on every address, but only this machine's loopback names are accepted: pass --allowed-host "
                   "NAME for each name other machines use to reach it")


def listening_url(server) -> str:
    """``http://host:port`` of a gunicorn arbiter's first listener."""
    host, port = server.LISTENERS[0].sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Have the kernel send ``sig`` to this process when its parent exits (Linux; elsewhere a no-op).

    ``parent`` is the PID the caller expects as its parent: if it is already gone (it died between the
    fork and this call, so no signal will come), the process exits now."""
    if sys.platform != "linux":
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig))
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)


class ServedProcess:
    """A ``python -m webapp.cli ...`` child in a session of its own (so ``kill`` takes its workers too).

    Subclasses set ``url_pattern`` (a regex whose group 1 is the URL, matched in the output) and
    ``ready_path`` (polled until it answers 200)."""

    url_pattern: re.Pattern
    ready_path = "/"
    what = "process"

    def __init__(self, ready_timeout: float = 30.0, split_output: bool = False):
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self._log: list[str] = []  # both outputs, in the order read
        # With ``split_output``, standard error is read apart, and each output is also kept on its own:
        # for a test of which line goes where.
        self.split_output = split_output
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._ready = threading.Event()

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict:
        return dict(os.environ, PYTHONUNBUFFERED="1")

    @property
    def log(self) -> str:
        return "".join(self._log[-400:])

    @property
    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the master)."""
        if self.proc is None:
            return []
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def wait_for_output(self, pattern: str, timeout: float = 60.0) -> re.Match:
        """The first match of ``pattern`` in the process's output, waiting for it up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, "".join(self._log))
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.what} never printed {pattern!r} within {timeout:g} s; log:\n{self.log}")
            time.sleep(0.05)

    def child_pid(self, word: str) -> int | None:
        """The PID of a direct child whose command line has ``word`` as an argument (``sluice up``'s
        ``engine`` or ``dashboard``), or None while there is none."""
        for pid in self.worker_pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if word.encode() in f.read().split(b"\0"):
                        return pid
            except OSError:
                continue
        return None

    def start(self):
        cmd = [sys.executable, "-m", "webapp.cli", *self.command()]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE if self.split_output else subprocess.STDOUT, text=True,
                                     env=self.environment(), start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()
        if self.split_output:
            threading.Thread(target=self._pump_stderr, daemon=True).start()
        if not self._ready.wait(self.ready_timeout):
            self.stop()
            raise RuntimeError(f"{self.what} did not start within {self.ready_timeout}s; log:\n{self.log}")
        if self.url is None:
            self.stop()
            raise RuntimeError(f"{self.what} exited before it was ready; log:\n{self.log}")
        # gunicorn's worker imports the app after the master listens: wait until it answers.
        import httpx
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.what} never answered {self.ready_path}; log:\n{self.log}")
            time.sleep(0.05)

    def _pump(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self._log.append(line)
            self.stdout_lines.append(line)
            m = self.url_pattern.search(line + " ")
            if m and self.url is None:
                self.url = m.group(1)
                self._ready.set()
        self.proc.stdout.close()  # at the end of the output; the pipe would otherwise wait for the collector
        self._ready.set()

    def _pump_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for line in self.proc.stderr:
            self._log.append(line)
            self.stderr_lines.append(line)
        self.proc.stderr.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """``sig`` to the master, then SIGKILL to the whole group if it has not exited in ``timeout``."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._killpg()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group (master and workers) at once, as a crash would; returns when
        every member is gone (a worker may hold a lock the next process needs)."""
        if self.proc is None:
            return
        self._killpg()
        self.proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def kill_master(self) -> None:
        """SIGKILL the master alone, as ``kill -9 <pid>`` would; its workers die with it (parent-death
        signal), but this returns without waiting for them."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()

    def kill_worker(self) -> int:
        """SIGKILL one worker, as a crash inside it would; the master starts another. Returns its PID."""
        pid = self.worker_pids[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def _killpg(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["LOOPBACK_NAMES", "hostname", "listening_url", "browse_url", "die_with_parent", "ServedProcess"]
