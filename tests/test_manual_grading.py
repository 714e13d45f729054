"""Cells graded by hand, end to end on a small assignment of its own: nbgrader's manual answer cells
(Markdown and code) and task cells pass the source checks and the release's self-test, the reports
say per student and cell what still needs grading, a grader's score, comment and extra credit reach
grades.csv, tests.csv and the feedback consistently, a regrade keeps them (also after a test is
added to the released assignment, which nbgrader alone refuses) and a new submission clears them. Grades are given through the formgrader's REST API, as a grader's browser does."""
from __future__ import annotations

import csv
import textwrap
from datetime import datetime, timezone

import nbformat
import pytest

from coursekit import gradebook, release
from coursekit.grading import reports, runner, term
from coursekit.grading.submissions import Submission
from coursekit.sources import CourseError, SolutionNotebook
from coursekit.validate import cell_problems
from helpers import csv_rows, running_formgrader

ASSIGNMENT, NOTEBOOK = "13_manual", "manual"
SOURCE = textwrap.dedent('''\
    # %% [markdown]
    # # Doubling

    # %% nbgrader={"grade": false, "grade_id": "double", "locked": false, "schema_version": 3, "solution": true}
    def double(x):
        """Return 2 x."""
        ### BEGIN SOLUTION
        return 2 * x
        ### END SOLUTION

    # %% nbgrader={"grade": true, "grade_id": "test_double", "locked": true, "points": 2, "schema_version": 3, "solution": false}
    """Check that double doubles."""
    assert double(2) == 4, f"double(2) should be 4, got {double(2)}"

    # %% [markdown] nbgrader={"grade": true, "grade_id": "explain_double", "locked": false, "points": 3, "schema_version": 3, "solution": true}
    # Doubling multiplies by two, so it is linear.

    # %% nbgrader={"grade": true, "grade_id": "table_double", "locked": false, "points": 1, "schema_version": 3, "solution": true}
    ### BEGIN SOLUTION
    table = [double(x) for x in range(3)]
    ### END SOLUTION

    # %% [markdown] nbgrader={"grade": false, "grade_id": "task_compare", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": true}
    # Compare `double` with `numpy.multiply` in two sentences, in a new cell below.
    ''')
ADDED_TEST = textwrap.dedent('''
    # %% nbgrader={"grade": true, "grade_id": "test_double_negative", "locked": true, "points": 1, "schema_version": 3, "solution": false}
    """Check that double keeps the sign."""
    assert double(-3) == -6, f"double(-3) should be -6, got {double(-3)}"
    ''')
AUTO, BY_HAND = ["manual/test_double"], ["manual/explain_double", "manual/table_double", "manual/task_compare"]


def _cell(cell_type: str, **nbgrader):
    meta = {"schema_version": 3, "grade_id": "x", "locked": False, "solution": False, "grade": False, **nbgrader}
    make = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
    return make("written answer", metadata={"nbgrader": meta})


def test_source_checks_follow_nbgraders_schema_for_cells_graded_by_hand():
    assert cell_problems(_cell("markdown", solution=True, grade=True, points=2)) == []
    assert cell_problems(_cell("markdown", task=True, locked=True, points=1)) == []
    assert "only as graded" in cell_problems(_cell("markdown", grade=True, points=2))[0]
    assert "only as a solution" in cell_problems(_cell("markdown", solution=True))[0]
    assert "only as Markdown" in cell_problems(_cell("code", task=True, locked=True, points=1))[0]
    assert "positive number" in cell_problems(_cell("markdown", solution=True, grade=True))[0]
    assert "BEGIN SOLUTION" in cell_problems(_cell("code", solution=True, grade=True, points=1))[0]



