"""The suite's own rule: under CI=true a skipped test, or a skipped module, fails the run."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SKIPPING = """
import pytest

def test_skips():
    pytest.skip("no Chromium here")

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False

def test_runs():
    assert True
"""

SKIPPED_MODULE = """
import pytest
pytest.importorskip("a_module_that_is_not_installed")

def test_never_collected():
    pass
"""


@pytest.fixture
def suite(pytester):
    pytester.makeconftest("from ci_skips import pytest_make_collect_report, pytest_runtest_makereport\n")
    pytester.makepyfile(test_skipping=SKIPPING, test_skipped_module=SKIPPED_MODULE)
    return pytester


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_skip_fails(suite, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    result = suite.runpytest("-p", "no:cacheprovider", "test_skipping.py")
    result.assert_outcomes(passed=1, failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true*no Chromium here*"])


def test_under_ci_a_skipped_module_stops_the_run(suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*skipped under CI=true*a_module_that_is_not_installed*"])


def test_elsewhere_a_skip_is_a_skip(suite, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    assert result.ret == 0
