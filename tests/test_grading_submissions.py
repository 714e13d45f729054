"""Finding and checking submissions before any code runs, and rebuilding what is graded (fast: no
kernel, no nbgrader run)."""
from __future__ import annotations

import json
import types
import zipfile

import nbformat
import pytest

from coursekit import release
from coursekit.grading.manifest import GradedTest, Manifest, NotebookCells, cell_hash, read_history
from coursekit.grading.submissions import ADDED_CELLS_TITLE, Submission, collect, extract_zip, inspect, rebuild

OLD_TEST_A, TEST_A, TEST_B = "assert f() == 1  # old hint", "assert f() == 1", "assert f() == 2"
GIVEN = "import math"


def _cell(grade_id, source, solution=False):
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade": not solution, "grade_id": grade_id, "locked": not solution,
                                     "points": 1, "schema_version": 3, "solution": solution}
    return cell


def _notebook(*cells) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell(*c) for c in cells]
    return nbformat.writes(nb)


@pytest.fixture
def manifest(tmp_path) -> Manifest:
    """An assignment `hw` with one notebook: a given cell, an answer cell and two tests (b hidden),
    test_a released in two versions."""
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "nb.ipynb").write_text(_notebook(
        (None, GIVEN), ("answer", "def f():\n    return 1  # the reference", True), ("test_a", TEST_A),
        ("test_b", TEST_B + "\n### BEGIN HIDDEN TESTS\nassert f() != 3\n### END HIDDEN TESTS")))
    cells = NotebookCells(answer_ids={"answer"}, locked_ids={"test_a", "test_b"},
                          released={"test_a": {cell_hash(OLD_TEST_A), cell_hash(TEST_A)},
                                    "test_b": {cell_hash(TEST_B)}},
                          given={cell_hash(GIVEN)}, stubs={"answer": "def f():\n    raise NotImplementedError()"})
    return Manifest("hw", ["nb"], [GradedTest("nb", "test_a", 1, False), GradedTest("nb", "test_b", 1, True)],
                    {"nb": cells}, tmp_path / "source")


def _submission(folder, manifest, files: dict[str, str | bytes]) -> Submission:
    folder.mkdir(exist_ok=True)
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.ipynb"
        paths[name].write_bytes(content if isinstance(content, bytes) else content.encode())
    return inspect(Submission("s", "hw", paths), manifest)


def test_collect_finds_students_under_an_enclosing_folder_and_empty_ones_and_follows_no_link(tmp_path):
    (tmp_path / "download" / "alice" / "hw").mkdir(parents=True)
    (tmp_path / "download" / "alice" / "hw" / "nb.ipynb").write_text("{}")
    (tmp_path / "download" / "alice" / "hw" / "linked.ipynb").symlink_to("/etc/passwd")
    (tmp_path / "download" / "bob" / "hw").mkdir(parents=True)
    (tmp_path / "download" / "bob" / "other").mkdir(parents=True)
    found = collect(tmp_path, ["hw"])
    assert [(s.student_id, sorted(s.files)) for s in found] == [("alice", ["nb"]), ("bob", [])]
    assert found[0].notes == ["linked.ipynb is a link or not a regular file; it was not read"]
    with pytest.raises(ValueError, match="<student_id>/<assignment>/<notebook>.ipynb"):
        collect(tmp_path / "download" / "bob" / "other", ["hw"])


