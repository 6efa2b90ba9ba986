"""docs/cli.md documents every command (its table), every flag of ``sluice engine`` (its table) and of
``sluice up`` (its synopsis), and every environment variable the command line reads; ``--help`` describes
every argument and names the variable behind each default."""

from __future__ import annotations

import argparse
import inspect
import os
import re
from pathlib import Path
from unittest import mock

from webapp import cli
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


def _parsers(parser: argparse.ArgumentParser, name: str = "sluice"):
    """Every (sub)command's parser, with its full name."""
    yield name, parser
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub, p in a.choices.items():
                yield from _parsers(p, f"{name} {sub}")


def test_every_command_is_in_the_command_table():
    table = DOC.split("\n## ", 1)[0]
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = sorted(c for c in commands if f"[`sluice {c}" not in table)
    assert not missing, f"commands missing from the table at the top of docs/cli.md: {missing}"


def test_every_argument_has_help_naming_the_variable_behind_its_default():
    """Defaults read from the environment while the parser is built: each variable gets a value of its own,
    and the argument whose default it became must name it in its help; the variables are in docs/cli.md."""
    names = sorted(set(re.findall(r'(?:os\.environ\.get|_env_int)\("(SLUICE_\w+)"', inspect.getsource(cli))))
    values = {str(7100 + i): n for i, n in enumerate(names)}
    with mock.patch.dict(os.environ, {n: v for v, n in values.items()}):
        parser = build_parser()
    problems = []
    for command, p in _parsers(parser):
        for a in p._actions:
            if isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            label = a.option_strings[0] if a.option_strings else a.dest
            if not a.help:
                problems.append(f"{command} {label}: no help")
            elif a.metavar is None and a.option_strings and a.nargs != 0 and not a.choices and "_" in a.dest:
                problems.append(f"{command} {label}: no metavar, so the help shows {a.dest.upper()}")
            if str(a.default) in values and f"${values[str(a.default)]}" not in a.help:
                problems.append(f"{command} {label}: its default comes from ${values[str(a.default)]}, "
                                "which its help does not name")
    table = DOC.split("## Environment variables", 1)[1]
    problems += [f"{n} is not in docs/cli.md's environment variables" for n in names if f"`{n}`" not in table]
    assert not problems, "\n".join(problems)


def test_a_variable_that_is_no_number_stops_only_the_command_that_reads_it(capsys):
    """$SLUICE_PORT=abc made every command, ``sluice user list`` too, end in a traceback while the parser
    was built; now only a command whose option it is refuses, naming the variable."""
    with mock.patch.dict(os.environ, {"SLUICE_PORT": "abc", "SLUICE_UP_MAX_RESTARTS": "many"}):
        parser = build_parser()
        assert parser.parse_args(["user", "list"]).cmd == "user"
        for argv, var in ((["dashboard"], "SLUICE_PORT"), (["up"], "SLUICE_PORT"), (["up", "--port", "1"], "SLUICE_UP_MAX_RESTARTS")):
            try:
                parser.parse_args(argv)
            except SystemExit as e:
                assert e.code == 2
            else:
                raise AssertionError(f"{argv} took ${var}'s bad value")
            assert f"${var}" in capsys.readouterr().err
        assert parser.parse_args(["dashboard", "--port", "5001"]).port == 5001
