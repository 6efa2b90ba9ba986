"""A setting of a Sluice process, as a registry entry: name, default, help, how its text is read, its limits,
and the command-line flag that sets it.

A process keeps one list of these (``webapp.engine.settings`` for ``sluice engine``) and takes its flags
(``add_flags``), its ``SLUICE_*`` environment variables and its documentation from that list; a value comes
from the flag, else the environment variable, else the default (``resolve``). Stdlib only, so every process
can share it without importing another's code.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable, Mapping


class SettingError(ValueError):
    """Raised when a flag or an environment variable holds a value its setting refuses; the message names
    where the value came from (``--threads`` or ``SLUICE_THREADS``)."""


@dataclass(frozen=True)
class Setting:
    name: str  # UPPER_SNAKE; its environment variable is SLUICE_<name> unless ``env`` says otherwise
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    env: str | None = ""  # "": SLUICE_<name>; None: no environment variable (the help says why)
    minimum: float | None = None  # inclusive limits of a number
    maximum: float | None = None
    flag: str | None = None  # e.g. "--query-timeout"; its argparse dest is ``name`` in lower case
    metavar: str | None = None  # names the unit in the synopsis: SECS, MIB, N
    repeat: bool = False  # a list, one flag per item
    switch: bool = False  # a flag without a value (store_true)
    field: str | None = None  # the attribute it sets on the process's own settings object, if any
    doc: str = ""  # the meaning in the documentation's table (Markdown), when longer than ``help``

    @property
    def dest(self) -> str:
        return self.name.lower()

    @property
    def env_var(self) -> str | None:
        return None if self.env is None else (self.env or f"SLUICE_{self.name}")

    def convert(self, raw: str) -> Any:
        """``raw`` as this setting's value; raises SettingError saying what is wrong with it."""
        try:
            value = self.parse(raw.strip())
        except ValueError:
            what = {int: "a whole number", float: "a number"}.get(self.parse, "a valid value")
            raise SettingError(f"{raw!r} is not {what}") from None
        if self.minimum is not None and value < self.minimum:
            raise SettingError(f"{raw!r} is below the smallest allowed value, {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise SettingError(f"{raw!r} is above the largest allowed value, {self.maximum:g}")
        return value

    def from_environ(self, environ: Mapping[str, str]) -> Any:
        """The value its environment variable sets (an empty one counts as unset), else the default.
        Raises SettingError naming the variable when it holds no valid value."""
        raw = environ.get(self.env_var) if self.env_var else None
        if raw is None or not raw.strip():
            return self.default
        try:
            value = self.convert(raw)
        except SettingError as e:
            raise SettingError(f"environment variable {self.env_var}: {e}") from None
        return [value] if self.repeat else value


def add_flags(parser: argparse.ArgumentParser, settings: list[Setting], rename: Mapping[str, str] | None = None) -> None:
    """One flag per setting with a ``flag`` (``rename`` maps a flag to another spelling, same dest). Flags
    default to None (a repeated one to []) so ``resolve`` can tell "not given" from "given the default"."""
    for s in settings:
        if s.flag is None:
            continue
        flag = (rename or {}).get(s.flag, s.flag)
        if s.switch:
            parser.add_argument(flag, dest=s.dest, action="store_true", help=s.help)
            continue
        parser.add_argument(flag, dest=s.dest, metavar=s.metavar, action="append" if s.repeat else "store",
                            default=[] if s.repeat else None, type=_flag_type(s), help=_flag_help(s))


def resolve(args: argparse.Namespace, settings: list[Setting], environ: Mapping[str, str]) -> None:
    """Fill every flag left out with its environment variable's value, else its default. Raises
    SettingError naming the variable that holds no valid value."""
    for s in settings:
        if s.flag is None or s.switch:
            continue
        if getattr(args, s.dest) in (None, []):
            setattr(args, s.dest, s.from_environ(environ))


def _flag_type(s: Setting):
    def convert(raw: str):
        try:
            return s.convert(raw)
        except SettingError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = s.parse.__name__  # argparse names the type in some messages
    return convert


def _flag_help(s: Setting) -> str:
    default = "none" if s.default in (None, []) else s.default
    env = f", or ${s.env_var}" if s.env_var else ""
    more = "; repeatable" if s.repeat else ""
    return f"{s.help} (default {default}{env}){more}".replace("%", "%%")


__all__ = ["Setting", "SettingError", "add_flags", "resolve"]
