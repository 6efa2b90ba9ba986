"""The registry of ``sluice engine``'s settings: its table in docs/cli.md, flag over variable over default, a
variable that holds no valid value refused by name, and a variable that changes a real engine's behaviour."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from webapp.cli import _resolve, build_parser
from webapp.engine.settings import SETTINGS, markdown_table
from webapp.engine.testing import EngineProcess, wait_until

DOC = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
ENGINE_SECTION = DOC.split("## `sluice engine`", 1)[1].split("\n## ", 1)[0]


def test_every_setting_is_in_the_docs_with_its_variable_and_default():
    rows = {line.split(" | ")[0].split()[1].strip("`"): line for line in ENGINE_SECTION.splitlines()
            if line.startswith("| `--")}
    wrong = []
    for s in SETTINGS:
        row = rows.get(s.flag, "")
        want = [s.env_var or "none", "off" if s.default is False else "none" if s.default in (None, []) else s.default]
        if not all(f"`{w}`" in row or f"| {w} |" in row for w in want):
            wrong.append(f"{s.flag}: wants {want}, docs say {row or 'nothing'}")
    assert not wrong, wrong
    assert markdown_table() in ENGINE_SECTION, "regenerate the engine table in docs/cli.md: python -m webapp.engine.settings"


def test_a_flag_beats_its_variable_which_beats_the_default(monkeypatch):
    monkeypatch.setenv("SLUICE_THREADS", "7")
    monkeypatch.delenv("SLUICE_QUERY_TIMEOUT", raising=False)
    given = build_parser().parse_args(["engine", "--threads", "5"])
    left_out = build_parser().parse_args(["up"])
    assert _resolve(given, "engine") is None and _resolve(left_out, "up") is None
    assert (given.threads, left_out.threads, left_out.query_timeout) == (5, 7, 60.0)


def test_a_variable_without_a_valid_value_stops_the_engine_naming_it(tmp_path):
    r = subprocess.run([sys.executable, "-m", "webapp.cli", "engine", "--port", "0", "--data-dir", str(tmp_path)],
                       env={"PATH": "/usr/bin:/bin", "SLUICE_QUERY_TIMEOUT": "soon"}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "SLUICE_QUERY_TIMEOUT" in r.stderr and "'soon' is not a number" in r.stderr
    assert not any(tmp_path.iterdir())  # refused before the engine touched its data directory


def test_a_variable_sets_the_limit_of_a_real_engine():
    with EngineProcess(None, env={"SLUICE_MAX_CONNECTIONS_PER_ADDRESS": "2"}) as eng:
        u = urlsplit(eng.url)
        held: list[socket.socket] = []

        def refusal():
            """Open one more connection and keep it; its answer if the server refused it and closed it.
            (How many are accepted first depends on connections the server has not yet seen closed.)"""
            s = socket.create_connection((u.hostname, u.port), timeout=5)
            held.append(s)
            s.settimeout(1)
            data = b""
            try:
                while chunk := s.recv(4096):
                    data += chunk
            except TimeoutError:
                return None  # accepted and waiting for a request: it counts toward the limit
            return data
        try:
            data = wait_until(refusal, 30, what="a connection over the limit to be refused")
        finally:
            for s in held:
                s.close()
    assert data.startswith(b"HTTP/1.1 429"), data
    body = orjson.loads(data.partition(b"\r\n\r\n")[2])
    assert body["error_code"] == "TooManyConnections" and body["details"]["limit"] == 2
