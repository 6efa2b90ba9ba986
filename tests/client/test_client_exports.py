"""The client's public surface, and its boundary: it speaks HTTP and imports nothing else from Sluice."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import webapp.client as client_pkg
from webapp.client import errors

CLIENT_DIR = Path(client_pkg.__file__).parent


def test_all_lists_exactly_the_public_names():
    public = {n for n in vars(client_pkg) if not n.startswith("_") and not inspect.ismodule(getattr(client_pkg, n))}
    assert set(client_pkg.__all__) == public
    for name in client_pkg.__all__:
        assert getattr(client_pkg, name).__module__.startswith("webapp.client")


def test_every_error_is_in_one_tree_drawn_in_the_docstring():
    classes = [c for c in vars(errors).values() if inspect.isclass(c) and issubclass(c, Exception)
               and c.__module__ == errors.__name__]
    assert all(issubclass(c, errors.SluiceError) for c in classes)
    for c in classes:
        assert c.__name__ in errors.__doc__, f"{c.__name__} missing from the tree in errors.py's docstring"
        assert c.__doc__ and "aise" in c.__doc__, f"{c.__name__} needs a one-line 'raised when'"
        assert c.__name__ in client_pkg.__all__


def test_the_client_imports_no_engine_server_dashboard_or_official_client():
    banned = ("webapp.engine", "webapp.server", "webapp.dashboard", "webapp.cli", "feldera", "flask", "duckdb")
    for path in CLIENT_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            for n in names:
                assert not n.startswith(banned), f"{path.name} imports {n}"
                assert not (n.startswith("..") and len(n) > 2), f"{path.name} reaches outside the client: {n}"
