"""A term's grading through the commands an instructor types: a Canvas download with a late and a
renamed submission and a stray file, mapped to the roster, graded, then `grades` exported with the
late policy applied; every number in the exports is checked."""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from coursekit import release
from coursekit.grading import term
from coursekit.sources import ROOT
from helpers import csv_rows

ASSIGNMENT, NOTEBOOK = "11_tokenization", "tokenization"


def _coursekit(*args):
    result = subprocess.run([sys.executable, "-m", "coursekit", *map(str, args)], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout



@pytest.mark.grading
def test_a_canvas_download_graded_against_roster_and_due_date(built_course, tmp_path):
    course = tmp_path / "course"
    for folder in ("source", "release"):
        shutil.copytree(built_course / folder / ASSIGNMENT, course / folder / ASSIGNMENT)
    shutil.copyfile(built_course / "release_history.json", course / "release_history.json")
    (course / term.ROSTER_FILE).write_text(
        "student_id,name,email,lms_id\nada,Ada Lovelace,ada@example.org,101\nbob,Bob Lee,bob@example.org,102\n"
        "carol,Carol Kim,carol@example.org,103\ndave,Dave Roe,dave@example.org,104\n")
    (course / term.DUE_DATES_FILE).write_text(f"assignment,due,late_policy\n{ASSIGNMENT},2026-10-01T23:59:00+00:00,"
                                              "10%/day\n")
    correct = nbformat.writes(release.answered_notebook(built_course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                                                        built_course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"))
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, when in (("lovelaceada_101_9001_tokenization.ipynb", (2026, 10, 1, 20, 0, 0)),
                           ("leebob_LATE_102_9002_tokenization.ipynb", (2026, 10, 3, 1, 0, 0)),  # 25 h late
                           ("kimcarol_103_9003_my_tokenizer-1.ipynb", (2026, 10, 1, 23, 0, 0))):  # renamed
            zipped.writestr(zipfile.ZipInfo(name, when), correct)
        zipped.writestr("README.txt", "not a submission")

    out = _coursekit("grade", archive, "--assignment", ASSIGNMENT, "--course-dir", course, "--cell-timeout", 60)
    assert "graded 3 submissions" in out
    assert "README.txt: not in a student's folder and not named as Canvas names its files" in out
    assert "roster: dave: on the roster, no submission" in out
    grades = {r["student_id"]: r for r in csv_rows(course / "exports" / "grades.csv")}
    assert {s: (r["score"], r["max_score"]) for s, r in grades.items()} == {s: ("14", "14") for s in ("ada", "bob", "carol")}
    assert "my_tokenizer.ipynb was graded as tokenization.ipynb" in grades["carol"]["notes"]
    bob_page = (course / "feedback_pages" / "bob" / ASSIGNMENT / "feedback.html").read_text()
    assert "2 day(s) late; late policy 10%/day: 2.8 points off, 11.2 points count." in bob_page

    out = _coursekit("grades", "--course-dir", course)
    long = {r["student_id"]: r for r in csv_rows(course / "exports" / "gradebook_long.csv")}
    numbers = {s: (r["days_late"], r["autograded"], r["manual_adjustment"], r["late_penalty"], r["score"], r["max_score"])
               for s, r in long.items()}
    assert numbers == {"ada": ("0", "14", "0", "0", "14", "14"), "bob": ("2", "14", "0", "2.8", "11.2", "14"),
                       "carol": ("0", "14", "0", "0", "14", "14"), "dave": ("0", "0", "0", "0", "0", "14")}
    assert long["bob"]["submitted"] == "2026-10-03T01:00:00+00:00" and long["dave"]["needs_manual_grading"] == "not submitted"
    with open(course / "exports" / "gradebook_wide.csv", newline="") as f:
        wide = list(csv.reader(f))
    assert wide == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT],
                    ["Points Possible", "", "", "", "", "14"],
                    ["Ada Lovelace", "101", "ada", "ada@example.org", "", "14"],
                    ["Bob Lee", "102", "bob", "bob@example.org", "", "11.2"],
                    ["Carol Kim", "103", "carol", "carol@example.org", "", "14"],
                    ["Dave Roe", "104", "dave", "dave@example.org", "", "0"]]
