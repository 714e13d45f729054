"""nbgrader's own tools on the course directory `make release` writes: its generated
nbgrader_config.py serves `nbgrader list`, `release_assignment` and `db` run there without flags,
the source notebooks nbgrader's formgrader can edit are never silently overwritten, and
`make formgrader` serves the course on 127.0.0.1."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import gradebook, release
from coursekit.sources import CourseError, solution_notebooks
from helpers import running_formgrader

NBGRADER = str(Path(sys.executable).parent / "nbgrader")


def nbgrader(course_dir: Path, *args: str) -> str:
    """Run nbgrader as its users do: in the course directory, no flags for the course."""
    result = subprocess.run([NBGRADER, *args], cwd=course_dir, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_nbgrader_cli_works_from_the_course_directory(built_course):
    config = (built_course / gradebook.CONFIG_FILE).read_text()
    assert f"c.CourseDirectory.course_id = {gradebook.COURSE_ID!r}" in config
    assert "11_tokenization" in nbgrader(built_course, "db", "assignment", "list")
    nbgrader(built_course, "release_assignment", "11_tokenization", "--force")
    assert f"{gradebook.COURSE_ID} 11_tokenization" in nbgrader(built_course, "list")
    released = built_course / "exchange" / gradebook.COURSE_ID / "outbound" / "11_tokenization" / "tokenization.ipynb"
    assert "BEGIN HIDDEN TESTS" not in released.read_text()


def test_nbgraders_own_autograde_refuses_and_points_to_make_grade(built_course):
    folder = built_course / "submitted" / "direct_nbgrader" / "11_tokenization"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built_course / "release" / "11_tokenization" / "tokenization.ipynb", folder / "tokenization.ipynb")
    result = subprocess.run([NBGRADER, "autograde", "11_tokenization", "--student", "direct_nbgrader"],
                            cwd=built_course, capture_output=True, text=True)
    assert "without the sandbox" in result.stdout + result.stderr and "make grade" in result.stdout + result.stderr
    assert not (built_course / "autograded" / "direct_nbgrader" / "11_tokenization" / "tokenization.ipynb").exists()
    shutil.rmtree(folder.parent)
    shutil.rmtree(built_course / "autograded" / "direct_nbgrader", ignore_errors=True)


def test_an_edited_source_notebook_stops_the_release_with_what_to_do(tmp_path):
    notebooks = [nb for nb in solution_notebooks() if nb.assignment == "11_tokenization"]
    release.write_sources(notebooks, tmp_path)
    release.write_sources(notebooks, tmp_path)  # unchanged: written again
    edited = tmp_path / "source" / "11_tokenization" / "tokenization.ipynb"
    edited.write_text(edited.read_text().replace("Check that", "Check, as the formgrader's editor wrote, that", 1))
    with pytest.raises(CourseError, match=r"source/11_tokenization/tokenization.ipynb.*solutions/") as error:
        release.write_sources(notebooks, tmp_path)
    assert "delete the edited file" in str(error.value)
    edited.unlink()
    release.write_sources(notebooks, tmp_path)
    assert "formgrader's editor" not in edited.read_text()


@pytest.mark.grading
def test_make_formgrader_serves_the_course_on_localhost(built_course):
    with running_formgrader(built_course) as formgrader:
        names = {a["name"] for a in formgrader("GET", "assignments")}
    assert {"02_tensor", "11_tokenization", "12_embeddings"} <= names
