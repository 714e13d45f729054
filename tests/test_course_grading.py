"""Self-test of every release: solutions score full marks, untouched student notebooks score 0,
and the student notebooks in notebooks/ are exactly what the solutions generate."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

import autograde
from leaks import leaked, secret_lines
from coursekit.sources import ROOT, assignments, solution_notebooks

NOTEBOOKS = solution_notebooks()
ASSIGNMENTS = assignments(NOTEBOOKS)


def _submission(course_dir: Path, assignment: str, folder: str) -> dict[str, Path]:
    return {nb.name: course_dir / folder / assignment / f"{nb.name}.ipynb"
            for nb in NOTEBOOKS if nb.assignment == assignment}


def test_course_has_the_three_assignments():
    assert {"02_tensor", "11_tokenization"} <= set(ASSIGNMENTS), ASSIGNMENTS


@pytest.mark.grading
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_scores_full_marks_and_blank_scores_zero(built_course, assignment):
    results = autograde.autograde(built_course, assignment, {
        "solution": _submission(built_course, assignment, "source"),
        "untouched": _submission(built_course, assignment, "student"),
    })
    solution, untouched = results["solution"], results["untouched"]
    failed = {name: s for name, s in solution["tests"].items() if s[0] < s[1]}
    assert not failed, f"the solution of {assignment} loses points in {failed}"
    assert solution["score"] == solution["max_score"] > 0
    free = {name: s for name, s in untouched["tests"].items() if s[0] > 0}
    assert untouched["score"] == 0, f"the untouched {assignment} notebooks score points in {free}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebooks_match_what_the_solutions_generate(built_course, assignment):
    for nb in NOTEBOOKS:
        if nb.assignment == assignment:
            fresh = (built_course / "student" / assignment / f"{nb.name}.ipynb").read_text()
            committed = ROOT / "notebooks" / assignment / f"{nb.name}.ipynb"
            assert committed.exists(), f"{committed} is missing; run `make release`"
            assert committed.read_text() == fresh, f"{committed} is stale; run `make release`"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda nb: nb.relative())
def test_student_notebooks_hold_no_solution_code_and_no_hidden_tests(notebook):
    path = ROOT / "notebooks" / notebook.assignment / f"{notebook.name}.ipynb"
    student = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    secrets = secret_lines([notebook])
    assert secrets, f"{notebook.relative()} has no solution or hidden-test lines to protect"
    found = leaked(secrets, student)
    assert not found, f"notebooks/ leaks lines of {notebook.relative()}: {found[:5]}"
