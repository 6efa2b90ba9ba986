"""Every module of the package imports on its own, in a fresh interpreter: a stale import in a module
that only a worker process loads (the engine's blueprints, say) fails here instead of at a server's start."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import webapp


def test_every_module_imports():
    names = [m.name for m in pkgutil.walk_packages(webapp.__path__, "webapp.")]
    assert len(names) > 50
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    r = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]


def test_server_modules_share_helpers_by_public_names():
    """The server's blueprints share request helpers through ``server/helpers.py``, never by reaching into
    another module's private names (which is how they grew an import of each other's internals)."""
    import ast
    from pathlib import Path
    server = Path(webapp.__file__).parent / "server"
    bad = [f"{f.name}:{node.lineno} imports {a.name} from .{node.module or ''}"
           for f in sorted(server.glob("*.py"))
           for node in ast.walk(ast.parse(f.read_text()))
           if isinstance(node, ast.ImportFrom) and node.level
           for a in node.names if a.name.startswith("_")]
    assert not bad, bad
