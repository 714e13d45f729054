"""Finding submissions, reading them as hostile data, and rebuilding what is graded.

A submissions folder (or a .zip of one, as a learning-management system hands it out) holds
<student_id>/<assignment>/<notebook>.ipynb, possibly under one enclosing folder. inspect() decides
which file is graded as which notebook and takes from it only the student's answers: the contents of
its answer (solution) cells, by grade_id. rebuild() then makes the notebook that is graded from the
instructor's source (autograder/source): given cells, test cells (hidden parts included) and
everything else come from there; cells the student added are kept as raw cells, never run.

Nothing a student wrote can crash this step: a file that is not a readable notebook (not JSON, nested
too deeply, a 5000-digit number, the wrong nbformat, binary, huge, a link) ends as a plain reason.
"""
from __future__ import annotations

import json
import os
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbgrader.utils import parse_utc

from ..sources import grade_id
from .manifest import Manifest, cell_hash

MAX_UNZIPPED_BYTES = 4 << 30
MAX_NOTEBOOK_BYTES = 16 << 20  # a released notebook is well under 1 MiB; outputs are never kept
MAX_ANSWER_CHARS = 1 << 20  # one answer cell
ADDED_CELLS_TITLE = "Cells the student added or changed outside the answer cells (kept here, not run)"


@dataclass
class Submission:
    student_id: str
    assignment: str
    files: dict[str, Path]  # file name (without .ipynb) -> path, as handed in
    accepted: dict[str, Path] = field(default_factory=dict)  # expected notebook name -> file graded as it
    notes: list[str] = field(default_factory=list)
    answers: dict[str, dict[str, str]] = field(default_factory=dict)  # notebook -> grade_id -> answer source
    added: dict[str, list[str]] = field(default_factory=dict)  # notebook -> sources of cells the student added
    submitted: datetime | None = None  # when it was handed in (UTC): submission_time()


TIMESTAMP_FILE = "timestamp.txt"  # nbgrader's: written by `nbgrader collect`, read by its late policy
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's Exchange.timestamp_format
SECRET_FILE = "submission_secret.txt"  # what `nbgrader submit` adds; release_feedback files feedback by it


def submission_time(notebooks: list[Path], folder: Path | None = None) -> datetime | None:
    """nbgrader's timestamp.txt in the submission's folder if there is one, else the newest time of its
    notebook files (for an LMS download: the time the LMS gave the file, kept when a zip is unpacked)."""
    stamp = folder / TIMESTAMP_FILE if folder else None
    if stamp and stamp.is_file() and not stamp.is_symlink():
        try:
            return parse_utc(stamp.read_text()[:100].strip()).replace(tzinfo=timezone.utc)  # naive UTC from nbgrader
        except (ValueError, OverflowError):
            pass
    times = [p.lstat().st_mtime for p in notebooks]
    return datetime.fromtimestamp(max(times), timezone.utc) if times else None


def write_timestamp(folder: Path, moment: datetime) -> None:
    (folder / TIMESTAMP_FILE).write_text(moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT))


def extract_zip(archive: Path, target: Path) -> Path:
    """Unpack a zip safely (no absolute paths, no `..`) and return the folder."""
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.namelist():
            if member.startswith("/") or ".." in Path(member).parts:
                raise ValueError(f"{archive} contains an unsafe path {member!r}; refusing to unpack it")
        size = sum(info.file_size for info in zipped.infolist())
        if size > MAX_UNZIPPED_BYTES:
            raise ValueError(f"{archive} would unpack to {size >> 20} MiB, more than {MAX_UNZIPPED_BYTES >> 20} MiB; "
                             "unpack it yourself and pass the folder")
        zipped.extractall(target)
        for info in zipped.infolist():  # the LMS's file times (zip times carry no zone: read as UTC)
            moment = datetime(*info.date_time, tzinfo=timezone.utc).timestamp()
            os.utime(Path(target) / info.filename, (moment, moment), follow_symlinks=False)
    return target


