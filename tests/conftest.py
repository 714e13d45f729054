"""Shared fixtures: a course built once per test session in a temporary nbgrader course directory."""
from __future__ import annotations

from pathlib import Path

import pytest

from coursekit import release
from coursekit.sources import ROOT, solution_notebooks


@pytest.fixture(scope="session")
def built_course(tmp_path_factory) -> Path:
    """An nbgrader course directory with every assignment generated from solutions/."""
    course_dir = tmp_path_factory.mktemp("course")
    release.release(solution_notebooks(), course_dir=course_dir, out_dir=course_dir / "student")
    return course_dir


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
