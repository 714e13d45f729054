"""What an assignment expects: its notebooks, graded tests (points, hidden or not), answer and locked
cells (with every version of them ever released), and a gradebook template holding only that
assignment, which each worker grades against."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import nbgrader
import sqlalchemy
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI

from .. import gradebook

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"
HISTORY_FILE = "release_history.json"  # every version of every cell ever released, see release.py
SETUP_LOCK = 7_163_001  # PostgreSQL advisory lock id for creating the gradebook tables


@dataclass
class GradedTest:
    notebook: str
    grade_id: str
    points: float
    hidden: bool

    @property
    def key(self) -> str:
        return f"{self.notebook}/{self.grade_id}"


@dataclass
class NotebookCells:
    """What a submitted notebook's cells are checked against."""
    answer_ids: set[str] = field(default_factory=set)  # the solution cells, whose contents the student writes
    locked_ids: set[str] = field(default_factory=set)  # every other cell with a grade_id
    released: dict[str, set[str]] = field(default_factory=dict)  # locked grade_id -> hashes of every released version
    given: set[str] = field(default_factory=set)  # hashes of every released version of cells without a grade_id
    stubs: dict[str, str] = field(default_factory=dict)  # answer grade_id -> the released (unanswered) source


@dataclass
class Manifest:
    assignment: str
    notebooks: list[str]
    tests: list[GradedTest]
    cells: dict[str, NotebookCells] = field(default_factory=dict)
    source_dir: Path | None = None
    manual: list[GradedTest] = field(default_factory=list)  # answer and task cells graded by hand

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests)

    def source_path(self, notebook: str) -> Path:
        return self.source_dir / f"{notebook}.ipynb"

    def to_dict(self) -> dict:
        return {"assignment": self.assignment, "notebooks": self.notebooks, "tests": [vars(t) for t in self.tests],
                "manual": [vars(t) for t in self.manual]}


def cell_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def released_hashes(nb: nbformat.NotebookNode) -> dict:
    """One released notebook's cells as the release history keeps them: hashes of locked cells by
    grade_id and of cells without a grade_id (answer cells are the student's, so not kept)."""
    locked, given = {}, []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") and not meta.get("solution"):
            locked[meta["grade_id"]] = [cell_hash(cell.source)]
        elif not meta.get("grade_id") and cell.source.strip():
            given.append(cell_hash(cell.source))
    return {"locked": locked, "given": sorted(set(given))}


def read_history(course_dir: Path) -> dict:
    path = Path(course_dir) / HISTORY_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def read_manifest(course_dir: Path, assignment: str) -> Manifest:
    source = Path(course_dir) / "source" / assignment
    paths = sorted(source.glob("*.ipynb"))
    if not paths:
        raise LookupError(f"no source notebooks in {source}; run `make release` first")
    history = read_history(course_dir)
    tests, manual, cells = [], [], {}
    for path in paths:
        spec = cells[path.stem] = NotebookCells()
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
                tests.append(GradedTest(path.stem, meta["grade_id"], float(meta.get("points", 0)),
                                        HIDDEN_MARKER in cell.source))
            elif meta.get("grade") or meta.get("task"):  # an answer or a task graded by hand
                manual.append(GradedTest(path.stem, meta["grade_id"], float(meta.get("points", 0)), False))
            if meta.get("solution"):
                spec.answer_ids.add(meta["grade_id"])
            elif meta.get("grade_id"):
                spec.locked_ids.add(meta["grade_id"])
        released_path = Path(course_dir) / "release" / assignment / path.name
        if not released_path.exists():
            raise LookupError(f"no released notebook {released_path}; run `make release` first")
        released = nbformat.read(released_path, as_version=4)
        spec.stubs = {c.metadata["nbgrader"]["grade_id"]: c.source for c in released.cells
                      if c.metadata.get("nbgrader", {}).get("solution")}
        past = history.get(f"{assignment}/{path.stem}", {})
        current = released_hashes(released)
        spec.given = set(current["given"]) | set(past.get("given", []))
        for grade_id in spec.locked_ids:
            spec.released[grade_id] = (set(current["locked"].get(grade_id, []))
                                       | set(past.get("locked", {}).get(grade_id, [])))
    return Manifest(assignment, [p.stem for p in paths], tests, cells, source, manual)


def _generate(course_dir: Path, assignment: str, url: str) -> None:
    """nbgrader generate_assignment from a copy of the source, into the gradebook at url."""
    with tempfile.TemporaryDirectory(prefix="coursekit-generate-") as scratch:
        shutil.copytree(Path(course_dir) / "source" / assignment, Path(scratch) / "source" / assignment)
        gradebook._put_environment_on_path()
        api = NbGraderAPI(config=gradebook.nbgrader_config(Path(scratch), url))
        gradebook.generate(api, assignment, url)


def build_template(course_dir: Path, assignment: str, target: Path, real_url: str) -> None:
    """A SQLite gradebook at target with only this assignment; also make sure the real gradebook holds
    the assignment's current tests and points (a new PostgreSQL gradebook starts empty; a release may
    have added a test or changed its points). Templates are kept in the course directory
    (as grading-template-<assignment>-<hash of its source>.db) since nbgrader takes seconds to make one."""
    digest = hashlib.sha256(nbgrader.__version__.encode())
    for path in sorted((Path(course_dir) / "source" / assignment).glob("*.ipynb")):
        digest.update(path.name.encode() + path.read_bytes())
    cached = Path(course_dir) / f"grading-template-{assignment}-{digest.hexdigest()[:16]}.db"
    if not cached.exists():
        for stale in Path(course_dir).glob(f"grading-template-{assignment}-*.db"):
            stale.unlink()
        partial = cached.with_suffix(f".partial{os.getpid()}")
        _generate(course_dir, assignment, f"sqlite:///{partial.resolve()}")
        partial.replace(cached)
    shutil.copyfile(cached, target)
    manifest = read_manifest(course_dir, assignment)
    expected = {(t.notebook, t.grade_id): t.points for t in manifest.tests + manifest.manual}
    with _first_grader_only(real_url):
        if _graded_cells(real_url, assignment) != expected:  # new, or its tests or points changed since
            _generate(course_dir, assignment, real_url)


@contextmanager
def _first_grader_only(url: str):
    """On PostgreSQL, graders starting at once take turns to create the tables and the assignment."""
    if not url.startswith("postgresql"):
        yield
        return
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"SELECT pg_advisory_lock({SETUP_LOCK})"))
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text(f"SELECT pg_advisory_unlock({SETUP_LOCK})"))
    finally:
        engine.dispose()


def _graded_cells(url: str, assignment: str) -> dict[tuple[str, str], float] | None:
    """(notebook, grade_id) -> points of the assignment's tests as the gradebook holds them; None if absent."""
    with Gradebook(url) as gb:
        try:
            notebooks = gb.find_assignment(assignment).notebooks
        except MissingEntry:
            return None
        return {(nb.name, cell.name): float(cell.max_score) for nb in notebooks
                for cell in nb.grade_cells + nb.task_cells}