def collect(folder: Path, assignments: list[str]) -> list[Submission]:
    """Every <student>/<assignment>/ folder under folder (at any depth) for a known assignment, with the
    notebooks in it (an empty folder is a submission with every notebook missing), sorted by student.
    Links are never followed: a notebook that is a link is noted and not graded."""
    found: dict[tuple[str, str], dict[str, Path]] = {}
    links: dict[tuple[str, str], list[str]] = {}
    folder_of: dict[tuple[str, str], Path] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_dir() and not path.is_symlink() and path.name in assignments \
                and len(path.relative_to(folder).parts) >= 2:
            key = (path.parent.name, path.name)
            folder_of[key] = path
            for notebook in sorted(path.glob("*.ipynb")):
                if stat.S_ISREG(notebook.lstat().st_mode):
                    found.setdefault(key, {})[notebook.stem] = notebook
                else:
                    links.setdefault(key, []).append(f"{notebook.name} is a link or not a regular file; "
                                                     "it was not read")
            found.setdefault(key, {})
    if not found:
        raise ValueError(f"no submissions found in {folder}: expected <student_id>/<assignment>/<notebook>.ipynb "
                         f"with <assignment> one of {', '.join(assignments)}")
    return [Submission(student, assignment, files, notes=list(links.get((student, assignment), [])),
                       submitted=submission_time(list(files.values()), folder_of[(student, assignment)]))
            for (student, assignment), files in sorted(found.items())]


def read_notebook(path: Path) -> tuple[dict | None, str | None]:
    """The notebook's JSON, or None and the reason it cannot be graded. Opens no link, reads at most
    MAX_NOTEBOOK_BYTES, and turns every parsing failure into a reason."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        return None, f"{path.name} could not be opened ({error.strerror}); it scores 0"
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return None, f"{path.name} is not a regular file; it scores 0"
        data = file.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        return None, f"{path.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB and was not read; it scores 0"
    try:
        nb = json.loads(data)
    except RecursionError:
        return None, f"{path.name} is not a valid notebook file (its JSON is nested too deeply); it scores 0"
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"{path.name} is not a valid notebook file (not JSON: {str(error)[:200]}); it scores 0"
    except (ValueError, MemoryError) as error:  # e.g. a number with thousands of digits
        return None, (f"{path.name} is not a valid notebook file (JSON Python cannot read: {str(error)[:200]}); "
                      "it scores 0")
    if not isinstance(nb, dict):
        return None, f"{path.name} is JSON but not a Jupyter notebook (not an object with cells); it scores 0"
    if "nbformat" in nb and nb["nbformat"] != 4:
        return None, (f"{path.name} is in notebook format {str(nb['nbformat'])[:20]!r}, not 4; open it in a "
                      "current Jupyter and save it again; it scores 0")
    if not isinstance(nb.get("cells"), list):
        return None, f"{path.name} is JSON but not a Jupyter notebook (no list of cells); it scores 0"
    return nb, None


def _text(source) -> str | None:
    """A cell's source as one string, or None when it is neither a string nor a list of strings."""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    return None