@pytest.mark.grading
def test_manual_cells_from_release_to_feedback(tmp_path):
    solution = tmp_path / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.py"
    solution.parent.mkdir(parents=True)
    solution.write_text(SOURCE)
    course = tmp_path / "course"
    release.release([SolutionNotebook(solution)], course_dir=course, out_dir=tmp_path / "student",
                    verify_grading=True)  # the self-test passes: manual points are expected ungraded
    released = tmp_path / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert "Doubling multiplies by two" not in released.read_text()
    answered = release.answered_notebook(released, course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    handed_in = tmp_path / "handed_in" / f"{NOTEBOOK}.ipynb"
    handed_in.parent.mkdir()
    nbformat.write(answered, handed_in)
    url = gradebook.db_url(course)
    (course / term.ROSTER_FILE).write_text("student_id,name,email,lms_id\nada,Ada Lovelace,ada@example.org,101\n"
                                           "bob,Bob Lee,bob@example.org,102\n")
    (course / term.DUE_DATES_FILE).write_text(f"assignment,due,late_policy\n{ASSIGNMENT},2026-10-01T23:59:00+00:00,"
                                              "10%/day\n")
    handed_in_at = datetime(2026, 10, 4, 0, 30, tzinfo=timezone.utc)  # 2 days 31 minutes late: 3 started days

    def grade(force=False):
        [outcome] = runner.grade(course, [Submission("ada", ASSIGNMENT, {NOTEBOOK: handed_in},
                                                     submitted=handed_in_at)], url=url, force=force, progress=False)
        grades, tests = reports.write_csv([outcome], course, url, course / "exports")
        [page] = reports.write_feedback([outcome], course, url, course / gradebook.FEEDBACK_PAGES)
        return outcome, csv_rows(grades)[0], {r["notebook"] + "/" + r["test"]: r for r in csv_rows(tests)}, page.read_text()

    outcome, row, tests, page = grade()
    assert (row["score"], row["max_score"]) == ("2", "8")
    assert row["needs_manual_grading"].split() == BY_HAND
    assert [tests[k]["passed"] for k in AUTO + BY_HAND] == ["yes"] + ["needs manual grading"] * 3
    assert page.count("not graded yet") == 3 and "2 of 8 points" in page

    with running_formgrader(course) as formgrader:  # a grader scores and comments in the formgrader
        [notebook] = [n for n in formgrader("GET", f"submitted_notebooks/{ASSIGNMENT}/{NOTEBOOK}")
                      if n["student"] == "ada"]
        grades = {g["name"]: g["id"] for g in formgrader("GET", f"grades?submission_id={notebook['id']}")}
        comments = {c["name"]: c["id"] for c in formgrader("GET", f"comments?submission_id={notebook['id']}")}
        for grade_id, score in (("explain_double", 2), ("table_double", 1), ("task_compare", 0)):
            formgrader("PUT", f"grade/{grades[grade_id]}", {"manual_score": score})
        formgrader("PUT", f"grade/{grades['test_double']}", {"manual_score": None, "extra_credit": 1})
        formgrader("PUT", f"comment/{comments['explain_double']}", {"manual_comment": "Say why it is linear."})
    outcome, row, tests, page = grade()  # same answers: reused, manual grades kept
    assert outcome.reused and (row["score"], row["needs_manual_grading"]) == ("6", "")
    assert [(tests[k]["score"], tests[k]["passed"]) for k in AUTO + BY_HAND] == [
        ("3", "yes"), ("2", "graded by hand"), ("1", "graded by hand"), ("0", "graded by hand")]
    assert "Say why it is linear." in tests["manual/explain_double"]["message"] and "extra credit 1" in tests[AUTO[0]]["message"]
    assert "Say why it is linear." in page and "6 of 8 points" in page and "2 / 3" in page
    assert sum(float(t["score"]) for t in tests.values()) == float(row["score"])
    assert "3 day(s) late; late policy 10%/day: 1.8 points off, 4.2 points count." in page

    long_path, wide_path = term.write_exports(course, url, course / "exports")
    by_student = {r["student_id"]: r for r in csv_rows(long_path)}
    assert {k: by_student["ada"][k] for k in ("name", "lms_id", "days_late", "autograded", "manual_adjustment",
                                              "late_penalty", "score", "max_score", "needs_manual_grading")} == {
        "name": "Ada Lovelace", "lms_id": "101", "days_late": "3", "autograded": "2", "manual_adjustment": "4",
        "late_penalty": "1.8", "score": "4.2", "max_score": "8", "needs_manual_grading": ""}
    assert by_student["ada"]["submitted"] == handed_in_at.isoformat()
    assert (by_student["bob"]["score"], by_student["bob"]["needs_manual_grading"]) == ("0", "not submitted")
    with open(wide_path, newline="") as f:
        wide = list(csv.reader(f))
    assert wide[:2] == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT],
                        ["Points Possible", "", "", "", "", "8"]]
    assert wide[2:] == [["Ada Lovelace", "101", "ada", "ada@example.org", "", "4.2"],
                        ["Bob Lee", "102", "bob", "bob@example.org", "", "0"]]

    outcome, row, _, _ = grade(force=True)  # a regrade (a fixed test, say) keeps what the grader gave
    assert not outcome.reused and row["score"] == "6" and runner.MANUAL_CLEARED_NOTE not in row["notes"]

    solution.write_text(SOURCE + ADDED_TEST)  # a test added after grading: nbgrader alone refuses that
    release.release([SolutionNotebook(solution)], course_dir=course, out_dir=tmp_path / "student")
    outcome, row, tests, page = grade()
    assert not outcome.reused and (row["score"], row["max_score"], row["needs_manual_grading"]) == ("7", "9", "")
    assert (tests["manual/test_double_negative"]["passed"], tests["manual/explain_double"]["score"]) == ("yes", "2")
    assert "Say why it is linear." in page and "extra credit 1" in tests[AUTO[0]]["message"]

    answered.cells[1].source = answered.cells[1].source.replace("return 2 * x", "return x + x")
    nbformat.write(answered, handed_in)
    outcome, row, tests, page = grade()  # a new submission: the earlier one's manual grades go
    assert (row["score"], row["needs_manual_grading"].split()) == ("3", BY_HAND)
    assert runner.MANUAL_CLEARED_NOTE in row["notes"] and "Say why" not in page


def test_the_release_names_a_written_answer_cell_without_points(tmp_path):
    solution = tmp_path / ASSIGNMENT / f"{NOTEBOOK}.py"
    solution.parent.mkdir()
    solution.write_text(SOURCE.replace('"points": 3', '"points": 0'))
    with pytest.raises(CourseError, match="explain_double.*positive number"):
        release.release([SolutionNotebook(solution)], course_dir=tmp_path / "course", out_dir=tmp_path / "student")
