"""A module imported on first attribute access, so ``import webapp.client`` does not load pandas or numpy."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands in for ``import <name> as <alias>`` in ``namespace`` (a module's ``globals()``).

    The first attribute access imports the module and puts it in ``namespace`` under ``alias``, so
    later lookups in that module get the real module with no indirection."""

    def __init__(self, name: str, namespace: dict, alias: str):
        self._name = name
        self._namespace = namespace
        self._alias = alias

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        mod = importlib.import_module(self._name)
        self._namespace[self._alias] = mod
        return getattr(mod, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
