"""The engine server's error answers come from one boundary (webapp/server/errors.py), which logs each by
its status: refusals at INFO, expected 501/503 answers at WARNING (no traceback)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from sluice_support import assert_error, wait_until

SERVER = Path(__file__).resolve().parents[2] / "webapp" / "server"


def test_no_server_module_builds_an_error_body_of_its_own():
    for path in SERVER.glob("*.py"):
        if path.name == "errors.py":
            continue
        text = path.read_text()
        assert not re.search(r"""["']error_code["']\s*:""", text), f"{path.name} builds an error body"
        assert "errorhandler" not in text, f"{path.name} registers its own error handler"


def test_answers_are_logged_by_status(http, engine):
    ghost = f"ghost{uuid.uuid4().hex[:8]}"
    assert_error(http.get(f"/pipelines/{ghost}"), 404, "UnknownPipelineName")
    wait_until(lambda: f"INFO sluice.server: GET /v0/pipelines/{ghost} -> 404 UnknownPipelineName" in engine.log,
               what="the refusal in the engine's log")
    assert_error(http.get(f"/pipelines/{ghost}/stats"), 404, "UnknownPipelineName")
    assert_error(http.post(f"/no/such/{ghost}"), 404, "NotFound")
    wait_until(lambda: f"INFO sluice.server: POST /v0/no/such/{ghost} -> 404 NotFound" in engine.log,
               what="the unknown route in the engine's log")
    assert "Traceback" not in engine.log.split(f"/no/such/{ghost}")[-1]
