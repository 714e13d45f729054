"""What grading hands out: grades.csv and tests.csv for the instructor, one feedback page per student.

Scores are read back from the gradebook (so a manual score an instructor gave counts); the messages
come from the run. Feedback names each test, says passed or failed, its points and the assertion
message; it never contains test source, so hidden tests stay hidden.
"""
from __future__ import annotations

import csv
import html
from pathlib import Path

from .. import gradebook
from .runner import Outcome
from .worker import REVIEW_NOTE

GRADES_COLUMNS = ["student_id", "assignment", "score", "max_score", "notes", "review"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula
TESTS_COLUMNS = ["student_id", "assignment", "notebook", "test", "score", "max_score", "passed", "hidden", "message"]


def csv_safe(text: str) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe
    (the OWASP advice for CSV injection)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _gradebook_scores(outcomes: list[Outcome], course_dir: Path, url: str) -> dict[tuple[str, str], dict]:
    return {(o.student_id, o.assignment): gradebook.scores(course_dir, o.assignment, o.student_id, url)
            for o in outcomes}


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
            student, assignment = csv_safe(outcome.student_id), csv_safe(outcome.assignment)
            grades_writer.writerow([student, assignment, f"{total['score']:g}",
                                    f"{total['max_score']:g}", csv_safe("; ".join(outcome.notes)),
                                    "yes" if any(n.startswith(REVIEW_NOTE) for n in outcome.notes) else ""])
            for key, test in outcome.tests.items():
                notebook, name = key.split("/", 1)
                score, max_score = total["tests"].get(key, (test["score"], test["max_score"]))
                score = score or 0
                tests_writer.writerow([student, assignment, csv_safe(notebook), csv_safe(name), f"{score:g}",
                                       f"{max_score:g}", "yes" if score == max_score else "no",
                                       "yes" if test["hidden"] else "no", csv_safe(test["message"] or "")])
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


def feedback_page(outcome: Outcome, score: float, max_score: float) -> str:
    rows = []
    for key, test in outcome.tests.items():
        passed = test["score"] == test["max_score"]
        name = html.escape(key) + (" (includes hidden checks)" if test["hidden"] else "")
        rows.append(f'<tr><td>{name}</td><td class="{"passed" if passed else "failed"}">'
                    f'{"passed" if passed else "failed"}</td><td>{test["score"]:g} / {test["max_score"]:g}</td>'
                    f'<td><pre>{html.escape(test["message"] or "")}</pre></td></tr>')
    notes = ("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in outcome.notes) + "</ul>"
             if outcome.notes else "")
    return PAGE.format(assignment=html.escape(outcome.assignment), student=html.escape(outcome.student_id),
                       score=score, max_score=max_score, notes=notes, rows="\n".join(rows))


def write_feedback(outcomes: list[Outcome], course_dir: Path, url: str, out_dir: Path) -> list[Path]:
    """feedback/<student_id>/<assignment>/feedback.html for each outcome."""
    scores = _gradebook_scores(outcomes, course_dir, url)
    written = []
    for outcome in outcomes:
        total = scores[(outcome.student_id, outcome.assignment)]
        path = out_dir / outcome.student_id / outcome.assignment / "feedback.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(feedback_page(outcome, total["score"], total["max_score"]))
        written.append(path)
    return written
