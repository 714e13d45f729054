"""`make validate NOTEBOOK=<path>`: what a student runs before submitting.

Runs a copy of the notebook top to bottom (the file itself is not changed) and says, in plain words,
which visible tests pass, which fail and why, and anything the grader would treat differently from
what the student sees (an edited locked cell, a copied test cell, an unfinished task).
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbgrader.utils import compute_checksum

from ..sources import is_grade, is_solution, nbgrader_metadata
from .worker import error_message


@dataclass
class CheckResults:
    tests: list[tuple[str, float, str | None]] = field(default_factory=list)  # grade_id, points, error or None
    warnings: list[str] = field(default_factory=list)


def _load(path: Path) -> nbformat.NotebookNode:
    if not path.exists():
        raise ValueError(f"{path} does not exist; pass NOTEBOOK=<path of your .ipynb>")
    try:
        return nbformat.reads(path.read_text(), as_version=4)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError) as error:
        raise ValueError(f"{path} is not a valid notebook ({error}); download it again from Jupyter "
                         "(File > Download) or restore it from a checkpoint") from None


def run_checks(path: Path, cell_timeout: int = 120) -> CheckResults:
    path = Path(path)
    nb = _load(path)
    results, seen = CheckResults(), {}
    for cell in nb.cells:
        meta = nbgrader_metadata(cell)
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        if grade_id in seen:
            results.warnings.append(f"cell `{grade_id}` appears more than once; the grader counts only the "
                                    "last copy. Delete the copies you made.")
        seen[grade_id] = cell
        if meta.get("locked") and meta.get("checksum") and compute_checksum(cell) != meta["checksum"]:
            results.warnings.append(f"you changed the locked cell `{grade_id}`; the grader puts the original "
                                    "back, so your change will not count.")
    with tempfile.TemporaryDirectory(prefix="coursekit-validate-") as sockets:
        # Unix sockets in a private folder: no local TCP port, and no warning about one
        kernel = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"),
                                    connection_file=str(Path(sockets) / "kernel.json"))
        NotebookClient(nb, km=kernel, timeout=cell_timeout, allow_errors=True,
                       resources={"metadata": {"path": str(path.parent.resolve())}}).execute(
            cleanup_kc=True)  # a kernel manager passed in is not shut down otherwise: zmq and kernel warnings at exit
    for cell in nb.cells:
        meta = nbgrader_metadata(cell)
        if is_grade(cell) and cell.cell_type == "code":
            results.tests.append((meta["grade_id"], float(meta.get("points", 0)), error_message(cell)))
        elif is_solution(cell) and "NotImplementedError" in (error_message(cell) or ""):
            results.warnings.append(f"task `{meta['grade_id']}` is not done yet: {error_message(cell)}")
    return results


def report(path: Path, results: CheckResults) -> tuple[str, bool]:
    """The text to print, and whether every visible test passed."""
    passed = [t for t in results.tests if t[2] is None]
    lines = [f"{path}: {len(passed)} of {len(results.tests)} visible tests pass."]
    for grade_id, points, error in results.tests:
        status = "PASS" if error is None else "FAIL"
        lines.append(f"  {status} {grade_id} ({points:g} point{'s' if points != 1 else ''})"
                     + (f": {error}" if error else ""))
    lines += [f"  note: {w}" for w in results.warnings]
    lines.append("The grader also runs hidden tests, so passing every visible test does not guarantee full marks.")
    return "\n".join(lines), len(passed) == len(results.tests)