def test_zip_with_a_path_outside_the_target_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("../escape.txt", "x")
    with pytest.raises(ValueError, match="unsafe path"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_untouched_submission_has_no_notes(tmp_path, manifest):
    result = _submission(tmp_path / "s", manifest, {"nb": _notebook(
        (None, GIVEN), ("answer", "def f():\n    raise NotImplementedError()", True), ("test_a", TEST_A),
        ("test_b", TEST_B))})
    assert result.notes == [] and set(result.accepted) == {"nb"}


def test_each_problem_gets_a_plain_reason(tmp_path, manifest):
    edited = _submission(tmp_path / "e", manifest, {"nb": _notebook(("answer", "x = 1", True), ("test_a", "pass"),
                                                                    ("test_a", "pass"))})
    assert any("appears 2 times" in n and "released version is graded" in n for n in edited.notes)
    assert any("locked cell `test_a` was edited" in n for n in edited.notes)
    assert any("test cell `test_b` was deleted; it was restored from the release" in n for n in edited.notes)
    broken = _submission(tmp_path / "b", manifest, {"nb": '{"cells": ['})
    assert broken.accepted == {} and "not a valid notebook file" in broken.notes[0]
    renamed = _submission(tmp_path / "r", manifest, {"nb (1)": _notebook(("test_a", TEST_A))})
    assert renamed.accepted["nb"].name == "nb (1).ipynb" and "graded as nb.ipynb" in renamed.notes[0]
    assert "nb: answer cell `answer` is missing; it was graded as unanswered" in renamed.notes
    missing = inspect(Submission("s", "hw", {}), manifest)
    assert missing.notes == ["nb.ipynb is missing from the submission; it scores 0"]


def test_a_locked_cell_counts_as_edited_only_if_it_differs_from_every_released_version(tmp_path, manifest):
    old = _submission(tmp_path / "o", manifest, {"nb": _notebook(("test_a", OLD_TEST_A), ("test_b", TEST_B))})
    assert not any("edited" in n for n in old.notes), old.notes
    new = _submission(tmp_path / "n", manifest, {"nb": _notebook(("test_a", OLD_TEST_A + " "), ("test_b", TEST_B))})
    assert any("locked cell `test_a` was edited" in n for n in new.notes), new.notes


MALFORMED = {
    "a cell that is a number": (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        42, {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "answer", "solution": True}},
             "source": "x = 1", "outputs": []}]}), "cell 1 is not a notebook cell (a int)"),
    "deeply nested JSON": ('{"cells": ' + "[" * 200_000 + "]" * 200_000 + "}", "nested too deeply"),
    "a 5000-digit integer": ('{"nbformat": 4, "cells": [], "x": 1' + "0" * 5000 + "}",
                             "JSON Python cannot read: Exceeds the limit"),
    "cells not a list": (json.dumps({"nbformat": 4, "cells": {"0": {}}}), "no list of cells"),
    "missing metadata": (json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": "x = 1"}]}),
                         "none of its cells is one of the assignment's"),
    "a huge string": (json.dumps({"nbformat": 4, "cells": [], "metadata": {"x": "y" * (17 << 20)}}),
                      "larger than 16 MiB"),
    "nbformat 3": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": []}]}),
                   "in notebook format '3', not 4"),
    "binary garbage": (bytes(range(256)) * 64, "not a valid notebook file"),
}


@pytest.mark.parametrize("shape", MALFORMED)
def test_a_malformed_notebook_ends_as_a_reason_never_an_error(tmp_path, manifest, shape):
    content, reason = MALFORMED[shape]
    result = _submission(tmp_path / "m", manifest, {"nb": content})
    assert any(reason in n for n in result.notes), result.notes
    graded = shape == "a cell that is a number"  # its one good cell is still an answer
    assert set(result.accepted) == ({"nb"} if graded else set()), result.notes


def test_rebuild_takes_only_the_answers_from_the_submission(tmp_path, manifest):
    submitted = nbformat.v4.new_notebook()
    submitted.cells = [_cell(None, "import os\nos._exit(1)  # an added cell"), _cell("test_a", "pass"),
                       _cell("answer", "first copy", True), _cell("answer", "def f():\n    return 1", True),
                       _cell(None, GIVEN + "  # edited given cell")]
    submitted.cells[3].outputs = [nbformat.v4.new_output("stream", text="[grader: full marks]")]
    result = _submission(tmp_path / "s", manifest, {"nb": nbformat.writes(submitted)})
    nb = rebuild(result, manifest, "nb")
    source = nbformat.read(manifest.source_path("nb"), as_version=4)
    assert [c.source for c in nb.cells[:4]] == [GIVEN, "def f():\n    return 1", TEST_A, source.cells[3].source]
    assert "### BEGIN HIDDEN TESTS" in nb.cells[3].source and all(not c.get("outputs") for c in nb.cells[:4])
    assert nb.cells[4].source == f"## {ADDED_CELLS_TITLE}"
    assert [(c.cell_type, c.source) for c in nb.cells[5:]] == [
        ("raw", "import os\nos._exit(1)  # an added cell"), ("raw", GIVEN + "  # edited given cell")]
    assert any("2 cell(s) added or changed outside the answer cells were kept" in n for n in result.notes)
    unanswered = _submission(tmp_path / "u", manifest, {"nb": _notebook(("test_a", TEST_A))})
    assert rebuild(unanswered, manifest, "nb").cells[1].source == manifest.cells["nb"].stubs["answer"]


def test_release_history_keeps_every_released_version(tmp_path):
    notebook = types.SimpleNamespace(assignment="hw", name="nb")
    released = tmp_path / "release" / "hw" / "nb.ipynb"
    released.parent.mkdir(parents=True)
    for version in (OLD_TEST_A, TEST_A, OLD_TEST_A):
        released.write_text(_notebook((None, GIVEN), ("answer", "stub", True), ("test_a", version)))
        release.record_history([notebook], tmp_path)
    history = read_history(tmp_path)
    assert history["hw/nb"]["locked"] == {"test_a": sorted([cell_hash(OLD_TEST_A), cell_hash(TEST_A)])}
    assert history["hw/nb"]["given"] == [cell_hash(GIVEN)] and "answer" not in history["hw/nb"]["locked"]
