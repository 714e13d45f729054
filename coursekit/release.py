"""Generate the student notebooks with nbgrader and write them to notebooks/ deterministically.

With verify=True (what `make release` and `make check` do) the release is first graded by the real
grader: every solution notebook, hidden tests included, must get full marks without an error in any
cell, and the untouched student notebook must score 0; otherwise nothing is written and the error
names the notebook and cell. The result is remembered (release-verified.json in the course
directory) until the sources or the grader change.

Every released version of every cell is kept in the course directory's release_history.json
(autograder/release_history.json, committed): the grader counts a locked cell as edited only if it
differs from all of them, so students holding an earlier release are not told they edited it. It is
committed, not kept as grading state, because it records what students were handed: a fresh clone
(another instructor, a TA, CI) must know it too, and git keeps it next to the releases it describes.
"""
from __future__ import annotations

import ast
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.utils import compute_checksum

from . import gradebook
from .grading.manifest import HISTORY_FILE, read_history, released_hashes
from .validate import validate
from .sources import ROOT, CourseError, SolutionNotebook, assignments, grade_id, is_solution

NOTEBOOKS = ROOT / "notebooks"
VERIFIED_FILE = "release-verified.json"
SOURCES_WRITTEN_FILE = "source-written.json"  # hashes of the source notebooks as the last release wrote them


def _edited_sources(course_dir: Path) -> list[str]:
    """Source notebooks changed since the last release wrote them (by the formgrader's editor, say)."""
    written = Path(course_dir) / SOURCES_WRITTEN_FILE
    hashes = json.loads(written.read_text()) if written.exists() else {}
    return [name for name, digest in sorted(hashes.items())
            if (Path(course_dir) / name).exists()
            and hashlib.sha256((Path(course_dir) / name).read_bytes()).hexdigest() != digest]


def write_sources(notebooks: list[SolutionNotebook], course_dir: Path) -> None:
    """Convert the py:percent solutions to .ipynb in the nbgrader source folder (build output).
    Refuses while a source notebook was edited there: the edit would be lost, solutions/ is the source."""
    edited = _edited_sources(course_dir)
    if edited:
        raise CourseError(
            "edited since the last release (by the formgrader or by hand): " + ", ".join(edited)
            + f"; {Path(course_dir).name}/source/ is generated from solutions/ and an edit there is not copied back. "
            "Make the change in the solution notebook (solutions/<assignment>/<notebook>.py), delete the edited "
            "file, and run `make release` again")
    source_root = Path(course_dir) / "source"
    shutil.rmtree(source_root, ignore_errors=True)
    hashes = {}
    for nb in notebooks:
        target = source_root / nb.assignment / f"{nb.name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb.read(), target)
        hashes[target.relative_to(course_dir).as_posix()] = hashlib.sha256(target.read_bytes()).hexdigest()
    (Path(course_dir) / SOURCES_WRITTEN_FILE).write_text(json.dumps(hashes, indent=1) + "\n")


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
            if is_solution(cell):
                name_stubs(cell)
    nb.metadata = {
        "kernelspec": dict(nb.metadata.get("kernelspec", {})),
        "language_info": {"name": "python"},
        "tinytorch_lite": {"generated_from": source.relative(), "generated_by": "make release",
                           "note": "student version; edit the source, not this file"},
    }
    return nb


def record_history(notebooks: list[SolutionNotebook], course_dir: Path) -> None:
    """Add this release's cells to the release history (append only, deterministic)."""
    history = read_history(course_dir)
    for nb in notebooks:
        released = released_hashes(nbformat.read(Path(course_dir) / "release" / nb.assignment / f"{nb.name}.ipynb",
                                                 as_version=4))
        entry = history.setdefault(f"{nb.assignment}/{nb.name}", {"given": [], "locked": {}})
        entry["given"] = sorted(set(entry["given"]) | set(released["given"]))
        for grade_id, hashes in released["locked"].items():
            entry["locked"][grade_id] = sorted(set(entry["locked"].get(grade_id, [])) | set(hashes))
    text = json.dumps(history, indent=1, sort_keys=True) + "\n"
    path = Path(course_dir) / HISTORY_FILE
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def answered_notebook(released: Path, source: Path) -> nbformat.NotebookNode:
    """The released notebook with every answer cell filled in from the source: a student who wrote
    the reference solution."""
    nb = nbformat.read(released, as_version=4)
    by_id = {grade_id(c): c.source for c in nbformat.read(source, 4).cells}
    for cell in nb.cells:
        if is_solution(cell):
            cell.source = by_id[grade_id(cell)]
    return nb


