"""Finding and checking submissions before any code runs (fast: no kernel, no nbgrader run)."""
from __future__ import annotations

import json
import zipfile

import nbformat
import pytest

from coursekit.grading.manifest import GradedTest, Manifest
from coursekit.grading.submissions import Submission, collect, extract_zip, inspect, without_duplicate_ids

MANIFEST = Manifest("hw", ["nb"], [GradedTest("nb", "test_a", 2, False), GradedTest("nb", "test_b", 1, True)],
                    {"nb": {"test_a": "assert f() == 1", "test_b": "assert f() == 2"}})


def _notebook(*cells) -> str:
    nb = nbformat.v4.new_notebook()
    for grade_id, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True, "points": 1,
                                     "schema_version": 3, "solution": False}
        nb.cells.append(cell)
    return nbformat.writes(nb)


def _submission(tmp_path, files: dict[str, str]) -> Submission:
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / f"{name}.ipynb"
        paths[name].write_text(text)
    return inspect(Submission("s", "hw", paths), MANIFEST)


def test_collect_finds_students_under_an_enclosing_folder_and_empty_ones(tmp_path):
    (tmp_path / "download" / "alice" / "hw").mkdir(parents=True)
    (tmp_path / "download" / "alice" / "hw" / "nb.ipynb").write_text("{}")
    (tmp_path / "download" / "bob" / "hw").mkdir(parents=True)
    (tmp_path / "download" / "bob" / "other").mkdir(parents=True)
    found = collect(tmp_path, ["hw"])
    assert [(s.student_id, sorted(s.files)) for s in found] == [("alice", ["nb"]), ("bob", [])]
    with pytest.raises(ValueError, match="<student_id>/<assignment>/<notebook>.ipynb"):
        collect(tmp_path / "download" / "bob" / "other", ["hw"])


def test_zip_with_a_path_outside_the_target_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("../escape.txt", "x")
    with pytest.raises(ValueError, match="unsafe path"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_untouched_submission_has_no_notes(tmp_path):
    result = _submission(tmp_path, {"nb": _notebook(("test_a", "assert f() == 1"), ("test_b", "assert f() == 2"))})
    assert result.notes == [] and set(result.accepted) == {"nb"}


def test_each_problem_gets_a_plain_reason(tmp_path):
    edited = _submission(tmp_path, {"nb": _notebook(("test_a", "pass"), ("test_a", "pass"))})
    assert any("appears 2 times" in n for n in edited.notes)
    assert any("locked cell `test_a` was edited" in n for n in edited.notes)
    assert any("test cell `test_b` was deleted; it scores 0 of 1" in n for n in edited.notes)
    (tmp_path / "broken").mkdir()
    broken = _submission(tmp_path / "broken", {"nb": '{"cells": ['})
    assert broken.accepted == {} and "not a valid notebook file" in broken.notes[0]
    (tmp_path / "renamed").mkdir()
    renamed = _submission(tmp_path / "renamed", {"nb (1)": _notebook(("test_a", "assert f() == 1"))})
    assert renamed.accepted["nb"].name == "nb (1).ipynb" and "graded as nb.ipynb" in renamed.notes[0]
    missing = inspect(Submission("s", "hw", {}), MANIFEST)
    assert missing.notes == ["nb.ipynb is missing from the submission; it scores 0"]


def test_duplicate_grade_ids_keep_only_the_last_copy_graded(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text(_notebook(("test_a", "first"), ("test_b", "b"), ("test_a", "last")))
    cells = json.loads(without_duplicate_ids(path))["cells"]
    graded = [("".join(c["source"]), c["metadata"].get("nbgrader", {}).get("grade_id")) for c in cells]
    assert graded == [("first", None), ("b", "test_b"), ("last", "test_a")]
