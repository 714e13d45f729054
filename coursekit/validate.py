"""Check the solution notebooks before nbgrader sees them; every problem names notebook and cell."""
from __future__ import annotations

import ast

from . import fair_tests
from .sources import HIDDEN_MARKERS, SOLUTION_MARKERS
from .sources import CourseError, SolutionNotebook, cell_label


def _markers_balanced(source: str, begin: str, end: str) -> bool:
    depth = 0
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == begin:
            if depth:
                return False
            depth = 1
        elif stripped == end:
            if not depth:
                return False
            depth = 0
    return depth == 0


def _has(source: str, marker: str) -> bool:
    return any(line.strip() == marker for line in source.splitlines())


def _positive(points) -> bool:
    return isinstance(points, (int, float)) and not isinstance(points, bool) and points > 0


def _task_problems(cell, meta) -> list[str]:
    """nbgrader's task cell: Markdown describing work graded by hand, neither answer nor test."""
    problems = []
    if cell.cell_type != "markdown":
        problems.append("is a task cell but not Markdown; nbgrader takes task cells only as Markdown")
    if meta.get("solution") or meta.get("grade"):
        problems.append('is a task cell also marked as solution or graded; a task has `"solution": false, '
                        '"grade": false`')
    if not _positive(meta.get("points")):
        problems.append(f"is a task cell with points {meta.get('points')!r}; give it a positive number")
    if not meta.get("locked"):
        problems.append('is a task cell that is not locked; set `"locked": true` (as nbgrader\'s editor does)')
    return problems


def cell_problems(cell) -> list[str]:
    """What is wrong with one cell, in words that say how to fix it."""
    meta = cell.metadata.get("nbgrader")
    source = cell.source
    problems = []
    has_solution = _has(source, SOLUTION_MARKERS[0]) or _has(source, SOLUTION_MARKERS[1])
    has_hidden = _has(source, HIDDEN_MARKERS[0]) or _has(source, HIDDEN_MARKERS[1])
    if meta is None:
        if has_solution:
            problems.append("has solution markers but no nbgrader metadata; mark it `\"solution\": true`")
        if has_hidden:
            problems.append("has hidden tests but is not a graded test cell")
        return problems
    if meta.get("schema_version") != 3:
        problems.append(f"schema_version is {meta.get('schema_version')!r}; it must be 3")
    if not meta.get("grade_id"):
        problems.append("has nbgrader metadata but no grade_id")
    solution, grade, task = bool(meta.get("solution")), bool(meta.get("grade")), bool(meta.get("task"))
    markdown = cell.cell_type == "markdown"
    if task:
        problems += _task_problems(cell, meta)
    elif markdown and grade != solution:
        problems.append("is a Markdown cell marked only as " + ("graded" if grade else "a solution")
                        + '; a written answer graded by hand is `"solution": true, "grade": true, "points": N`, '
                        'a task graded by hand is `"task": true`')
    if solution and grade and not _positive(meta.get("points")):
        problems.append(f"is an answer graded by hand but has points {meta.get('points')!r}; give it a positive number")
    if solution and meta.get("locked"):
        problems.append('is an answer cell that is locked; the student writes in it: set `"locked": false`')
    if solution and not markdown:
        if not (_has(source, SOLUTION_MARKERS[0]) and _has(source, SOLUTION_MARKERS[1])):
            problems.append("is a solution cell without `### BEGIN SOLUTION` / `### END SOLUTION`; "
                            "nbgrader would wipe the whole cell")
        elif not _markers_balanced(source, *SOLUTION_MARKERS):
            problems.append("has unbalanced or nested solution markers")
    elif solution and not _markers_balanced(source, *SOLUTION_MARKERS):
        problems.append("has unbalanced or nested solution markers")
    elif has_solution and not solution:
        problems.append("has solution markers but is not a solution cell")
    if grade and not solution and not markdown:
        if not _positive(meta.get("points")):
            problems.append(f"is graded but has points {meta.get('points')!r}; give it a positive number")
        if not meta.get("locked"):
            problems.append("is a graded test cell that is not locked; set `\"locked\": true`")
        try:
            body = ast.parse(source).body
            opens_with_docstring = bool(body) and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str)
        except SyntaxError as error:
            problems.append(f"does not parse: {error}")
            opens_with_docstring = True
        if not opens_with_docstring:
            problems.append('must open with a one-line """Check that ...""" docstring')
        problems += fair_tests.problems(source)
    if has_hidden:
        if not grade or solution or markdown:
            problems.append("has hidden tests but is not a graded test cell")
        elif not _markers_balanced(source, *HIDDEN_MARKERS):
            problems.append("has unbalanced or nested hidden-test markers")
    return problems


def validate(notebooks: list[SolutionNotebook]) -> None:
    """Raise CourseError listing every problem in the course sources."""
    problems, seen = [], {}
    for nb in notebooks:
        cells = nb.read().cells
        if not any(c.metadata.get("nbgrader", {}).get("grade") for c in cells):
            problems.append(f"{nb.relative()}: has no graded test cell")
        for index, cell in enumerate(cells):
            label = cell_label(nb, index, cell)
            problems += [f"{label}: {p}" for p in cell_problems(cell)]
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id:
                if grade_id in seen:
                    problems.append(f"{label}: grade_id {grade_id!r} is already used in {seen[grade_id]}")
                seen.setdefault(grade_id, label)
    if problems:
        raise CourseError("the course sources have problems:\n  " + "\n  ".join(problems))
