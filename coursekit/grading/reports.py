"""What grading hands out: grades.csv and tests.csv for the instructor, one feedback page per student.

Scores are read back from the gradebook (so a manual score an instructor gave counts); the messages
come from the run. Feedback names each test, says passed or failed, its points and the assertion
message; it never contains test source, so hidden tests stay hidden.
"""
from __future__ import annotations

import csv
import html
from datetime import timezone
from pathlib import Path

from .. import gradebook
from .runner import Outcome
from .worker import REVIEW_NOTE

GRADES_COLUMNS = ["student_id", "assignment", "score", "max_score", "needs_manual_grading", "notes", "review"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula
TESTS_COLUMNS = ["student_id", "assignment", "notebook", "test", "score", "max_score", "passed", "hidden", "message"]
NEEDS_GRADING = "needs manual grading"
GRADED_BY_HAND = "graded by hand"


def csv_safe(text: str) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe
    (the OWASP advice for CSV injection)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _gradebook_scores(outcomes: list[Outcome], course_dir: Path, url: str) -> dict[tuple[str, str], dict]:
    return {(o.student_id, o.assignment): gradebook.scores(course_dir, o.assignment, o.student_id, url)
            for o in outcomes}


def cell_rows(outcome: Outcome, total: dict) -> list[dict]:
    """Every graded cell of a submission as the gradebook has it now, the one place the reports and
    the feedback read: autograded tests with the run's message, then the cells graded by hand.
    `status` is passed, failed, NEEDS_GRADING or GRADED_BY_HAND; a grader's score replaces the autograder's (and
    says so), extra credit is added, and the rows add up to the gradebook's total."""
    rows = []
    hand = total.get("hand", {})
    for key in list(outcome.tests) + sorted(set(total["tests"]) - set(outcome.tests)):
        test = outcome.tests.get(key, {"message": None, "hidden": False})
        score, max_score = total["tests"].get(key, (test.get("score", 0), test.get("max_score", 0)))
        done = hand.get(key, {})
        manual_cell = key not in outcome.tests
        message = test["message"] or ""
        if done.get("manual_score") is not None and not manual_cell:
            message = f"score set by hand to {done['manual_score']:g}" + (f" (autograder: {message})" if message else "")
        if done.get("extra_credit"):
            message = (message + "; " if message else "") + f"extra credit {done['extra_credit']:g}"
        if done.get("comment"):
            message = (message + "; " if message else "") + f"grader's comment: {done['comment']}"
        if manual_cell:
            status = NEEDS_GRADING if done.get("needs_grading", True) else GRADED_BY_HAND
        elif not manual_cell and done.get("needs_grading") and done.get("manual_score") is not None:
            status = NEEDS_GRADING  # overridden, then autograded again: nbgrader asks for a review
        else:
            status = "passed" if (score or 0) >= max_score else "failed"
        rows.append({"key": key, "score": score or 0.0, "max_score": max_score, "status": status,
                     "hidden": bool(test.get("hidden")), "message": message, "by_hand": manual_cell})
    return rows


def write_csv(outcomes: list[Outcome], course_dir: Path, url: str, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = _gradebook_scores(outcomes, course_dir, url)
    grades_path, tests_path = out_dir / "grades.csv", out_dir / "tests.csv"
    with open(grades_path, "w", newline="") as grades, open(tests_path, "w", newline="") as tests:
        grades_writer, tests_writer = csv.writer(grades), csv.writer(tests)
        grades_writer.writerow(GRADES_COLUMNS)
        tests_writer.writerow(TESTS_COLUMNS)
        for outcome in outcomes:
            total = scores[(outcome.student_id, outcome.assignment)]
            rows = cell_rows(outcome, total)
            student, assignment = csv_safe(outcome.student_id), csv_safe(outcome.assignment)
            pending = [row["key"] for row in rows if row["status"] == NEEDS_GRADING]
            grades_writer.writerow([student, assignment, f"{total['score']:g}", f"{total['max_score']:g}",
                                    csv_safe(" ".join(pending)), csv_safe("; ".join(outcome.notes)),
                                    "yes" if any(n.startswith(REVIEW_NOTE) for n in outcome.notes) else ""])
            for row in rows:
                notebook, name = row["key"].split("/", 1)
                passed = {"passed": "yes", "failed": "no"}.get(row["status"], row["status"])
                tests_writer.writerow([student, assignment, csv_safe(notebook), csv_safe(name), f"{row['score']:g}",
                                       f"{row['max_score']:g}", passed, "yes" if row["hidden"] else "no",
                                       csv_safe(row["message"])])
    return grades_path, tests_path


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: {assignment}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #999;padding:.3em .5em;text-align:left;vertical-align:top}}
.failed{{color:#a00}}.passed{{color:#060}}pre{{white-space:pre-wrap;margin:0}}</style></head>
<body><h1>{assignment}: {score:g} of {max_score:g} points</h1>
<p>Student: {student}</p>
{notes}
<table><thead><tr><th>test</th><th>result</th><th>points</th><th>message</th></tr></thead><tbody>
{rows}
</tbody></table>
<p>Tests marked "includes hidden checks" contain checks you did not see in your notebook; the message
tells you what went wrong, not how the check is written.</p>
</body></html>
"""


def late_note(outcome: Outcome, due, score: float) -> str:
    """The late policy's verdict in words, '' when the assignment has no due date (term.Due)."""
    if due is None:
        return ""
    when = outcome.submitted.strftime("%Y-%m-%d %H:%M UTC") if outcome.submitted else "at an unknown time"
    text = f"Due {due.due.astimezone(timezone.utc):%Y-%m-%d %H:%M UTC}; handed in {when}"
    penalty, days = due.penalty(score, outcome.submitted)
    if not days:
        return text + ": on time."
    return (text + f": {days} day(s) late; late policy {due.policy}: {penalty:g} points off, "
            f"{score - penalty:g} points count.")


def feedback_page(outcome: Outcome, total: dict, due=None) -> str:
    rows = []
    for row in cell_rows(outcome, total):
        name = html.escape(row["key"]) + (" (includes hidden checks)" if row["hidden"] else "") \
            + (" (graded by hand)" if row["by_hand"] else "")
        status = "not graded yet" if row["status"] == NEEDS_GRADING and row["by_hand"] else row["status"]
        rows.append(f'<tr><td>{name}</td><td class="{status if status in ("passed", "failed") else "by-hand"}">'
                    f'{html.escape(status)}</td><td>{row["score"]:g} / {row["max_score"]:g}</td>'
                    f'<td><pre>{html.escape(row["message"])}</pre></td></tr>')
    notes = ("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in outcome.notes) + "</ul>"
             if outcome.notes else "")
    late = late_note(outcome, due, total["score"])
    notes = (f"<p>{html.escape(late)}</p>\n" if late else "") + notes
    return PAGE.format(assignment=html.escape(outcome.assignment), student=html.escape(outcome.student_id),
                       score=total["score"], max_score=total["max_score"], notes=notes, rows="\n".join(rows))


def write_feedback(outcomes: list[Outcome], course_dir: Path, url: str, out_dir: Path) -> list[Path]:
    """<out_dir>/<student_id>/<assignment>/feedback.html for each outcome (feedback_pages/, beside nbgrader's feedback/)."""
    from .term import read_due_dates  # term reads csv_safe from here

    scores, dues = _gradebook_scores(outcomes, course_dir, url), read_due_dates(course_dir)
    written = []
    for outcome in outcomes:
        total = scores[(outcome.student_id, outcome.assignment)]
        path = out_dir / outcome.student_id / outcome.assignment / "feedback.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(feedback_page(outcome, total, dues.get(outcome.assignment)))
        written.append(path)
    return written