def _verification_key(course_dir: Path, names: list[str]) -> str:
    digest = hashlib.sha256()
    for folder in ("source", "release"):
        for path in sorted((Path(course_dir) / folder).glob("*/*.ipynb")):
            if path.parent.name in names:
                digest.update(path.relative_to(course_dir).as_posix().encode() + path.read_bytes())
    for code in sorted((Path(__file__).parent / "grading").glob("*.py")):
        digest.update(code.read_bytes())
    return digest.hexdigest()


def verify(course_dir: Path, names: list[str]) -> None:
    """Grade each assignment's solution and untouched release with the real grader (sandboxed where the
    machine allows, else directly: it is the instructor's own code); raise CourseError naming every
    notebook and cell that does not grade as it should."""
    from .grading import runner, sandbox  # the grader imports nbgrader's whole app
    from .grading.submissions import Submission

    key, cache = _verification_key(course_dir, names), Path(course_dir) / VERIFIED_FILE
    if cache.exists() and json.loads(cache.read_text()).get("key") == key:
        return
    try:
        sandbox.check_available()
        unsafe = False
    except sandbox.SandboxUnavailable:
        unsafe = True
    problems = []
    with tempfile.TemporaryDirectory(prefix="coursekit-verify-") as scratch:
        course, submissions = Path(scratch), []
        for folder in ("source", "release"):
            for name in names:
                shutil.copytree(Path(course_dir) / folder / name, course / folder / name)
        for name in names:
            files = {}
            for released in sorted((course / "release" / name).glob("*.ipynb")):
                files[released.stem] = course / "solved" / name / released.name
                files[released.stem].parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(answered_notebook(released, course / "source" / name / released.name),
                               files[released.stem])
            untouched = {p.stem: p for p in (course / "release" / name).glob("*.ipynb")}
            submissions += [Submission("solution", name, files), Submission("untouched", name, untouched)]
        for outcome in runner.grade(course, submissions, jobs=2, unsafe=unsafe, force=True, progress=False):
            for test_key, test in outcome.tests.items():
                notebook, grade_id = test_key.split("/", 1)
                where = f"solutions/{outcome.assignment}/{notebook}.py, test cell `{grade_id}`"
                if outcome.student_id == "solution" and test["score"] < test["max_score"]:
                    problems.append(f"{where} fails on the solution: {test['message']}")
                if outcome.student_id == "untouched" and test["score"] > 0:
                    problems.append(f"{where} gives {test['score']:g} points to the untouched student notebook")
            if outcome.student_id == "solution":
                problems += [f"solutions/{outcome.assignment}: the solution {note}" for note in outcome.notes]
    if problems:
        raise CourseError("the release does not grade as it should (nothing was written to notebooks/):\n  "
                          + "\n  ".join(problems))
    cache.write_text(json.dumps({"key": key}) + "\n")


def release(notebooks: list[SolutionNotebook], course_dir: Path = gradebook.COURSE_DIR,
            out_dir: Path = NOTEBOOKS, verify_grading: bool = False) -> list[Path]:
    """Validate, run nbgrader generate_assignment, (verify the grading,) record the release history,
    write normalised notebooks; drop stale ones."""
    validate(notebooks)
    write_sources(notebooks, course_dir)
    gradebook.write_config_file(course_dir)
    api = gradebook.api(course_dir)
    shutil.rmtree(Path(course_dir) / "release", ignore_errors=True)
    for assignment in assignments(notebooks):
        gradebook.generate(api, assignment, gradebook.db_url(course_dir))
    if verify_grading:
        verify(course_dir, assignments(notebooks))
    record_history(notebooks, course_dir)
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