def _grade_id(cell: dict) -> str | None:
    meta = cell.get("metadata")
    nbgrader_meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    grade_id = nbgrader_meta.get("grade_id") if isinstance(nbgrader_meta, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def _take_answers(name: str, nb: dict, manifest: Manifest, submission: Submission) -> bool:
    """Record the notebook's answers, added cells and notes; False when none of its cells is known."""
    spec = manifest.cells[name]
    answers, added, copies, seen, notes = {}, [], {}, set(), submission.notes
    for number, cell in enumerate(nb["cells"], start=1):
        if not isinstance(cell, dict):
            notes.append(f"{name}: cell {number} is not a notebook cell (a {type(cell).__name__}); it was ignored")
            continue
        grade_id, source = _grade_id(cell), _text(cell.get("source"))
        if grade_id in spec.answer_ids:
            copies[grade_id] = copies.get(grade_id, 0) + 1
            if source is None or len(source) > MAX_ANSWER_CHARS:
                notes.append(f"{name}: answer cell `{grade_id}` is unreadable or larger than "
                             f"{MAX_ANSWER_CHARS >> 20} MiB; it was graded as unanswered")
                answers.pop(grade_id, None)
            else:
                answers[grade_id] = source  # the last copy counts
        elif grade_id in spec.locked_ids:
            copies[grade_id] = copies.get(grade_id, 0) + 1
            seen.add(grade_id)
            if source is None or cell_hash(source) not in spec.released[grade_id]:
                notes.append(f"{name}: locked cell `{grade_id}` was edited; it was graded as originally released")
        elif source is not None and source.strip() and cell_hash(source) not in spec.given:
            added.append(source)
    if not answers and not seen:
        notes.append(f"{name}: none of its cells is one of the assignment's (their nbgrader metadata is missing "
                     "or changed), so there is nothing to grade; it scores 0")
        return False
    for grade_id, count in copies.items():
        if count > 1:
            notes.append(f"{name}: cell `{grade_id}` appears {count} times (a copied cell); "
                         + ("only the last copy is graded" if grade_id in spec.answer_ids
                            else "the released version is graded"))
    for test in manifest.tests:
        if test.notebook == name and test.grade_id not in seen:
            notes.append(f"{name}: test cell `{test.grade_id}` was deleted; it was restored from the release "
                         "and graded")
    for grade_id in sorted(spec.answer_ids - set(answers)):
        if grade_id not in copies:
            notes.append(f"{name}: answer cell `{grade_id}` is missing; it was graded as unanswered")
    if added:
        notes.append(f"{name}: {len(added)} cell(s) added or changed outside the answer cells were kept in the "
                     "graded notebook but not run; only answer cells are graded")
    submission.answers[name], submission.added[name] = answers, added
    return True


def inspect(submission: Submission, manifest: Manifest) -> Submission:
    """Fill submission.accepted, .answers and .notes from the files and what the assignment expects."""
    valid: dict[str, tuple[Path, dict]] = {}
    for name, path in submission.files.items():
        nb, problem = read_notebook(path)
        if problem:
            submission.notes.append(problem)
        else:
            valid[name] = (path, nb)
    missing = [n for n in manifest.notebooks if n not in submission.files]
    extra = [n for n in valid if n not in manifest.notebooks]
    if len(missing) == 1 and len(extra) == 1:
        submission.notes.append(f"{extra[0]}.ipynb was graded as {missing[0]}.ipynb (the expected name)")
        valid[missing[0]] = valid.pop(extra[0])
        missing, extra = [], []
    for name in missing:
        submission.notes.append(f"{name}.ipynb is missing from the submission; it scores 0")
    for name in extra:
        submission.notes.append(f"{name}.ipynb is not part of {manifest.assignment} and was not graded")
    for name in manifest.notebooks:
        if name in valid and _take_answers(name, valid[name][1], manifest, submission):
            submission.accepted[name] = valid[name][0]
    return submission


def rebuild(submission: Submission, manifest: Manifest, name: str) -> nbformat.NotebookNode:
    """The notebook that is graded: the instructor's source with the student's answers in its answer
    cells (the released stub where there is none) and the student's added cells as raw cells at the end."""
    nb = nbformat.read(manifest.source_path(name), as_version=4)
    answers, stubs = submission.answers.get(name, {}), manifest.cells[name].stubs
    for cell in nb.cells:
        answer_id = grade_id(cell)
        if answer_id in stubs:
            cell.source = answers.get(answer_id, stubs[answer_id])
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    added = submission.added.get(name, [])
    if added:
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## {ADDED_CELLS_TITLE}"))
        nb.cells += [nbformat.v4.new_raw_cell(source) for source in added]
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"graded-{index}"
    return nb
