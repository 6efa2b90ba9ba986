"""docs/cli.md documents every flag of ``sluice engine`` (its table) and of ``sluice up`` (its synopsis)."""

from __future__ import annotations

import argparse
from pathlib import Path

from webapp.cli import build_parser

DOC = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()


def _flags(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {o for a in sub.choices[command]._actions for o in a.option_strings if o.startswith("--") and o != "--help"}


def _section(title: str) -> str:
    return DOC.split(f"## `{title}`", 1)[1].split("\n## ", 1)[0]


def test_every_engine_flag_is_in_the_engine_table():
    table = _section("sluice engine")
    missing = sorted(f for f in _flags("engine") if f"| `{f}" not in table)
    assert not missing, f"flags of sluice engine missing from docs/cli.md: {missing}"


def test_every_up_flag_is_in_the_up_synopsis():
    synopsis = _section("sluice up").split("```")[1]
    missing = sorted(f for f in _flags("up") if f not in synopsis)
    assert not missing, f"flags of sluice up missing from its synopsis in docs/cli.md: {missing}"
