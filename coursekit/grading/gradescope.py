"""A Gradescope autograder for one assignment: `make gradescope` builds the zip, whose run_autograder
grades /autograder/submission with this same pipeline (the submission checks, the judge in the
sandbox, the tamper scan) and writes /autograder/results/results.json.

The zip holds setup.sh and run_autograder at its root and, under course/: coursekit; the
assignment's nbgrader source notebooks with every answer cell replaced by its released stub (the
hidden tests stay, they grade); the release notebooks and the release history (so submissions of an
earlier release are accepted as by `make grade`); and per notebook the package view the judge
mounts (judge.notebook_view), built here from solutions/. There is no solutions/ and no other copy
of tinytorch_lite: the kernel sees exactly what it sees under `make grade`, which for a later
notebook of an assignment includes what the earlier notebooks of that assignment export.

setup.sh installs what grading needs: the package's dependencies and its `course` extra without
the website's packages, read from pyproject.toml.
"""
from __future__ import annotations

import json
import shlex
import shutil
import tempfile
import zipfile
from pathlib import Path

import nbformat

from ..sources import ROOT
from . import judge, runner, sandbox
from .manifest import HISTORY_FILE, read_manifest
from .submissions import Submission

WEBSITE_ONLY = ("jupyter-book", "django-static-mathjax")  # the course extra's packages grading never imports
VENV = "/autograder/venv"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip bubblewrap >/dev/null
python3 -m venv {venv}
{install}
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission; AUTOGRADER_ROOT and PYTHON let it run outside Gradescope.
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
export PYTHONPATH="$root/source/course${{PYTHONPATH:+:$PYTHONPATH}}"
exec "${{PYTHON:-{venv}/bin/python}}" -m coursekit gradescope-run --root "$root"
"""


def grading_requirements() -> list[str]:
    import tomllib  # Python 3.11+; only building the zip needs it, not grading inside it

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    course = project["optional-dependencies"]["course"]
    return project["dependencies"] + [r for r in course if not r.startswith(WEBSITE_ONLY)]


def install_line(venv: str = VENV) -> str:
    """setup.sh's pip command; the test builds its fresh environment from exactly this line."""
    return f"{venv}/bin/pip install -q " + " ".join(shlex.quote(r) for r in grading_requirements())


def without_answers(source: Path, stubs: dict[str, str]) -> nbformat.NotebookNode:
    """The nbgrader source notebook with each answer cell's solution replaced by the released stub."""
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in stubs:
            cell.source = stubs[grade_id]
    return nb


def build(course_dir: Path, assignment: str, output: Path | None = None, unsafe: bool = False) -> Path:
    """Write the autograder zip of an assignment (after `make release`)."""
    course_dir = Path(course_dir)
    if not any((course_dir / "source" / assignment).glob("*.ipynb")):
        raise SystemExit(f"error: no notebooks in {course_dir / 'source' / assignment}; run `make release` first")
    manifest = read_manifest(course_dir, assignment)
    output = output or course_dir / "exports" / f"gradescope_{assignment}.zip"
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as zipped, \
            tempfile.TemporaryDirectory(prefix="coursekit-views-") as scratch:
        for name, text in (("setup.sh", SETUP_SH.format(venv=VENV, install=install_line())),
                           ("run_autograder", RUN_AUTOGRADER.format(venv=VENV))):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zipped.writestr(info, text)
        zipped.writestr("course/gradescope.json", json.dumps({"assignment": assignment, "unsafe": unsafe}))
        for path in sorted((ROOT / "coursekit").rglob("*.py")):
            zipped.write(path, f"course/{path.relative_to(ROOT)}")
        history = course_dir / HISTORY_FILE
        if history.exists():
            zipped.write(history, f"course/autograder/{HISTORY_FILE}")
        for notebook in manifest.notebooks:
            zipped.writestr(f"course/autograder/source/{assignment}/{notebook}.ipynb", nbformat.writes(
                without_answers(manifest.source_path(notebook), manifest.cells[notebook].stubs)))
            zipped.write(course_dir / "release" / assignment / f"{notebook}.ipynb",
                         f"course/autograder/release/{assignment}/{notebook}.ipynb")
            view = Path(scratch) / notebook
            info = judge.notebook_view(view, assignment, notebook)
            prefix = f"course/{judge.PREBUILT_VIEWS.name}/{assignment}/{notebook}"
            zipped.writestr(f"{prefix}/{judge.VIEW_FILE}", json.dumps(info))
            for path in sorted(view.rglob("*.py")):
                zipped.write(path, f"{prefix}/{path.relative_to(view)}")
    return output


def _test(name: str, score: float, max_score: float, output: str | None, visibility: str) -> dict:
    return {"name": name, "score": score, "max_score": max_score, "output": output or "passed",
            "visibility": visibility}


def results_json(outcome: runner.Outcome) -> dict:
    """Gradescope's results format. A test with hidden checks becomes two: its visible part, shown at
    once with 0 points (nbgrader gives a cell's points for all its checks together), and the whole
    test with its points, shown after the instructor publishes the grades."""
    tests = []
    for key, test in outcome.tests.items():
        if not test["hidden"] or "visible_message" not in test:  # no hidden checks, or the test never ran
            tests.append(_test(key, test["score"], test["max_score"], test["message"], "visible"))
            continue
        visible = test["visible_message"]
        tests.append(_test(f"{key} (visible checks)", 0, 0, (visible or "passed") + "; the points of this test "
                           "come with its hidden checks, shown when grades are published", "visible"))
        tests.append(_test(f"{key} (hidden checks)", test["score"], test["max_score"], test["message"],
                           "after_published"))
    return {"score": outcome.score, "tests": tests, "output": "\n".join(outcome.notes)}


def run_autograder(root: Path) -> None:
    course = root / "source" / "course"
    config = json.loads((course / "gradescope.json").read_text())
    assignment = config["assignment"]
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="coursekit-gradescope-") as work:
        course_dir = Path(work)
        for folder in ("source", "release"):
            shutil.copytree(course / "autograder" / folder, course_dir / folder)
        if (course / "autograder" / HISTORY_FILE).exists():
            shutil.copyfile(course / "autograder" / HISTORY_FILE, course_dir / HISTORY_FILE)
        files = {p.stem: p for p in sorted((root / "submission").rglob("*.ipynb"))
                 if ".ipynb_checkpoints" not in p.parts}
        try:
            [outcome] = runner.grade(course_dir, [Submission("student", assignment, files)],
                                     unsafe=config["unsafe"], progress=False)
        except sandbox.SandboxUnavailable as error:
            results.write_text(json.dumps({"score": 0, "output": f"The autograder could not run safely: {error}"}))
            return
    results.write_text(json.dumps(results_json(outcome), indent=1))
