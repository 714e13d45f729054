"""Reading the single source: the py:percent solution notebooks in solutions/."""
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
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    where = f"{notebook.relative()}, cell {index + 1}"
    return f"{where} ({grade_id})" if grade_id else where
