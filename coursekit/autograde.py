"""Autograde notebooks with nbgrader and read the scores back."""
from __future__ import annotations

import shutil
from pathlib import Path

from . import gradebook


def stage_submission(course_dir: Path, student_id: str, assignment: str, notebooks: dict[str, Path]) -> None:
    """Place notebooks where nbgrader expects a submission: submitted/<student>/<assignment>/."""
    folder = Path(course_dir) / "submitted" / student_id / assignment
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, path in notebooks.items():
        shutil.copyfile(path, folder / f"{name}.ipynb")


def autograde(course_dir: Path, assignment: str, submissions: dict[str, dict[str, Path]]) -> dict[str, dict]:
    """Grade {student_id: {notebook_name: path}}; returns {student_id: scores}."""
    api = gradebook.api(course_dir)
    results = {}
    for student_id, notebooks in submissions.items():
        stage_submission(course_dir, student_id, assignment, notebooks)
        gradebook.check(api.autograde(assignment, student_id, force=True, create=True),
                        f"autograde {assignment} for {student_id}")
        results[student_id] = gradebook.scores(course_dir, assignment, student_id)
    return results
