"""Shared fixtures (a course built once per test session in a temporary nbgrader course directory) and
the lines that end every run: which checks did not run for want of an optional part, and the command
that adds them."""
from __future__ import annotations

from pathlib import Path

import pytest

from coursekit import release
from coursekit.sources import ROOT, solution_notebooks
from helpers import not_run_summary


@pytest.fixture(scope="session")
def built_course(tmp_path_factory) -> Path:
    """An nbgrader course directory with every assignment generated from solutions/."""
    course_dir = tmp_path_factory.mktemp("course")
    release.release(solution_notebooks(), course_dir=course_dir, out_dir=course_dir / "student")
    return course_dir


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    """Written last: the outermost wrapper (tryfirst) finishes after pytest's short summary, so these
    lines come just above the final counts."""
    yield
    reasons = [report.longrepr[2] for report in terminalreporter.stats.get("skipped", [])
               if isinstance(report.longrepr, tuple)]
    lines = not_run_summary(reasons)
    if lines:
        terminalreporter.write_sep("=", "checks that did not run")
        for line in lines:
            terminalreporter.write_line(line)
