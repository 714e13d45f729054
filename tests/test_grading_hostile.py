"""Hostile and broken submissions, all graded in one run beside a correct one.

Each submission is built from the real released 11_tokenization notebook. The run must finish,
grade the correct submission (and every other one) as expected, give each problem a plain reason,
and leave the gradebook, the other students' files and the network untouched.
"""
from __future__ import annotations

import copy
import hashlib
import socket
import sqlite3
import threading

import nbformat
import pytest

from coursekit.grading import runner
from coursekit.grading.sandbox import Limits
from coursekit.grading.submissions import collect

pytestmark = pytest.mark.grading

ASSIGNMENT, NOTEBOOK = "11_tokenization", "tokenization"
FULL = 14.0
LIMITS = Limits(cell_timeout=10, memory_bytes=1 << 30, processes=48, submission_seconds=300)


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _correct(built_course):
    """The released notebook with the solution cell filled in from the instructor's source."""
    released = nbformat.read(built_course / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    source = nbformat.read(built_course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    for cell in released.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = _cell(source, meta["grade_id"]).source
    return released


def _with_cell_after(nb, grade_id, code):
    nb = copy.deepcopy(nb)
    index = nb.cells.index(_cell(nb, grade_id))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    return nb


ATTACK = """
import os, socket
attempts = {{}}
for label, action in [
    ("read the gradebook", lambda: open({gradebook!r}, "rb").read(16)),
    ("delete the gradebook", lambda: os.remove({gradebook!r})),
    ("overwrite another student", lambda: open({other!r}, "w").write("{{}}")),
    ("list the solutions", lambda: os.listdir({solutions!r})),
    ("reach the network", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2)),
]:
    try:
        action()
        attempts[label] = "SUCCEEDED"
    except Exception as error:
        attempts[label] = type(error).__name__
print("ATTEMPTS", attempts)
"""


def _submissions(built_course, folder, port):
    correct = _correct(built_course)
    stub = nbformat.read(built_course / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    loop = copy.deepcopy(correct)
    solution = _cell(loop, "char_tokenizer")
    solution.source = solution.source.replace("        counts = Counter()\n",
                                              "        counts = Counter()\n        while True:\n            pass\n")
    assert "while True" in solution.source
    edited = copy.deepcopy(stub)
    _cell(edited, "test_encode_special_tokens").source = "pass  # trust me"
    deleted = copy.deepcopy(correct)
    deleted.cells.remove(_cell(deleted, "test_from_corpus_min_freq"))
    duplicated = copy.deepcopy(stub)
    twin = copy.deepcopy(_cell(duplicated, "test_encode_batch_max_length"))
    twin.source, twin["id"] = "pass  # the copy that counts", "twin"
    duplicated.cells.append(twin)
    other = built_course / "submitted" / "hostile_correct" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    notebooks = {
        "hostile_correct": correct,
        "hostile_infinite_loop": loop,
        "hostile_memory_bomb": _with_cell_after(
            correct, "char_tokenizer", "def bomb():\n    hoard = []\n    while True:\n"
                                       "        hoard.append(bytearray(100_000_000))\nbomb()"),
        "hostile_fork_bomb": _with_cell_after(correct, "char_tokenizer", "import os\nwhile True:\n    os.fork()"),
        "hostile_os_exit": _with_cell_after(correct, "char_tokenizer", "import os\nos._exit(3)"),
        "hostile_attacker": _with_cell_after(correct, "char_tokenizer", ATTACK.format(
            gradebook=str(built_course / "gradebook.db"), other=str(other),
            solutions=str(built_course / "source"), port=port)),
        "hostile_edited_locked": edited,
        "hostile_deleted_cell": deleted,
        "hostile_duplicated_id": duplicated,
        "hostile_huge_outputs": _with_cell_after(correct, "char_tokenizer",
                                                 "for _ in range(200):\n    print('x' * 100_000)"),
    }
    for student, nb in notebooks.items():
        path = folder / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    renamed = folder / "hostile_renamed" / ASSIGNMENT / f"{NOTEBOOK} (1).ipynb"
    renamed.parent.mkdir(parents=True)
    nbformat.write(correct, renamed)
    invalid = folder / "hostile_invalid_json" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    invalid.parent.mkdir(parents=True)
    invalid.write_text(nbformat.writes(correct)[:5000])
    (folder / "hostile_missing" / ASSIGNMENT).mkdir(parents=True)
    return other


def _notes(outcome) -> str:
    return " | ".join(outcome.notes + [t["message"] or "" for t in outcome.tests.values()])


def test_hostile_submissions_are_contained_and_explained(built_course, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept())
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    folder = tmp_path / "submissions"
    other = _submissions(built_course, folder, listener.getsockname()[1])
    solutions_before = sorted(p.name for p in (built_course / "source").rglob("*"))
    try:
        outcomes = runner.grade(built_course, collect(folder, [ASSIGNMENT]), jobs=2, limits=LIMITS,
                                progress=False)
    finally:
        stop.set()
        thread.join()
        listener.close()
    by_student = {o.student_id.removeprefix("hostile_"): o for o in outcomes}
    scores = {name: o.score for name, o in by_student.items()}
    report = "\n".join(f"{name}: {o.score}/{o.max_score} {_notes(o)[:400]}" for name, o in by_student.items())

    assert scores["correct"] == FULL, report
    for name in ("memory_bomb", "fork_bomb", "attacker", "huge_outputs", "renamed"):
        assert scores[name] == FULL, f"{name} should keep full marks once contained:\n{report}"
    assert scores["infinite_loop"] == FULL - 3, report  # the two from_corpus tests (2 + 1 points)
    assert scores["deleted_cell"] == FULL - 1, report
    for name in ("os_exit", "edited_locked", "duplicated_id", "invalid_json", "missing"):
        assert scores[name] == 0, f"{name}:\n{report}"

    reasons = {name: _notes(o) for name, o in by_student.items()}
    assert "time limit" in reasons["infinite_loop"]
    assert "MemoryError" in reasons["memory_bomb"]
    assert "processes this cell left running were stopped" in reasons["fork_bomb"], reasons["fork_bomb"]
    assert "kernel died" in reasons["os_exit"]
    assert "output beyond" in reasons["huge_outputs"]
    assert "was graded as tokenization.ipynb" in reasons["renamed"]
    assert "not a valid notebook" in reasons["invalid_json"]
    assert "missing from the submission" in reasons["missing"]
    assert "locked cell `test_encode_special_tokens` was edited" in reasons["edited_locked"]
    assert "test cell `test_from_corpus_min_freq` was deleted" in reasons["deleted_cell"]
    assert "`test_encode_batch_max_length` appears 2 times" in reasons["duplicated_id"]
    assert not by_student["correct"].notes, by_student["correct"].notes
    assert all(t["message"] is None for t in by_student["correct"].tests.values())

    graded = nbformat.read(built_course / "autograded" / "hostile_attacker" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                           as_version=4)
    printed = "".join(o.get("text", "") for c in graded.cells if c.cell_type == "code" for o in c.outputs)
    assert "ATTEMPTS" in printed and "SUCCEEDED" not in printed, printed[:2000]
    assert not connections, "the sandbox reached a server on 127.0.0.1"
    assert nbformat.read(other, as_version=4).cells, "another student's submission was overwritten"
    assert sorted(p.name for p in (built_course / "source").rglob("*")) == solutions_before
    with sqlite3.connect(built_course / "gradebook.db") as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_regrading_gives_the_same_grades_and_reuses_finished_work(built_course, tmp_path):
    folder = tmp_path / "submissions"
    for student, nb in (("again_correct", _correct(built_course)),):
        path = folder / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    (folder / "again_missing" / ASSIGNMENT).mkdir(parents=True)
    first = runner.grade(built_course, collect(folder, [ASSIGNMENT]), jobs=1, limits=LIMITS, progress=False)
    second = runner.grade(built_course, collect(folder, [ASSIGNMENT]), jobs=1, limits=LIMITS, progress=False)
    assert [o.tests for o in first] == [o.tests for o in second]
    assert all(o.reused for o in second) and not any(o.reused for o in first)
    digest = hashlib.sha256((folder / "again_correct" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_bytes()).hexdigest()
    changed = folder / "again_correct" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    changed.write_text(changed.read_text().replace("counts = Counter()", "counts = Counter('zz')"))
    assert hashlib.sha256(changed.read_bytes()).hexdigest() != digest
    third = runner.grade(built_course, collect(folder, [ASSIGNMENT]), jobs=1, limits=LIMITS, progress=False)
    assert not third[0].reused and third[0].score < FULL, "a changed submission must be graded again"
