"""What the two catalogues of student implementations share: tests/wrong_implementations/ (each entry must
lose points) and tests/alternative_implementations/ (each entry must keep full marks).

An entry is a dict with keys
  id          short name, unique across its catalogue
  notebook    the solution source it applies to, e.g. "solutions/02_tensor/tensor.py"
  description what the student writes
  find        an exact snippet that lies inside one solution region of that source
  replace     the student's version of that snippet
"""
from __future__ import annotations

import ast
import functools
import importlib
import pkgutil
import textwrap
from pathlib import Path

import nbformat

import autograde
from coursekit.sources import SOLUTION_MARKERS
from coursekit.sources import ROOT, SolutionNotebook, solution_notebooks

NOTEBOOKS = {nb.relative(): nb for nb in solution_notebooks()}


def load(package: str, attribute: str) -> list[dict]:
    """Every entry of the modules of `package` (their list `attribute`), in module order."""
    module = importlib.import_module(package)
    entries = []
    for info in pkgutil.iter_modules(module.__path__):
        entries += getattr(importlib.import_module(f"{package}.{info.name}"), attribute)
    return entries


def _functions(source: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function and class in the source."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.append((child.lineno, child.end_lineno, prefix + child.name))
                visit(child, f"{prefix}{child.name}.")

    visit(ast.parse(source), "")
    return found


@functools.lru_cache(maxsize=None)
def regions(source: str) -> list[tuple[int, int, str]]:
    """(start, end, label) of each solution region's body; the label is the qualified name of the
    innermost function around it ("Tensor.__add__._backward") and, when that function has several
    regions, the region's number in it ("embedding_backward#2")."""
    functions, found = _functions(source), []
    begin = source.find(SOLUTION_MARKERS[0])
    while begin != -1:
        start = source.index("\n", begin) + 1
        end = source.rindex("\n", 0, source.index(SOLUTION_MARKERS[1], start)) + 1
        line = source.count("\n", 0, start) + 1
        around = [f for f in functions if f[0] <= line <= f[1]]
        found.append((start, end, max(around, key=lambda f: f[0])[2] if around else "module"))
        begin = source.find(SOLUTION_MARKERS[0], end)
    names = [name for _, _, name in found]
    labels, seen = [], {}
    for start, end, name in found:
        seen[name] = seen.get(name, 0) + 1
        labels.append((start, end, name if names.count(name) == 1 else f"{name}#{seen[name]}"))
    return labels


def region_text(notebook: str, label: str) -> str:
    """The instructor's body of one solution region, to be replaced whole by an entry."""
    source = (ROOT / notebook).read_text()
    return next(source[start:end] for start, end, name in regions(source) if name == label)


def rewrite(notebook: str, label: str, entry_id: str, description: str, code: str) -> dict:
    """An entry that replaces the whole body of one region with `code` (written without indentation;
    it gets the region's)."""
    body = region_text(notebook, label)
    indent = body[:len(body) - len(body.lstrip())]
    return {"id": entry_id, "notebook": notebook, "description": description, "find": body,
            "replace": textwrap.indent(textwrap.dedent(code).strip("\n") + "\n", indent)}


def region_of(entry: dict) -> str | None:
    """The label of the one solution region that holds the entry's `find`, or None."""
    source = (ROOT / entry["notebook"]).read_text()
    start = source.find(entry["find"])
    end = start + len(entry["find"])
    return next((name for first, last, name in regions(source) if first <= start and end <= last), None)


def well_formed_problems(entries: list[dict]) -> list[str]:
    problems = []
    ids = [entry["id"] for entry in entries]
    problems += [f"{i}: id used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    for entry in entries:
        if entry["notebook"] not in NOTEBOOKS:
            problems.append(f"{entry['id']}: unknown notebook {entry['notebook']}")
            continue
        count = (ROOT / entry["notebook"]).read_text().count(entry["find"])
        if count != 1:
            problems.append(f"{entry['id']}: `find` occurs {count} times in {entry['notebook']}, need exactly 1")
        elif region_of(entry) is None:
            problems.append(f"{entry['id']}: `find` is not inside one solution region; students could not write it")
        if entry["replace"] == entry["find"]:
            problems.append(f"{entry['id']}: `replace` is the same as `find`")
    return problems


def student_notebook(notebook: str, entries: list[dict], folder: Path) -> Path:
    """The solution notebook with every entry's edit applied, as .ipynb in `folder`."""
    original = NOTEBOOKS[notebook]
    source = original.path.read_text()
    for entry in entries:
        assert source.count(entry["find"]) == 1, f"{entry['id']}: `find` no longer occurs exactly once"
        source = source.replace(entry["find"], entry["replace"])
    edited = folder / original.assignment / original.path.name
    edited.parent.mkdir(parents=True, exist_ok=True)
    edited.write_text(source)
    target = edited.with_suffix(".ipynb")
    nbformat.write(SolutionNotebook(edited).read(), target)
    return target


def grade(built_course: Path, students: dict[str, tuple[str, list[dict]]], folder: Path) -> dict[str, dict]:
    """Grade {student_id: (notebook, entries)}, each student submitting only that one notebook, edited;
    returns {student_id: {"score", "max_score", "lost": [tests that lost points]}} for that notebook."""
    by_assignment: dict[str, dict[str, dict[str, Path]]] = {}
    for student_id, (notebook, entries) in students.items():
        nb = NOTEBOOKS[notebook]
        by_assignment.setdefault(nb.assignment, {})[student_id] = {
            nb.name: student_notebook(notebook, entries, folder / student_id)}
    results = {}
    for assignment, submissions in by_assignment.items():
        for student_id, result in autograde.autograde(built_course, assignment, submissions).items():
            name = next(iter(submissions[student_id]))
            score, max_score = result["notebooks"][name]
            lost = sorted(test for test, (got, most) in result["tests"].items()
                          if test.startswith(f"{name}/") and (got or 0) < most)
            results[student_id] = {"score": score, "max_score": max_score, "lost": lost}
    return results
