"""docs/client.md's Python examples run, top to bottom, against the test server."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from webapp.client import Client, NotFoundError, SluiceError

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_examples_run_as_written(server_url, monkeypatch, capsys):
    blocks = python_blocks()
    assert len(blocks) >= 10
    monkeypatch.setenv("SLUICE_URL", server_url)
    scope: dict = {"__name__": "docs_client_md"}
    failure: list[BaseException] = []
    current = [0]

    def run():
        try:
            for i, code in enumerate(blocks):
                current[0] = i + 1
                exec(compile(code, f"{DOC.name} example {i + 1}", "exec"), scope)
        except BaseException as e:
            failure.append(e)

    # On a thread, so that an example that never returns fails the test instead of hanging it.
    th = threading.Thread(target=run, daemon=True)
    th.start()
    try:
        th.join(30)
        assert not th.is_alive(), f"example {current[0]} of docs/client.md did not finish within 30 s:\n" \
            + blocks[current[0] - 1]
        if failure:
            raise failure[0]
    finally:
        with Client(server_url) as c:
            for name in ("docs_example", "docs_broken"):
                try:
                    p = c.pipeline(name)
                    p.stop(force=True)
                    p.delete(clear_storage=True)
                except (NotFoundError, SluiceError):
                    pass
    out = capsys.readouterr().out
    assert "line 2, column" in out                          # the compilation error
    assert "PipelinePaused" in out
    assert "{'n': 10000, 'total': Decimal('199900.00')}" in out  # 10,000 orders of 19.99, every digit
    assert "Received chunk" in out
    assert "UnknownPipelineName" in out
