"""Running a real ``sluice dashboard`` (gunicorn) for tests, screenshots and measurements.

    with EngineProcess() as eng, DashboardProcess(eng.url) as dash:
        httpx.get(dash.url + "/healthz")

It listens on an ephemeral port (read from its output), keeps its log for failure messages, and is
stopped (SIGTERM, then SIGKILL) on exit. ``settings`` become ``SLUICE_*`` environment variables.
"""

from __future__ import annotations

import re

from webapp._serving import ServedProcess


class DashboardProcess(ServedProcess):
    url_pattern = re.compile(r"Sluice dashboard listening on (http://\S+?)/?\s")
    ready_path = "/healthz"
    what = "dashboard"

    def __init__(self, upstream: str, *args: str, settings: dict | None = None, ready_timeout: float = 30.0):
        super().__init__(ready_timeout)
        self.upstream = upstream
        self.args = list(args)
        self.settings = settings or {}

    def command(self) -> list[str]:
        return ["dashboard", "--port", "0", "--upstream", self.upstream, *self.args]

    def environment(self) -> dict:
        return super().environment() | {f"SLUICE_{k}": str(v) for k, v in self.settings.items()}


__all__ = ["DashboardProcess"]
