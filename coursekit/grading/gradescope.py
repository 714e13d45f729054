"""A Gradescope autograder for one assignment: `make gradescope` builds the zip, whose run_autograder
grades /autograder/submission with this same pipeline and writes /autograder/results/results.json.

The zip holds setup.sh and run_autograder at its root and, under course/, a copy of coursekit and
tinytorch_lite and the assignment's nbgrader source and release notebooks. It is for instructors
only (it contains the solutions), as every Gradescope autograder does.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..sources import ROOT
from . import runner, sandbox
from .submissions import Submission

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip bubblewrap >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q "nbgrader==0.9.6" "numpy>=1.24" "tqdm>=4.60" "ipykernel>=6" "jupytext>=1.16"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission; AUTOGRADER_ROOT and PYTHON let it run outside Gradescope.
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
export PYTHONPATH="$root/source/course${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-/autograder/venv/bin/python}" -m coursekit gradescope-run --root "$root"
"""


def build(course_dir: Path, assignment: str, output: Path | None = None, unsafe: bool = False) -> Path:
    """Write the autograder zip of an assignment (after `make release`)."""
    source = Path(course_dir) / "source" / assignment
    if not any(source.glob("*.ipynb")):
        raise SystemExit(f"error: no notebooks in {source}; run `make release` first")
    output = output or Path(course_dir) / "exports" / f"gradescope_{assignment}.zip"
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zipped.writestr(info, text)
        zipped.writestr("course/gradescope.json", json.dumps({"assignment": assignment, "unsafe": unsafe}))
        for package in ("coursekit", "tinytorch_lite"):
            for path in sorted((ROOT / package).rglob("*.py")):
                zipped.write(path, f"course/{path.relative_to(ROOT)}")
        for folder in ("source", "release"):
            for path in sorted((Path(course_dir) / folder / assignment).glob("*.ipynb")):
                zipped.write(path, f"course/autograder/{folder}/{assignment}/{path.name}")
    return output


def results_json(outcome: runner.Outcome) -> dict:
    """Gradescope's results format; tests that contain hidden checks are hidden from students."""
    tests = [{"name": key, "score": test["score"], "max_score": test["max_score"],
              "output": test["message"] or "passed", "visibility": "hidden" if test["hidden"] else "visible"}
             for key, test in outcome.tests.items()]
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
        files = {p.stem: p for p in sorted((root / "submission").rglob("*.ipynb"))}
        try:
            [outcome] = runner.grade(course_dir, [Submission("student", assignment, files)],
                                     unsafe=config["unsafe"], progress=False)
        except sandbox.SandboxUnavailable as error:
            results.write_text(json.dumps({"score": 0, "output": f"The autograder could not run safely: {error}"}))
            return
    results.write_text(json.dumps(results_json(outcome), indent=1))
