"""The term's records: due dates and late policies, the roster, and when a submission was handed in
(nbgrader's timestamp.txt, else the file's time, which unpacking an LMS zip keeps)."""
from __future__ import annotations

import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from coursekit.grading import term
from coursekit.grading.submissions import collect, extract_zip

DUE = datetime(2026, 10, 1, 23, 59, tzinfo=timezone.utc)


@pytest.mark.parametrize("policy, late, expected", [
    ("none", timedelta(days=5), (0.0, 5)),
    ("zero", timedelta(minutes=1), (10.0, 1)),
    ("10%/day", timedelta(days=2, minutes=1), (3.0, 3)),
    ("25%/day", timedelta(days=9), (10.0, 9)),  # never more than the score
    ("10%/day", timedelta(seconds=0), (0.0, 0)),  # at the due time is on time
])
def test_late_policies(policy, late, expected):
    assert term.Due(DUE, policy).penalty(10.0, DUE + late) == expected


def test_due_dates_and_roster_files_are_checked_with_the_line_at_fault(tmp_path):
    (tmp_path / term.DUE_DATES_FILE).write_text("assignment,due,late_policy\n11_tokenization,2026-10-01T23:59:00,zero\n")
    with pytest.raises(ValueError, match="line 2: .*time zone"):
        term.read_due_dates(tmp_path)
    (tmp_path / term.DUE_DATES_FILE).write_text("assignment,due,late_policy\nx,2026-10-01T23:59:00+02:00,half\n")
    with pytest.raises(ValueError, match="late_policy 'half'"):
        term.read_due_dates(tmp_path)
    (tmp_path / term.ROSTER_FILE).write_text("student_id,name,email,lms_id\nada,A,a@x,1\nada,B,b@x,2\n")
    with pytest.raises(ValueError, match="line 3: student_id 'ada' appears twice"):
        term.read_roster(tmp_path)
    (tmp_path / term.ROSTER_FILE).write_text("student_id,name,email,lms_id\nada,A,a@x,1\nbob,B,b@x,2\n")
    assert term.roster_problems(term.read_roster(tmp_path), {"ada", "eve"}) == [
        "eve: not on the roster (roster.csv); graded under this id", "bob: on the roster, no submission"]


def test_handed_in_time_from_nbgraders_timestamp_else_the_lms_file_time(tmp_path):
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(zipfile.ZipInfo("ada/11_tokenization/tokenization.ipynb", (2026, 10, 2, 8, 15, 0)), "{}")
        zipped.writestr("bob/11_tokenization/tokenization.ipynb", "{}")
        zipped.writestr("bob/11_tokenization/timestamp.txt", "2026-10-01 12:00:00.000000 UTC")
    ada, bob = collect(extract_zip(archive, tmp_path / "unpacked"), ["11_tokenization"])
    assert ada.submitted == datetime(2026, 10, 2, 8, 15, tzinfo=timezone.utc)
    assert bob.submitted == datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
