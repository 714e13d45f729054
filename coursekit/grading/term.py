"""The term's records beside the gradebook: the roster (autograder/roster.csv), due dates and late
policies (autograder/due_dates.csv), and `make grades`, the gradebook exported across every run as
a long table and a wide one in the column layout Canvas and Moodle import.

roster.csv: student_id,name,email,lms_id (lms_id: the LMS's own user id, e.g. Canvas's numeric id
in its download file names). due_dates.csv: assignment,due,late_policy with due as ISO 8601 with a
time zone (2026-10-01T23:59:00+00:00) and late_policy one of `none` (no penalty), `zero` (late work
scores 0) or `<P>%/day` (P percent of the score per started day late, at most all of it).
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .reports import csv_safe

ROSTER_FILE, DUE_DATES_FILE = "roster.csv", "due_dates.csv"
ROSTER_COLUMNS = ["student_id", "name", "email", "lms_id"]
DUE_COLUMNS = ["assignment", "due", "late_policy"]
PER_DAY = re.compile(r"^(\d+(?:\.\d+)?)%/day$")
LONG_COLUMNS = ["student_id", "name", "email", "lms_id", "assignment", "submitted", "due", "days_late",
                "autograded", "manual_adjustment", "late_penalty", "score", "max_score", "needs_manual_grading"]


@dataclass(frozen=True)
class Student:
    student_id: str
    name: str = ""
    email: str = ""
    lms_id: str = ""


@dataclass(frozen=True)
class Due:
    due: datetime
    policy: str  # "none", "zero" or "<P>%/day"

    def penalty(self, score: float, submitted: datetime | None) -> tuple[float, int]:
        """(points taken off, started days late) for a submission handed in at `submitted`."""
        if submitted is None or submitted <= self.due:
            return 0.0, 0
        days = math.ceil((submitted - self.due).total_seconds() / 86400)
        if self.policy == "none":
            return 0.0, days
        if self.policy == "zero":
            return score, days
        percent = float(PER_DAY.match(self.policy)[1])
        return min(score, score * percent / 100 * days), days


def _rows(path: Path, columns: list[str]) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns[:1] + columns[1:] if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the header must name {', '.join(columns)}; missing {', '.join(missing)}")
        return [{k: (row.get(k) or "").strip() for k in columns} for row in reader]


def read_roster(course_dir: Path) -> dict[str, Student]:
    """student_id -> Student; {} without a roster."""
    path = Path(course_dir) / ROSTER_FILE
    if not path.exists():
        return {}
    roster = {}
    for number, row in enumerate(_rows(path, ROSTER_COLUMNS), start=2):
        if not row["student_id"]:
            raise ValueError(f"{path}, line {number}: no student_id")
        if row["student_id"] in roster:
            raise ValueError(f"{path}, line {number}: student_id {row['student_id']!r} appears twice")
        roster[row["student_id"]] = Student(**row)
    return roster


def read_due_dates(course_dir: Path) -> dict[str, Due]:
    """assignment -> Due; {} without due_dates.csv."""
    path = Path(course_dir) / DUE_DATES_FILE
    if not path.exists():
        return {}
    dues = {}
    for number, row in enumerate(_rows(path, DUE_COLUMNS), start=2):
        try:
            due = datetime.fromisoformat(row["due"])
        except ValueError:
            raise ValueError(f"{path}, line {number}: due {row['due']!r} is not an ISO 8601 time "
                             "such as 2026-10-01T23:59:00+00:00") from None
        if due.tzinfo is None:
            raise ValueError(f"{path}, line {number}: due {row['due']!r} needs a time zone, e.g. +00:00")
        policy = row["late_policy"] or "none"
        if policy not in ("none", "zero") and not PER_DAY.match(policy):
            raise ValueError(f"{path}, line {number}: late_policy {policy!r} is not none, zero or <P>%/day")
        dues[row["assignment"]] = Due(due, policy)
    return dues


def roster_problems(roster: dict[str, Student], graded: set[str]) -> list[str]:
    """Submissions from ids not on the roster, and students on it with no submission."""
    if not roster:
        return []
    problems = [f"{s}: not on the roster ({ROSTER_FILE}); graded under this id" for s in sorted(graded - set(roster))]
    problems += [f"{s}: on the roster, no submission" for s in sorted(set(roster) - graded)]
    return problems


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment  # nbgrader stores UTC


def gradebook_rows(course_dir: Path, url: str) -> list[dict]:
    """One row per student and assignment the gradebook holds, with every run's latest result; a
    roster student without a submission gets a row with score 0 for each assignment."""
    roster, dues = read_roster(course_dir), read_due_dates(course_dir)
    rows = []
    with Gradebook(url) as gb:
        assignments = [a.name for a in gb.assignments]
        students = sorted({s.id for s in gb.students} | set(roster))
        for assignment in sorted(assignments):
            max_score = gb.find_assignment(assignment).max_score
            for student_id in students:
                person = roster.get(student_id, Student(student_id))
                row = {"student_id": student_id, "name": person.name, "email": person.email,
                       "lms_id": person.lms_id, "assignment": assignment, "max_score": max_score,
                       "due": dues[assignment].due.isoformat() if assignment in dues else ""}
                try:
                    submission = gb.find_submission(assignment, student_id)
                except MissingEntry:
                    rows.append(dict(row, submitted="", days_late=0, autograded=0.0, manual_adjustment=0.0,
                                     late_penalty=0.0, score=0.0, needs_manual_grading="not submitted"))
                    continue
                grades = [g for nb in submission.notebooks for g in nb.grades]
                autograded = sum(g.auto_score or 0.0 for g in grades)
                before_late = float(submission.score)
                submitted = _utc(submission.timestamp)
                penalty, days = dues[assignment].penalty(before_late, submitted) if assignment in dues else (0.0, 0)
                pending = [f"{nb.name}/{g.name}" for nb in submission.notebooks for g in nb.grades
                           if g.needs_manual_grade]
                rows.append(dict(row, submitted=submitted.isoformat() if submitted else "", days_late=days,
                                 autograded=autograded, manual_adjustment=before_late - autograded,
                                 late_penalty=penalty, score=before_late - penalty,
                                 needs_manual_grading=" ".join(pending)))
    return rows


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def write_exports(course_dir: Path, url: str, out_dir: Path) -> tuple[Path, Path]:
    """gradebook_long.csv (every column) and gradebook_wide.csv (Canvas's gradebook import layout:
    Student, ID, SIS User ID, SIS Login ID, Section, then one column per assignment, after a
    "Points Possible" row; Moodle's import maps its "ID number" or "Email address" field to the
    SIS User ID or SIS Login ID column)."""
    rows = gradebook_rows(course_dir, url)
    out_dir.mkdir(parents=True, exist_ok=True)
    long_path, wide_path = out_dir / "gradebook_long.csv", out_dir / "gradebook_wide.csv"
    with open(long_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(LONG_COLUMNS)
        for row in rows:
            writer.writerow([csv_safe(_number(row[c])) for c in LONG_COLUMNS])
    assignments = sorted({r["assignment"] for r in rows})
    maximum = {r["assignment"]: r["max_score"] for r in rows}
    by_student: dict[str, dict] = {}
    for row in rows:
        by_student.setdefault(row["student_id"], row | {"scores": {}})["scores"][row["assignment"]] = row["score"]
    with open(wide_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *assignments])
        writer.writerow(["Points Possible", "", "", "", "", *[_number(float(maximum[a])) for a in assignments]])
        for student_id, row in sorted(by_student.items()):
            writer.writerow([csv_safe(row["name"] or student_id), csv_safe(row["lms_id"]), csv_safe(student_id),
                             csv_safe(row["email"]), "", *[_number(float(row["scores"][a])) for a in assignments]])
    return long_path, wide_path
