"""Every plausible wrong implementation in the catalogue must lose points under nbgrader."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from coursekit import autograde
from coursekit.export import SOLUTION_MARKERS
from coursekit.sources import ROOT, SolutionNotebook, solution_notebooks
from wrong_implementations import catalogue

CATALOGUE = catalogue()
NOTEBOOKS = {nb.relative(): nb for nb in solution_notebooks()}


def _inside_one_solution_region(source: str, start: int, end: int) -> bool:
    begin = source.rfind(SOLUTION_MARKERS[0], 0, start)
    return begin != -1 and source.find(SOLUTION_MARKERS[1], begin) >= end and \
        source.find(SOLUTION_MARKERS[1], begin, start) == -1


def test_catalogue_is_well_formed():
    ids = [entry["id"] for entry in CATALOGUE]
    assert len(ids) == len(set(ids)), "catalogue ids must be unique"
    for entry in CATALOGUE:
        assert entry["notebook"] in NOTEBOOKS, f"{entry['id']}: unknown notebook {entry['notebook']}"
        source = (ROOT / entry["notebook"]).read_text()
        count = source.count(entry["find"])
        assert count == 1, f"{entry['id']}: `find` occurs {count} times in {entry['notebook']}, need exactly 1"
        start = source.index(entry["find"])
        assert _inside_one_solution_region(source, start, start + len(entry["find"])), \
            f"{entry['id']}: `find` is not inside one solution region; students could not write it"
        assert entry["replace"] != entry["find"]


def _wrong_notebook(entry: dict, folder: Path) -> Path:
    original = NOTEBOOKS[entry["notebook"]]
    wrong_source = folder / original.assignment / original.path.name
    wrong_source.parent.mkdir(parents=True, exist_ok=True)
    wrong_source.write_text(original.path.read_text().replace(entry["find"], entry["replace"]))
    target = wrong_source.with_suffix(".ipynb")
    nbformat.write(SolutionNotebook(wrong_source).read(), target)
    return target


@pytest.mark.catalogue
def test_every_wrong_implementation_loses_points(built_course, tmp_path):
    """Each entry is one 'student' who submits only the notebook the mistake is in; that notebook
    must score below its own full marks (the other notebooks, missing, are not counted)."""
    by_assignment: dict[str, dict[str, dict[str, Path]]] = {}
    for entry in CATALOGUE:
        nb = NOTEBOOKS[entry["notebook"]]
        by_assignment.setdefault(nb.assignment, {})[entry["id"]] = {
            nb.name: _wrong_notebook(entry, tmp_path / entry["id"])}
    escaped = []
    for assignment, submissions in by_assignment.items():
        for entry_id, result in autograde.autograde(built_course, assignment, submissions).items():
            name = next(iter(submissions[entry_id]))
            score, max_score = result["notebooks"][name]
            assert max_score > 0, f"{entry_id}: {name} has no graded tests"
            if score >= max_score:
                escaped.append(entry_id)
    assert not escaped, f"these wrong implementations still get full marks: {escaped}"
