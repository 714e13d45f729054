"""What an assignment expects: its notebooks, graded tests (points, hidden or not) and locked cells,
and a gradebook template holding only that assignment, which each worker grades against."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI

from .. import gradebook

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"


@dataclass
class Test:
    notebook: str
    grade_id: str
    points: float
    hidden: bool

    @property
    def key(self) -> str:
        return f"{self.notebook}/{self.grade_id}"


@dataclass
class Manifest:
    assignment: str
    notebooks: list[str]
    tests: list[Test]
    locked_sources: dict[str, dict[str, str]] = field(default_factory=dict)  # notebook -> grade_id -> release source

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests)

    def to_dict(self) -> dict:
        return {"assignment": self.assignment, "notebooks": self.notebooks,
                "tests": [vars(t) for t in self.tests], "locked_sources": self.locked_sources}


def read_manifest(course_dir: Path, assignment: str) -> Manifest:
    source = Path(course_dir) / "source" / assignment
    paths = sorted(source.glob("*.ipynb"))
    if not paths:
        raise LookupError(f"no source notebooks in {source}; run `make release` first")
    tests, locked = [], {}
    for path in paths:
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "code":
                tests.append(Test(path.stem, meta["grade_id"], float(meta.get("points", 0)),
                                  HIDDEN_MARKER in cell.source))
        released = Path(course_dir) / "release" / assignment / path.name
        if released.exists():
            locked[path.stem] = {c.metadata["nbgrader"]["grade_id"]: c.source
                                 for c in nbformat.read(released, as_version=4).cells
                                 if c.metadata.get("nbgrader", {}).get("locked")}
    return Manifest(assignment, [p.stem for p in paths], tests, locked)


def _generate(course_dir: Path, assignment: str, url: str) -> None:
    """nbgrader generate_assignment from a copy of the source, into the gradebook at url."""
    with tempfile.TemporaryDirectory(prefix="coursekit-generate-") as scratch:
        shutil.copytree(Path(course_dir) / "source" / assignment, Path(scratch) / "source" / assignment)
        gradebook._put_environment_on_path()
        api = NbGraderAPI(config=gradebook.nbgrader_config(Path(scratch), url))
        gradebook.check(api.generate_assignment(assignment, force=True, create=True),
                        f"generate_assignment {assignment}")


def build_template(course_dir: Path, assignment: str, target: Path, real_url: str) -> None:
    """A fresh SQLite gradebook at target with only this assignment; also make sure the real gradebook
    knows the assignment (a new PostgreSQL gradebook starts empty)."""
    _generate(course_dir, assignment, f"sqlite:///{Path(target).resolve()}")
    if not _has_assignment(real_url, assignment):
        try:
            _generate(course_dir, assignment, real_url)
        except RuntimeError:
            if not _has_assignment(real_url, assignment):  # else another grader added it at the same time
                raise


def _has_assignment(url: str, assignment: str) -> bool:
    with Gradebook(url) as gb:
        try:
            gb.find_assignment(assignment)
            return True
        except MissingEntry:
            return False
