"""Autograde notebooks and read the scores back, for the tests: the grading pipeline
(coursekit/grading/) driven from Python. Everything is graded in the sandbox."""
from __future__ import annotations

from pathlib import Path

from coursekit import gradebook
from coursekit.grading import runner
from coursekit.grading.submissions import Submission

DEFAULT_JOBS = 2


def autograde(course_dir: Path, assignment: str, submissions: dict[str, dict[str, Path]],
              jobs: int = DEFAULT_JOBS) -> dict[str, dict]:
    """Grade {student_id: {notebook_name: path}}; returns {student_id: scores} (see gradebook.scores)."""
    runner.grade(Path(course_dir), [Submission(student_id, assignment, {n: Path(p) for n, p in notebooks.items()})
                                    for student_id, notebooks in submissions.items()],
                 jobs=jobs, progress=False)
    return {student_id: gradebook.scores(course_dir, assignment, student_id) for student_id in submissions}
