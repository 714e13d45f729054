"""Grade one staged submission in its own process: `python -m coursekit.grading.worker <work_dir>`.

The work directory holds a private nbgrader course (a copy of the assignment's gradebook template and
the notebooks the parent rebuilt from the instructor's source with the student's answers, see
submissions.rebuild) and request.json; nbgrader autogrades there, with its Execute step replaced by
the judge in the sandbox (judge.py), and the worker writes result.json: per test its points,
pass/fail and error message (for a test with hidden checks, its visible part's too), the grader's
notes (kernel.NOTES, never text the kernel printed) and the review notes. The real gradebook is never opened here; the parent merges result.json into it.
"""
from __future__ import annotations

import json
import re
import sys
import traceback
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute

from . import judge, kernel, sandbox, tamper_scan
from .. import gradebook
from ..sources import is_grade, nbgrader_metadata

# Terminal escapes (CSI, OSC, two-byte), other control characters but tab and newline, bidi overrides
TERMINAL_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
                              r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
MESSAGE_CHARS = 600
REVIEW_NOTE = "review: "  # starts each note of the tamper scan and the judge; grades.csv marks those rows


def plain_text(text: str) -> str:
    """Text from a submission made safe to print on a terminal: no escape codes, no control characters."""
    return TERMINAL_CONTROL.sub("", text)


def error_message(cell) -> str | None:
    """What a failing cell raised, as `Name: message`, without ANSI colours; None if it passed."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return None
    error = errors[-1]
    name, value = plain_text(str(error.get("ename", "Error"))), plain_text(str(error.get("evalue", ""))).strip()
    if name == "CellTimeoutError":
        return "the cell did not finish before the per-cell time limit"
    if name == "DeadKernelError":
        return "the Python kernel died while running this cell (os._exit, a crash, or the memory limit)"
    text = f"{name}: {value}" if value else name
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + " [...]"


def stderr_message(cell) -> str | None:
    """nbgrader fails a test cell that wrote to stderr (a warning, say), even without an error."""
    text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stderr").strip()
    if not text:
        return None
    return f"the test wrote to stderr, which nbgrader counts as a failure: {text.splitlines()[0][:MESSAGE_CHARS]}"


def notebook_outcomes(path: Path) -> tuple[dict[str, str | None], list[str]]:
    """For an autograded notebook: grade_id -> error message (None = passed) of its graded cells, and
    notes on errors in other cells."""
    outcomes, notes = {}, []
    for number, cell in enumerate(nbformat.read(path, as_version=4).cells, start=1):
        if cell.cell_type != "code":
            continue
        meta = nbgrader_metadata(cell)
        where = f"{path.stem}, cell {number}" + (f" (`{meta['grade_id']}`)" if meta.get("grade_id") else "")
        if is_grade(cell):
            outcomes[meta["grade_id"]] = error_message(cell) or stderr_message(cell)
        elif error_message(cell):
            notes.append(f"{where}: {error_message(cell)}")
    return outcomes, notes


def run(work_dir: Path) -> dict:
    request = json.loads((work_dir / "request.json").read_text())
    course, assignment, student = work_dir / "course", request["assignment"], request["student_id"]
    limits = sandbox.Limits(**request["limits"])
    kernel.configure(limits, request["slot"], work_dir / "runtime", request["confine"])
    url = f"sqlite:///{course / 'gradebook.db'}"
    config = gradebook.nbgrader_config(course, url)
    config.Execute.timeout = limits.cell_timeout
    steps = Autograde.class_traits()["autograde_preprocessors"].default()
    config.Autograde.autograde_preprocessors = [judge.JudgedExecute if p is Execute else p for p in steps]
    gradebook._put_environment_on_path()
    try:
        outcome = NbGraderAPI(config=config).autograde(assignment, student, force=True, create=True)
    finally:
        kernel.release_caps()
    print(outcome.get("log") or "", outcome.get("error") or "", flush=True)  # into worker.log
    autograded = course / "autograded" / student / assignment
    tests, failures = {}, []
    with Gradebook(url) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            submission = None
        for notebook in (submission.notebooks if submission else []):
            path = autograded / f"{notebook.name}.ipynb"
            outcomes, notes = notebook_outcomes(path) if path.exists() else ({}, [])
            failures += notes
            report = work_dir / "runtime" / f"judge-{notebook.name}" / "report.json"  # judge.JudgedExecute's
            visible = json.loads(report.read_text()).get("visible", {}) if report.exists() else {}
            for grade in notebook.grades:
                message = outcomes.get(grade.name, "missing")
                if message == "missing":
                    message = ("nbgrader did not produce a graded copy of this notebook (see the notes)"
                               if not path.exists() else "this test cell is missing from the graded notebook")
                tests[f"{notebook.name}/{grade.name}"] = {
                    "score": float(grade.auto_score or 0), "max_score": float(grade.max_score),
                    "message": message}
                if grade.name in visible:  # the test has hidden checks; this is its visible part's verdict
                    tests[f"{notebook.name}/{grade.name}"]["visible_message"] = visible[grade.name]
    failures = kernel.NOTES + failures
    if not outcome.get("success"):
        failures.insert(0, _nbgrader_failure(outcome.get("log") or "", outcome.get("error") or ""))
    review = tamper_scan.review(autograded, work_dir / "runtime")  # the judge's hook
    return {"tests": tests, "failures": failures + [REVIEW_NOTE + r for r in review], "review": review}


def _nbgrader_failure(log: str, error: str) -> str:
    text = log + "\n" + error
    if "DeadKernelError" in text or "Kernel died" in text:
        return "the Python kernel died (os._exit, a crash, or the memory limit); the tests it had not reached score 0"
    lines = [line for line in text.splitlines() if line.strip()]
    return "nbgrader could not grade this submission: " + (lines[-1][:MESSAGE_CHARS] if lines else "no log")


def main(work_dir: Path) -> None:
    try:
        result = run(work_dir)
    except Exception:
        result = {"tests": {}, "failures": ["the grader failed on this submission:\n" + traceback.format_exc()]}
    (work_dir / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
