"""Generate the student notebooks with nbgrader and write them to notebooks/ deterministically."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import nbformat
from nbgrader.utils import compute_checksum

from . import gradebook
from .sources import ROOT, SolutionNotebook, assignments
from .validate import validate

NOTEBOOKS = ROOT / "notebooks"


def write_sources(notebooks: list[SolutionNotebook], course_dir: Path) -> None:
    """Convert the py:percent solutions to .ipynb in the nbgrader source folder (build output)."""
    source_root = Path(course_dir) / "source"
    shutil.rmtree(source_root, ignore_errors=True)
    for nb in notebooks:
        target = source_root / nb.assignment / f"{nb.name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb.read(), target)


def _enclosing_function(source: str, line_number: int) -> str | None:
    """The qualified name of the innermost function or class around a 1-based line, if any."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    best = None

    def visit(node, prefix):
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if child.lineno <= line_number <= child.end_lineno:
                    best = name
                    visit(child, name + ".")

    visit(tree, "")
    return best


def name_stubs(cell) -> None:
    """Make each `raise NotImplementedError()` stub say which function the student is to write."""
    lines = cell.source.splitlines()
    for number, line in enumerate(lines, start=1):
        if line.strip() == "raise NotImplementedError()":
            where = _enclosing_function(cell.source, number)
            task = f"{where}: " if where else ""
            lines[number - 1] = line.replace(
                "NotImplementedError()", f'NotImplementedError("{task}replace this line with your code")')
    cell.source = "\n".join(lines)
    cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)


def normalise(nb: nbformat.NotebookNode, source: SolutionNotebook) -> nbformat.NotebookNode:
    """Outputs cleared, stable cell ids, fixed metadata: regenerating gives identical bytes."""
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "nbgrader"}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if cell.metadata.get("nbgrader", {}).get("solution"):
                name_stubs(cell)
    nb.metadata = {
        "kernelspec": dict(nb.metadata.get("kernelspec", {})),
        "language_info": {"name": "python"},
        "tinytorch_lite": {"generated_from": source.relative(), "generated_by": "make release",
                           "note": "student version; edit the source, not this file"},
    }
    return nb


def release(notebooks: list[SolutionNotebook], course_dir: Path = gradebook.COURSE_DIR,
            out_dir: Path = NOTEBOOKS) -> list[Path]:
    """Validate, run nbgrader generate_assignment, write normalised notebooks; drop stale ones."""
    validate(notebooks)
    write_sources(notebooks, course_dir)
    api = gradebook.api(course_dir)
    shutil.rmtree(Path(course_dir) / "release", ignore_errors=True)
    for assignment in assignments(notebooks):
        gradebook.check(api.generate_assignment(assignment, force=True, create=True),
                        f"generate_assignment {assignment}")
    written = []
    for nb in notebooks:
        released = Path(course_dir) / "release" / nb.assignment / f"{nb.name}.ipynb"
        target = Path(out_dir) / nb.assignment / f"{nb.name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        text = nbformat.writes(normalise(nbformat.read(released, as_version=4), nb)) + "\n"
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
        written.append(target)
    for stale in Path(out_dir).rglob("*.ipynb"):
        if stale not in written:
            stale.unlink()
    for folder in sorted(Path(out_dir).glob("*"), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return written
