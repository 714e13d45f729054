"""Reading the single source: the py:percent solution notebooks in solutions/, and the notebook
format (nbgrader's cell metadata, the solution and hidden-test markers) that every part of coursekit
reads through this module."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


class CourseError(Exception):
    """A problem in the course sources, reported with the notebook and cell it is in."""


@dataclass(frozen=True)
class SolutionNotebook:
    path: Path  # solutions/<assignment>/<name>.py

    @property
    def assignment(self) -> str:
        return self.path.parent.name

    @property
    def name(self) -> str:
        return self.path.stem

    def relative(self) -> str:
        return f"solutions/{self.assignment}/{self.path.name}"

    def read(self) -> nbformat.NotebookNode:
        """The notebook with nbgrader metadata only and a fixed kernel, ready for nbgrader."""
        nb = jupytext.read(self.path, fmt="py:percent")
        for cell in nb.cells:
            cell.metadata = {k: v for k, v in cell.metadata.items() if k == "nbgrader"}
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            cell.pop("id", None)
        nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
        nb.nbformat, nb.nbformat_minor = 4, 5
        for index, cell in enumerate(nb.cells):
            cell["id"] = f"cell-{index}"
        return nb


def solution_notebooks(solutions_dir: Path = SOLUTIONS) -> list[SolutionNotebook]:
    """Every solution notebook, in path order (the order cells are exported in)."""
    return [SolutionNotebook(p) for p in sorted(solutions_dir.glob("*/*.py"))]


def assignments(notebooks: list[SolutionNotebook]) -> list[str]:
    return sorted({nb.assignment for nb in notebooks})


def cell_label(notebook: SolutionNotebook, index: int, cell) -> str:
    """How errors name a cell: the notebook, the cell number and its grade_id if it has one."""
    where = f"{notebook.relative()}, cell {index + 1}"
    return f"{where} ({grade_id(cell)})" if grade_id(cell) else where


# The notebook format, in one place: nbgrader's cell metadata and the region markers.

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
_REGION_OF = {SOLUTION_MARKERS[0]: "solution", HIDDEN_MARKERS[0]: "hidden"}
_END_OF = {SOLUTION_MARKERS[0]: SOLUTION_MARKERS[1], HIDDEN_MARKERS[0]: HIDDEN_MARKERS[1]}
_ENDS = {end: begin for begin, end in _END_OF.items()}


def nbgrader_metadata(cell) -> dict:
    """The cell's nbgrader metadata; {} for a cell nbgrader does not manage."""
    return cell.metadata.get("nbgrader", {})


# is_grade, is_solution and is_locked decide exactly as nbgrader.utils' functions of those names
# (tests/test_sources.py checks it on every cell of the course) without importing nbgrader.

def is_grade(cell) -> bool:
    return bool(nbgrader_metadata(cell).get("grade", False))


def is_solution(cell) -> bool:
    return bool(nbgrader_metadata(cell).get("solution", False))


def is_locked(cell) -> bool:
    if "nbgrader" not in cell.metadata or is_solution(cell):
        return False
    return True if is_grade(cell) else bool(nbgrader_metadata(cell).get("locked", False))


def grade_id(cell) -> str | None:
    return nbgrader_metadata(cell).get("grade_id")


@dataclass
class MarkerScan:
    """A cell source read line by line: each line that is not a marker with the region it is in
    (None, "solution" or "hidden"), the markers met, and what is wrong with them."""

    lines: list[tuple[str, str | None]]
    markers: set[str]
    problems: list[str]

    def inside(self, region: str | None = None) -> list[str]:
        """Lines in a region (any region when None)."""
        return [line for line, where in self.lines if where is not None and (region is None or where == region)]

    def outside(self) -> list[str]:
        return [line for line, where in self.lines if where is None]


def scan_markers(source: str) -> MarkerScan:
    """The one reader of the solution and hidden-test markers (a marker is a whole stripped line)."""
    lines, markers, problems, begin = [], set(), [], None
    for line in source.splitlines():
        stripped = line.strip()
        if stripped in _END_OF or stripped in _ENDS:
            markers.add(stripped)
            if stripped in _END_OF:
                if begin is not None:
                    problems.append(f"`{stripped}` inside an open `{begin}` region (nested markers)")
                begin = stripped
            elif begin is None or _END_OF[begin] != stripped:
                problems.append(f"`{stripped}` without its `{_ENDS[stripped]}` (unbalanced markers)")
            else:
                begin = None
            continue
        lines.append((line, _REGION_OF[begin] if begin else None))
    if begin is not None:
        problems.append(f"`{begin}` is never closed (unbalanced markers)")
    return MarkerScan(lines, markers, problems)
