"""The term's records: due dates and late policies, the roster, and when a submission was handed in
(nbgrader's timestamp.txt, else the file's time, which unpacking an LMS zip keeps)."""
from __future__ import annotations

import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from coursekit.grading import intake, term
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


ROSTER = {"ada": term.Student("ada", "Ada Lovelace", "ada@example.org", "101"),
          "bob": term.Student("bob", "Bob Lee", "bob@example.org", "102")}


def _write(root, names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


def test_canvas_download_maps_user_ids_takes_the_last_upload_and_lists_the_rest(tmp_path):
    _write(tmp_path, ["lovelaceada_101_9001_tokenization.ipynb", "lovelaceada_LATE_101_9002_tokenization-1.ipynb",
                      "leebob_102_9003_my_tokenization_copy.ipynb", "leebob_102_9004_notes.txt",
                      "doejane_999_9005_tokenization.ipynb", "README.txt"])
    submissions, skipped = intake.gather(tmp_path, ["11_tokenization", "12_embeddings"], ROSTER, "11_tokenization")
    assert [(s.student_id, s.assignment, {k: v.name for k, v in s.files.items()}) for s in submissions] == [
        ("ada", "11_tokenization", {"tokenization": "lovelaceada_LATE_101_9002_tokenization-1.ipynb"}),
        ("bob", "11_tokenization", {"my_tokenization_copy": "leebob_102_9003_my_tokenization_copy.ipynb"})]
    assert sorted(skipped) == [
        "README.txt: not in a student's folder and not named as Canvas names its files",
        "doejane_999_9005_tokenization.ipynb: Canvas user id 999 is not an lms_id of the roster",
        "leebob_102_9004_notes.txt: not a notebook",
        "lovelaceada_101_9001_tokenization.ipynb: an earlier upload of tokenization.ipynb by ada; "
        "lovelaceada_LATE_101_9002_tokenization-1.ipynb is graded"]


def test_moodle_and_plain_folders_map_to_roster_ids(tmp_path):
    _write(tmp_path / "moodle", ["Ada Lovelace_5001_assignsubmission_file_/tokenization.ipynb",
                                 "Bob Lee_101_assignsubmission_file_/tokenization.ipynb"])  # participant id 101 = ada
    submissions, skipped = intake.gather(tmp_path / "moodle", ["11_tokenization"], ROSTER)
    assert [s.student_id for s in submissions] == ["ada"] and len(skipped) == 1
    assert "an earlier upload of tokenization.ipynb by ada" in skipped[0]
    _write(tmp_path / "plain", ["ada/tokenization.ipynb", "bob@example.org/tokenization.ipynb", "eve/x.ipynb"])
    submissions, skipped = intake.gather(tmp_path / "plain", ["11_tokenization"], ROSTER)
    assert [s.student_id for s in submissions] == ["ada", "bob"]
    assert skipped == ["eve/x.ipynb: the folder 'eve' is not a student_id, lms_id or email of the roster"]


def test_nbgrader_layout_lists_misnamed_assignment_folders(tmp_path):
    _write(tmp_path, ["ada/11_tokenization/tokenization.ipynb", "bob/11_Tokenization/tokenization.ipynb",
                      "bob/hw11/tokenization.ipynb"])
    submissions, skipped = intake.gather(tmp_path, ["11_tokenization"], ROSTER)
    assert [s.student_id for s in submissions] == ["ada"]
    assert skipped == [f"bob/{name}/tokenization.ipynb: its folder {name!r} is not an assignment (11_tokenization); "
                       "rename the folder to the assignment's name" for name in ("11_Tokenization", "hw11")]
