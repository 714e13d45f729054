"""`python -m coursekit check` on a copy of the course: clean when in sync, loud when not."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.sources import ROOT

COPIED = ["coursekit", "tinytorch_lite", "pyproject.toml", ".gitignore", "solutions/02_tensor", "solutions/11_tokenization"]


def run(args, cwd, check=True):
    env = dict(os.environ, PYTHONPATH=str(cwd))  # import the copy's coursekit, not this checkout's
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory) -> Path:
    """A small course (the tensor and tokenization modules) with its generated files committed."""
    copy = tmp_path_factory.mktemp("repo")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"))
        else:
            shutil.copy(source, copy / name)
    run([sys.executable, "-m", "coursekit", "export"], copy)
    run([sys.executable, "-m", "coursekit", "release"], copy)
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        run(command, copy)
    return copy


def test_check_passes_when_in_sync_and_is_idempotent(course_copy):
    result = run([sys.executable, "-m", "coursekit", "check"], course_copy)
    assert "in sync" in result.stdout
    assert run(["git", "status", "--porcelain"], course_copy).stdout == ""


def test_check_fails_on_a_hand_edited_generated_file(course_copy):
    module = course_copy / "tinytorch_lite" / "core" / "tokenization.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# hand edit\n")
        run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "edit"], course_copy)
        result = run([sys.executable, "-m", "coursekit", "check"], course_copy, check=False)
        assert result.returncode != 0
        assert "not in sync" in result.stderr and "tinytorch_lite/core/tokenization.py" in result.stderr
    finally:
        run(["git", "reset", "-q", "--hard", "HEAD~1"], course_copy, check=False)
        module.write_text(original)


def test_check_fails_when_a_source_changed_without_regenerating(course_copy):
    source = course_copy / "solutions" / "11_tokenization" / "tokenization.py"
    original = source.read_text()
    source.write_text(original.replace('"""', '"""Edited. ', 1))
    try:
        result = run([sys.executable, "-m", "coursekit", "check"], course_copy, check=False)
        assert result.returncode != 0 and "not in sync" in result.stderr
    finally:
        source.write_text(original)
        run(["git", "checkout", "-q", "--", "."], course_copy)


def test_invalid_source_gives_a_clear_error_and_writes_nothing(course_copy):
    source = course_copy / "solutions" / "11_tokenization" / "tokenization.py"
    original = source.read_text()
    source.write_text(original.replace("### END SOLUTION", "", 1))
    try:
        result = run([sys.executable, "-m", "coursekit", "release"], course_copy, check=False)
        assert result.returncode != 0
        assert result.stderr.startswith("error: the course sources have problems")
        assert "solutions/11_tokenization/tokenization.py, cell" in result.stderr
        assert "Traceback" not in result.stderr
        assert run(["git", "status", "--porcelain", "notebooks"], course_copy).stdout == ""
    finally:
        source.write_text(original)
