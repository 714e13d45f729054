"""One place that configures nbgrader for a course directory and reads scores back."""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from .sources import ROOT

COURSE_DIR = ROOT / "autograder"
COURSE_ID = "tinytorch_lite"
CELL_TIMEOUT_SECONDS = 120
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def db_url(course_dir: Path) -> str:
    return f"sqlite:///{Path(course_dir).resolve() / 'gradebook.db'}"


def nbgrader_config(course_dir: Path = COURSE_DIR, url: str | None = None) -> Config:
    config = Config()
    config.CourseDirectory.root = str(Path(course_dir).resolve())
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.db_url = url or db_url(course_dir)
    # nbgrader reads the per-cell timeout from Execute, not from ExecutePreprocessor.
    config.Execute.timeout = CELL_TIMEOUT_SECONDS
    config.Execute.interrupt_on_timeout = True
    config.ClearSolutions.code_stub = {"python": STUB}
    config.NbGraderAPI.log_level = "WARN"
    config.Exchange.root = str(Path(course_dir).resolve() / "exchange")
    (Path(course_dir) / "exchange").mkdir(parents=True, exist_ok=True)
    return config


def _put_environment_on_path() -> None:
    """nbgrader runs `alembic` and Jupyter finds kernels through PATH; use this environment's tools."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def api(course_dir: Path = COURSE_DIR, url: str | None = None) -> NbGraderAPI:
    _put_environment_on_path()
    return NbGraderAPI(config=nbgrader_config(course_dir, url))


def check(result: dict, what: str) -> None:
    """NbGraderAPI reports failure in its return value; turn it into an exception with the log."""
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('error') or ''}\n{result.get('log') or ''}")


def scores(course_dir: Path, assignment: str, student_id: str, url: str | None = None) -> dict:
    """Total and per-test scores of one graded submission."""
    with Gradebook(url or db_url(course_dir)) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student_id)
        except MissingEntry:
            raise LookupError(f"no graded submission of {assignment} by {student_id}") from None
        tests, notebooks = {}, {}
        for notebook in submission.notebooks:
            notebooks[notebook.name] = (notebook.score, notebook.max_score)
            for grade in notebook.grades:
                tests[f"{notebook.name}/{grade.name}"] = (grade.score, grade.max_score)
        return {"score": submission.score, "max_score": submission.max_score,
                "notebooks": notebooks, "tests": tests}


def record(assignment: str, student_id: str, test_scores: dict[str, float], url: str) -> None:
    """Write autograded scores {"notebook/grade_id": points} into the gradebook, creating the student and
    the submission if needed. Manual scores an instructor gave are kept (nbgrader prefers them)."""
    with Gradebook(url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush quirk when creating a submission
        gb.update_or_create_student(student_id)
        gb.update_or_create_submission(assignment, student_id)
        for key, score in test_scores.items():
            notebook, grade_id = key.split("/", 1)
            grade = gb.find_grade(grade_id, notebook, assignment, student_id)
            grade.auto_score = score
            grade.needs_manual_grade = False
        gb.db.commit()
