"""Submissions as learning-management systems hand them out, mapped to roster ids (term.py).

- nbgrader's layout, <student_id>/<assignment>/<notebook>.ipynb at any depth (submissions.collect);
  an assignment folder named differently (`11_Tokenization`, `hw11`) is reported, not dropped.
- Canvas: one flat folder of `<sortable name>[_LATE]_<user id>_<submission id>_<file name>`, where a
  re-upload adds `-1`, `-2` to the file name; the user id is the roster's lms_id.
- Moodle: a folder per student, `<full name>_<participant id>_assignsubmission_file_/<file name>`;
  the participant id is matched to the roster's lms_id, else the full name to its name.
- A plain folder `<student>/<notebook>.ipynb`, `<student>` being a roster student_id, lms_id or email.

The last three hold one assignment, which the instructor names. Every file or folder that is not
graded comes back with the reason; when two files of one student are the same notebook, the latest
upload is graded and the other is listed.
"""
from __future__ import annotations

import re
import stat
from pathlib import Path

from .submissions import SECRET_FILE, TIMESTAMP_FILE, Submission, collect, submission_time
from .term import Student

CANVAS = re.compile(r"^(?P<name>[^_/]+?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$")
MOODLE = re.compile(r"^(?P<name>.+)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
REUPLOAD = re.compile(r"^(?P<stem>.+?)-(?P<number>\d+)$")


def _nbgrader_layout(folder: Path, assignments: list[str]) -> bool:
    return any(p.is_dir() and p.name in assignments and len(p.relative_to(folder).parts) >= 2
               for p in folder.rglob("*"))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not p.is_dir() or p.is_symlink())


def gather(folder: Path, assignments: list[str], roster: dict[str, Student],
           assignment: str | None = None) -> tuple[list[Submission], list[str]]:
    """(submissions, "path: why it is not graded" for every other file); assignment names the one
    assignment of an LMS download (required for one)."""
    folder = Path(folder)
    if _nbgrader_layout(folder, assignments):
        submissions = collect(folder, assignments)
        used = {p.resolve() for s in submissions for p in s.files.values()}
        graded_folders = {p.resolve().parent for p in used}
        skipped = []
        for path in _files(folder):
            if path.resolve() in used or path.name in (TIMESTAMP_FILE, SECRET_FILE) \
                    and path.parent.resolve() in graded_folders:
                continue
            parts = path.relative_to(folder).parts
            if path.suffix != ".ipynb":
                reason = "not a notebook"
            elif len(parts) >= 3 and parts[-2] not in assignments:
                reason = (f"its folder {parts[-2]!r} is not an assignment ({', '.join(assignments)}); rename the "
                          "folder to the assignment's name")
            else:
                reason = "not in a <student_id>/<assignment>/ folder"
            skipped.append(f"{path.relative_to(folder)}: {reason}")
        return submissions, skipped
    if assignment is None:
        if len(assignments) != 1:
            raise ValueError(f"{folder} is not laid out as <student_id>/<assignment>/<notebook>.ipynb; for an LMS "
                             "download of one assignment (Canvas, Moodle, or <student>/<notebook>.ipynb) pass "
                             "--assignment <name>")
        assignment = assignments[0]
    by_lms = {s.lms_id: s.student_id for s in roster.values() if s.lms_id}
    by_name = {s.name.casefold(): s.student_id for s in roster.values() if s.name}
    by_email = {s.email.casefold(): s.student_id for s in roster.values() if s.email}
    found: dict[str, dict[str, tuple[int, float, Path]]] = {}
    skipped = []
    for path in _files(folder):
        relative = path.relative_to(folder)
        canvas, moodle = CANVAS.match(path.name), MOODLE.match(path.parent.name)
        if canvas:
            student, file_name = by_lms.get(canvas["user"]), canvas["file"]
            unknown = f"Canvas user id {canvas['user']} is not an lms_id of the roster"
        elif moodle and path.parent != folder:
            student = by_lms.get(moodle["participant"]) or by_name.get(moodle["name"].casefold())
            file_name = path.name
            unknown = f"Moodle participant {moodle['participant']} ({moodle['name']}) is not on the roster"
        elif path.parent != folder:
            key = path.parent.name
            student = key if key in roster else by_lms.get(key) or by_email.get(key.casefold())
            if not roster:
                student = key
            file_name = path.name
            unknown = f"the folder {key!r} is not a student_id, lms_id or email of the roster"
        else:
            skipped.append(f"{relative}: not in a student's folder and not named as Canvas names its files")
            continue
        if not file_name.endswith(".ipynb"):
            skipped.append(f"{relative}: not a notebook")
            continue
        if student is None:
            skipped.append(f"{relative}: {unknown}")
            continue
        if not stat.S_ISREG(path.lstat().st_mode):
            skipped.append(f"{relative}: a link or not a regular file; it was not read")
            continue
        stem = file_name[:-len(".ipynb")]
        upload = REUPLOAD.match(stem)
        number = int(upload["number"]) if upload else 0
        stem = upload["stem"] if upload else stem
        earlier = found.setdefault(student, {}).get(stem)
        candidate = (number, path.lstat().st_mtime, path)
        if earlier and earlier[:2] >= candidate[:2]:
            skipped.append(f"{relative}: an earlier upload of {stem}.ipynb by {student}; "
                           f"{earlier[2].relative_to(folder)} is graded")
            continue
        if earlier:
            skipped.append(f"{earlier[2].relative_to(folder)}: an earlier upload of {stem}.ipynb by {student}; "
                           f"{relative} is graded")
        found[student][stem] = candidate
    submissions = [Submission(student, assignment, {stem: entry[2] for stem, entry in files.items()},
                              submitted=submission_time([e[2] for e in files.values()]))
                   for student, files in sorted(found.items())]
    if not submissions:
        raise ValueError(f"no submissions found in {folder}; not graded:\n  " + "\n  ".join(skipped or ["(empty)"]))
    return submissions, skipped
