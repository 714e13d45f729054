"""Finding submissions and checking them before any code runs.

A submissions folder (or a .zip of one, as a learning-management system hands it out) holds
<student_id>/<assignment>/<notebook>.ipynb, possibly under one enclosing folder. inspect() decides
which file is graded as which notebook and explains everything unusual in plain words: a notebook
that is missing, renamed or not valid JSON, a grade_id that appears twice, an edited locked cell,
a deleted test cell.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import Manifest

MAX_UNZIPPED_BYTES = 4 << 30


@dataclass
class Submission:
    student_id: str
    assignment: str
    files: dict[str, Path]  # file name (without .ipynb) -> path, as handed in
    accepted: dict[str, Path] = field(default_factory=dict)  # expected notebook name -> file graded as it
    notes: list[str] = field(default_factory=list)


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
    return target


def collect(folder: Path, assignments: list[str]) -> list[Submission]:
    """Every <student>/<assignment>/ folder under folder (at any depth) for a known assignment, with the
    notebooks in it (an empty folder is a submission with every notebook missing), sorted by student."""
    found: dict[tuple[str, str], dict[str, Path]] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_dir() and path.name in assignments and len(path.relative_to(folder).parts) >= 2:
            files = {p.stem: p for p in sorted(path.glob("*.ipynb"))}
            found.setdefault((path.parent.name, path.name), {}).update(files)
    if not found:
        raise ValueError(f"no submissions found in {folder}: expected <student_id>/<assignment>/<notebook>.ipynb "
                         f"with <assignment> one of {', '.join(assignments)}")
    return [Submission(student, assignment, files) for (student, assignment), files in sorted(found.items())]


def _read_json(path: Path) -> tuple[dict | None, str | None]:
    try:
        nb = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{path.name} is not a valid notebook file (not JSON: {error}); it scores 0"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, f"{path.name} is JSON but not a Jupyter notebook (no list of cells); it scores 0"
    return nb, None


def _cell_checks(name: str, nb: dict, manifest: Manifest) -> list[str]:
    notes, seen = [], {}
    for cell in nb["cells"]:
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if "grade_id" in meta:
            seen.setdefault(meta["grade_id"], []).append(cell)
    for grade_id, cells in seen.items():
        if len(cells) > 1:
            notes.append(f"{name}: cell `{grade_id}` appears {len(cells)} times (a copied cell); "
                         "only the last copy is graded")
    for grade_id, original in manifest.locked_sources.get(name, {}).items():
        cells = seen.get(grade_id)
        if cells and "".join(cells[-1].get("source", "")) != original:
            notes.append(f"{name}: locked cell `{grade_id}` was edited; it was graded as originally released")
    for test in manifest.tests:
        if test.notebook == name and test.grade_id not in seen:
            notes.append(f"{name}: test cell `{test.grade_id}` was deleted; it scores 0 of {test.points:g}")
    return notes


def inspect(submission: Submission, manifest: Manifest) -> Submission:
    """Fill submission.accepted and submission.notes from the files and what the assignment expects."""
    valid: dict[str, tuple[Path, dict]] = {}
    for name, path in submission.files.items():
        nb, problem = _read_json(path)
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
        if name in valid:
            submission.accepted[name] = valid[name][0]
            submission.notes += _cell_checks(name, valid[name][1], manifest)
    return submission


def without_duplicate_ids(path: Path) -> str:
    """The notebook's JSON with the nbgrader metadata of every copy of a grade_id but the last removed.
    nbgrader's DeduplicateIds also keeps the last copy, but leaves the others with empty metadata that
    its own CheckCellMetadata step then rejects, failing the whole notebook."""
    nb = json.loads(Path(path).read_bytes())
    last = {}
    for index, cell in enumerate(nb["cells"]):
        grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        if grade_id:
            last[grade_id] = index
    for index, cell in enumerate(nb["cells"]):
        grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        if grade_id and last[grade_id] != index:
            del cell["metadata"]["nbgrader"]
    return json.dumps(nb)
