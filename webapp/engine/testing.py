"""Running a real ``sluice engine`` process for tests and benchmarks.

    with EngineProcess(tmp_path) as eng:
        httpx.get(eng.url + "/v0/config")

The process listens on an ephemeral port (``--port 0``; the URL is read from its output), its log
is kept for failure messages, and it is stopped (SIGTERM, then SIGKILL) on exit. ``kill()`` is a
crash: SIGKILL to master and worker at once.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

from webapp._serving import ServedProcess


class EngineProcess(ServedProcess):
    url_pattern = re.compile(r"Sluice engine listening on (http://\S+)")
    ready_path = "/v0/config"
    what = "engine"

    def __init__(self, data_dir: str | os.PathLike | None = None, *args: str, command: str = "engine",
                 env: dict | None = None, ready_timeout: float = 30.0):
        super().__init__(ready_timeout)
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sluice-test-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.args = list(args)
        self.command_name = command
        self.env = env

    def command(self) -> list[str]:
        port_flag = "--engine-port" if self.command_name == "up" else "--port"
        return [self.command_name, port_flag, "0", "--data-dir", str(self.data_dir), *self.args]

    def environment(self) -> dict:
        # A key or a fault plan in the test runner's environment must not leak into every engine.
        inherited = {k: v for k, v in os.environ.items() if k not in ("SLUICE_API_KEY", "SLUICE_FAULTS")}
        return dict(inherited, PYTHONUNBUFFERED="1", **(self.env or {}))

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


def push_and_wait(http, pipeline: str, table: str, records: list[dict]) -> None:
    """POST ``records`` (insert/delete events) to a table's ingress through ``http`` (an httpx client
    on ``.../v0``) and wait until the pipeline has processed them."""
    r = http.post(f"/pipelines/{pipeline}/ingress/{table}", params={"format": "json", "update_format": "insert_delete"},
                  content="\n".join(json.dumps(x) for x in records))
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    deadline = time.monotonic() + 60
    while http.get(f"/pipelines/{pipeline}/completion_status", params={"token": token}).json()["status"] != "complete":
        assert time.monotonic() < deadline, f"pipeline {pipeline} did not process the input within 60 s"
        time.sleep(0.01)


__all__ = ["EngineProcess", "push_and_wait"]
