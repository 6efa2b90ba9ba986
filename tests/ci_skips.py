"""Under ``CI=true`` a skip is a failure: CI must never pass by quietly not running a test.

Browser tests skip on a developer's machine without Chromium, and the compatibility tests without the
``feldera`` package; the README's test command installs both, so in CI a skip can only mean a broken
install. ``tests/conftest.py`` registers these hooks for the whole suite.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _reason(longrepr) -> str:
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if in_ci() and rep.skipped and not hasattr(rep, "wasxfail"):
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI=true, where every test must run: {_reason(rep.longrepr)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    rep = outcome.get_result()
    if in_ci() and rep.outcome == "skipped":
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI=true, where every test must run: {_reason(rep.longrepr)}"


__all__ = ["in_ci", "pytest_runtest_makereport", "pytest_make_collect_report"]
