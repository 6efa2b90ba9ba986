"""The benchmark suite still runs: ``benchmarks/run.py --smoke`` in a subprocess, every part with numbers.

No timing is asserted: speed is measured in ``benchmarks/``, never in tests. A part may say "not available"
only for a reason outside Sluice (no Chromium).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = {"ingress", "upload", "latency", "fanout", "isolation", "browser", "workload"}
MAY_BE_MISSING = {"browser"}  # no Chromium on this machine


@pytest.mark.timeout(300)
def test_run_smoke(tmp_path):
    out = tmp_path / "results.json"
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--json", str(out)],
                       capture_output=True, text=True, timeout=280, cwd=ROOT)
    assert p.returncode == 0, f"stdout:\n{p.stdout[-6000:]}\nstderr:\n{p.stderr[-6000:]}"
    report = json.loads(out.read_text())
    assert set(report["parts"]) == PARTS
    for name, part in report["parts"].items():
        if part["status"] == "not available":
            assert name in MAY_BE_MISSING, f"{name}: {part.get('reason')}"
            continue
        assert part["status"] == "ok", f"{name}: {part.get('error')}\n{part.get('traceback')}"
        values = [row["value"] for row in report["summary"] if row["part"] == name]
        assert values, f"{name} reported no figures"
        assert all(isinstance(v, (int, float)) for v in values), f"{name}: {values}"
