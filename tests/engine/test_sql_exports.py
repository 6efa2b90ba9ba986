"""The SQL package's surface: the names callers used when it was one module, and an ``__all__`` in every
module naming only what exists."""

from __future__ import annotations

import importlib
import pkgutil

import webapp.engine.sql as sql


def test_public_surface():
    assert sql.__all__ == ["SqlError", "Program", "compile_program", "canonical", "quote"]
    for name in [m.name for m in pkgutil.iter_modules(sql.__path__)]:
        mod = importlib.import_module(f"webapp.engine.sql.{name}")
        assert isinstance(getattr(mod, "__all__", None), list), f"{name} has no __all__"
        for public in mod.__all__:
            assert hasattr(mod, public), f"{name}.__all__ names {public}, which does not exist"
