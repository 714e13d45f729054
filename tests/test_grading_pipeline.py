"""The instructor's and the student's grading commands, end to end: `grade` (zip in, grades.csv,
tests.csv and feedback out, parallel equal to serial), `validate`, the Gradescope autograder, the
refusal to run student code without a sandbox, and the release's own grading check."""
from __future__ import annotations

import html
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import nbformat
import pytest
from nbgrader.utils import notebook_hash

from coursekit import release
from coursekit.sources import HIDDEN_MARKERS
from coursekit.grading import gradescope, runner, sandbox
from coursekit.grading.submissions import Submission
from leaks import secret_lines
from coursekit.sources import ROOT, CourseError, solution_notebooks
from helpers import csv_rows

ASSIGNMENT, NOTEBOOK = "11_tokenization", "tokenization"
SOLUTION = next(nb for nb in solution_notebooks() if nb.assignment == ASSIGNMENT)


def _correct(built_course):
    """The released notebook with the answer cell filled in from the instructor's source."""
    return release.answered_notebook(built_course / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                                     built_course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")


def _wrong(built_course):
    """Unknown characters dropped instead of mapped to <unk>: a plausible mistake."""
    nb = _correct(built_course)
    for cell in nb.cells:
        cell.source = cell.source.replace(
            "ids = [self.token_to_id.get(char, self.unk_id) for char in text]",
            "ids = [self.token_to_id[char] for char in text if char in self.token_to_id]")
    return nb


def _hidden_test_lines() -> set[str]:
    """Distinctive lines inside the hidden-test regions of the graded notebook."""
    lines, inside = set(), False
    for cell in SOLUTION.read().cells:
        for line in (raw.strip() for raw in cell.source.splitlines()):
            if line in HIDDEN_MARKERS:
                inside = line == HIDDEN_MARKERS[0]
            elif inside and len(line) >= 12:
                lines.add(line)
    assert lines, "the graded notebook has no hidden tests to look for"
    return lines


def _test_count(path) -> int:
    return sum(bool(c.metadata.get("nbgrader", {}).get("grade")) for c in nbformat.read(path, as_version=4).cells)


def _coursekit(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "coursekit", *map(str, args)], capture_output=True, text=True,
                            cwd=ROOT)
    if check and result.returncode != 0:
        raise AssertionError(f"coursekit {args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result



@pytest.mark.grading
def test_grade_command_takes_a_zip_and_writes_grades_tests_and_leak_free_feedback(built_course, tmp_path):
    archive = tmp_path / "lms_download.zip"
    notebooks = {"pipe_correct": _correct(built_course), "pipe_wrong": _wrong(built_course),
                 "pipe_untouched": nbformat.read(built_course / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)}
    with zipfile.ZipFile(archive, "w") as zipped:
        for student, nb in notebooks.items():
            zipped.writestr(f"download/{student}/{ASSIGNMENT}/{NOTEBOOK}.ipynb", nbformat.writes(nb))
            zipped.writestr(f"download/{student}/{ASSIGNMENT}/submission_secret.txt", f"secret of {student}")
    parallel = _coursekit("grade", archive, "--jobs", 2, "--course-dir", built_course, "--cell-timeout", 60)
    assert "graded 3 submissions" in parallel.stdout, parallel.stdout
    grades = {row["student_id"]: row for row in csv_rows(built_course / "exports" / "grades.csv")}
    assert {"student_id", "assignment", "score", "max_score"} <= set(next(iter(grades.values())))
    assert grades["pipe_correct"]["score"] == grades["pipe_correct"]["max_score"] == "14"
    assert float(grades["pipe_wrong"]["score"]) < 14 and grades["pipe_untouched"]["score"] == "0"
    tests = csv_rows(built_course / "exports" / "tests.csv")
    failed = [t for t in tests if t["student_id"] == "pipe_wrong" and t["passed"] == "no"]
    assert failed and any(t["message"].startswith("AssertionError") for t in failed), failed

    secrets = secret_lines([SOLUTION])
    for student in notebooks:
        page = (built_course / "feedback_pages" / student / ASSIGNMENT / "feedback.html").read_text()
        assert "test_encode_known_and_unknown" in page and ("passed" in page or "failed" in page)
        leaked = [line for line in secrets if line in page]
        assert not leaked, f"feedback of {student} shows hidden test or solution source: {leaked[:3]}"
    wrong_page = (built_course / "feedback_pages" / "pipe_wrong" / ASSIGNMENT / "feedback.html").read_text()
    assert "AssertionError" in wrong_page and "failed" in wrong_page

    # nbgrader's own feedback, run from the course directory as its users do, keeps ours and hides the hidden tests
    # (for this test's students: the shared course also holds students graded without a hand-in time,
    # whose feedback nbgrader's release_feedback cannot file)
    for command in (["generate_feedback", ASSIGNMENT], *(["release_feedback", ASSIGNMENT, "--student", student]
                                                         for student in notebooks)):
        done = subprocess.run([str(ROOT / ".venv" / "bin" / "nbgrader"), *command], cwd=built_course,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    for student in notebooks:
        page = (built_course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
        text = {line.strip() for line in html.unescape(re.sub(r"<[^>]+>", "", page)).splitlines()}
        assert any("Check that" in line for line in text) and not _hidden_test_lines() & text, student
        assert (built_course / "feedback_pages" / student / ASSIGNMENT / "feedback.html").exists()
    # filed by the hash of each student's submission secret, as `nbgrader fetch_feedback` looks it up
    released_feedback = built_course / "exchange" / "tinytorch_lite" / "feedback"
    for student in notebooks:
        checksum = notebook_hash(secret=f"secret of {student}", notebook_id=NOTEBOOK)
        assert (released_feedback / f"{checksum}.html").is_file(), student

    serial = _coursekit("grade", archive, "--jobs", 1, "--force", "--course-dir", built_course,
                        "--cell-timeout", 60)
    assert "graded 3 submissions (0 unchanged" in serial.stdout, serial.stdout
    assert csv_rows(built_course / "exports" / "tests.csv") == tests, "JOBS=1 and JOBS=2 gave different grades"


@pytest.mark.grading
def test_validate_tells_a_student_which_visible_tests_pass(built_course, tmp_path):
    untouched = built_course / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    result = _coursekit("validate", untouched, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    count = _test_count(untouched)
    assert f"0 of {count} visible tests pass" in result.stdout, result.stdout
    assert "FAIL test_encode_known_and_unknown" in result.stdout and "NotImplementedError" in result.stdout
    done = tmp_path / f"{NOTEBOOK}.ipynb"
    nbformat.write(_correct(built_course), done)
    before = done.read_bytes()
    result = _coursekit("validate", done)
    assert f"{count} of {count} visible tests pass" in result.stdout, result.stdout
    assert done.read_bytes() == before, "validate must not change the student's file"
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    result = _coursekit("validate", broken, check=False)
    assert result.returncode != 0 and "is not a valid notebook" in result.stderr


@pytest.mark.grading
def test_gradescope_autograder_grades_one_submission_in_a_fake_autograder_tree(built_course, tmp_path):
    archive = gradescope.build(built_course, ASSIGNMENT, tmp_path / "autograder.zip")
    root = tmp_path / "autograder"
    with zipfile.ZipFile(archive) as zipped:
        assert {"setup.sh", "run_autograder"} <= set(zipped.namelist())
        zipped.extractall(root / "source")
    (root / "submission").mkdir()
    nbformat.write(_wrong(built_course), root / "submission" / f"{NOTEBOOK}.ipynb")
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], capture_output=True, text=True,
                         env={"AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert 0 < results["score"] < 14
    fields = {"name", "score", "max_score", "output", "visibility"}
    assert all(fields <= set(t) for t in results["tests"])
    hidden = {t["name"] for t in results["tests"] if t["visibility"] == "after_published"}
    assert "tokenization/test_encode_known_and_unknown (hidden checks)" in hidden
    assert len(results["tests"]) == _test_count(built_course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb") + len(hidden)
    assert any(t["score"] < t["max_score"] and "AssertionError" in t["output"] for t in results["tests"])


def test_grading_refuses_without_a_sandbox_unless_told(built_course, monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "bwrap_executable", lambda: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="--unsafe-no-sandbox"):
        runner.grade(built_course, [Submission("nobody", ASSIGNMENT, {})], progress=False)


@pytest.mark.grading
def test_an_interrupted_run_resumes_without_losing_finished_work(built_course, tmp_path):
    folder = tmp_path / "submissions"
    students = [f"resume_{i}" for i in range(5)]
    for student in students:
        path = folder / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(_correct(built_course), path)
    results = [built_course / "autograded" / s / ASSIGNMENT / "grading.json" for s in students]
    # A shell that runs pytest in the background starts it with SIGINT ignored, and a child inherits
    # that; the instructor's Ctrl-C reaches a foreground process, so restore the default first.
    process = subprocess.Popen([sys.executable, "-m", "coursekit", "grade", str(folder), "--course-dir",
                                str(built_course)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not any(r.exists() for r in results) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    finished = [s for s, r in zip(students, results) if r.exists()]
    assert finished, "no submission was finished before the interrupt"
    assert len(finished) < len(students), f"the run finished before it could be interrupted: {finished}"
    resumed = _coursekit("grade", folder, "--course-dir", built_course)
    reused = int(resumed.stdout.split("(")[1].split()[0])
    assert reused == len(finished), resumed.stdout
    grades = {row["student_id"]: row["score"] for row in csv_rows(built_course / "exports" / "grades.csv")}
    assert grades == {student: "14" for student in students}, grades


@pytest.mark.grading
def test_unsafe_mode_grades_without_bubblewrap_when_asked(built_course, monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    path = tmp_path / f"{NOTEBOOK}.ipynb"
    nbformat.write(_correct(built_course), path)
    [outcome] = runner.grade(built_course, [Submission("unsafe_correct", ASSIGNMENT, {NOTEBOOK: path})],
                             unsafe=True, progress=False)
    assert outcome.score == outcome.max_score == 14, outcome.notes


@pytest.mark.grading
def test_release_check_refuses_a_failing_solution_and_an_untouched_notebook_that_scores(built_course, tmp_path):
    course = tmp_path / "course"
    for folder in ("source", "release"):
        shutil.copytree(built_course / folder / ASSIGNMENT, course / folder / ASSIGNMENT)
    release.verify(course, [ASSIGNMENT])  # the real course grades as it should
    assert (course / release.VERIFIED_FILE).exists()
    path = course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    source = nbformat.read(path, as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in source.cells}
    hidden = cells["test_from_corpus_order"]
    hidden.source = hidden.source.replace("### END HIDDEN TESTS", "assert False, 'broken hidden check'\n"
                                                                  "### END HIDDEN TESTS")
    cells["test_encode_batch_max_length"].source = '"""A check that passes on the stub."""\npass'
    nbformat.write(source, path)
    with pytest.raises(CourseError) as raised:
        release.verify(course, [ASSIGNMENT])
    text = str(raised.value)
    where = f"solutions/{ASSIGNMENT}/{NOTEBOOK}.py, test cell"
    assert f"{where} `test_from_corpus_order` fails on the solution: AssertionError: broken hidden check" in text, text
    assert f"{where} `test_encode_batch_max_length` gives 2 points to the untouched student notebook" in text, text
