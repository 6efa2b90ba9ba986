"""The dashboard's boundaries: no engine import, a small public surface, no inline script, text-only DOM
writes, and fetch in one module only."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import webapp.dashboard as dashboard

ROOT = Path(__file__).resolve().parents[2]
MODULES = [m.name for m in pkgutil.iter_modules(dashboard.__path__)]


def test_public_surface():
    assert dashboard.__all__ == ["create_app"]
    for name in MODULES:
        mod = importlib.import_module(f"webapp.dashboard.{name}")
        assert isinstance(getattr(mod, "__all__", None), list), f"{name} has no __all__"
        for public in mod.__all__:
            assert hasattr(mod, public), f"{name}.__all__ names {public}, which does not exist"


def test_dashboard_never_imports_the_engine():
    code = ("import sys, importlib; "
            f"[importlib.import_module('webapp.dashboard.' + m) for m in {MODULES!r}]; "
            "from webapp.dashboard import create_app; create_app({'DEMO_PIPELINE': ''}); "
            "print(sorted(m for m in sys.modules if m.startswith('webapp.engine') or m.startswith('webapp.server')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]", out


def test_modules_stay_small():
    for path in (ROOT / "webapp" / "dashboard").glob("*.py"):
        assert len(path.read_text().splitlines()) < 400, path
    for path in (ROOT / "webapp" / "dashboard" / "static" / "js").glob("*.js"):
        assert len(path.read_text().splitlines()) < 400, path


def test_templates_have_no_inline_script_or_handlers():
    for path in (ROOT / "webapp" / "dashboard" / "templates").glob("*.html"):
        text = path.read_text()
        for m in re.finditer(r"<script\b([^>]*)>", text):
            attrs = m.group(1)
            assert "src=" in attrs or 'type="application/json"' in attrs, f"inline script in {path.name}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"inline event handler in {path.name}"
        assert "style=" not in text, f"inline style in {path.name}"


def test_scripts_write_text_and_only_api_js_fetches():
    for path in (ROOT / "webapp" / "dashboard" / "static" / "js").glob("*.js"):
        text = path.read_text()
        assert "innerHTML" not in text and "outerHTML" not in text and "insertAdjacentHTML" not in text, path
        assert "eval(" not in text and "new Function" not in text, path
        if path.name != "api.js":
            assert not re.search(r"\bfetch\(", text), f"{path.name} calls fetch; use api.js"


def test_settings_table_in_the_docs_matches_the_registry():
    from webapp.dashboard.settings import markdown_table
    assert markdown_table() in (ROOT / "docs" / "dashboard.md").read_text(), \
        "regenerate the table in docs/dashboard.md: python -m webapp.dashboard.settings"
