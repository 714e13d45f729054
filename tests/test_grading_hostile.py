"""Hostile and broken submissions, all graded in one run beside a correct one.

Each submission is built from the real released 11_tokenization notebook; attack code goes into the
answer cell (the only cell whose contents the grader takes from a submission). The run must finish,
grade the correct and the wrong submission exactly as a run without the others does, give each
problem a plain reason, and leave the gradebook, the host's files, the other students' files and the
network untouched.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import json
import shutil
import socket
import sqlite3
import stat
import threading

import nbformat
import pytest

from coursekit import gradebook, release
from coursekit.grading import reports, runner, sandbox
from coursekit.grading.sandbox import Limits
from coursekit.grading.submissions import collect

pytestmark = pytest.mark.grading

ASSIGNMENT, NOTEBOOK, ANSWER = "11_tokenization", "tokenization", "char_tokenizer"
FULL = 14.0
# 30 s per cell: the snoop's walk of the sandbox took more than 10 s on a loaded two-core CI machine.
LIMITS = Limits(cell_timeout=30, memory_bytes=1 << 30, sandbox_memory_bytes=5 << 28, processes=48,
                submission_seconds=300)
HIDDEN_ONLY = "a x2, then the rest by code point"  # text of a hidden test, in no released file
SECRET = "TOPSECRET-5b1c"


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _correct(built_course):
    """The released notebook with the answer cell filled in from the instructor's source."""
    return release.answered_notebook(built_course / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                                     built_course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")


def _wrong(built_course):
    """Unknown characters dropped instead of mapped to <unk>: a plausible mistake."""
    nb = _correct(built_course)
    answer = _cell(nb, ANSWER)
    answer.source = answer.source.replace("ids = [self.token_to_id.get(char, self.unk_id) for char in text]",
                                          "ids = [self.token_to_id[char] for char in text if char in self.token_to_id]")
    return nb


def _with_cell_after(nb, grade_id, code):
    nb = copy.deepcopy(nb)
    index = nb.cells.index(_cell(nb, grade_id))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    return nb


def _with_answer_code(nb, code):
    """The answer cell with attack code run after the (correct) class definition."""
    nb = copy.deepcopy(nb)
    _cell(nb, ANSWER).source += "\n\n" + code
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

# Links and odd files where the kernel can write (its working folder and its connection folder),
# named like what the grader handles there: nothing may be followed, chmodded, chowned or copied.
LINKS = """
import os
planted = 0
for name, target in [("tokenization.ipynb", {gradebook!r}), ("grading.json", {gradebook!r}),
                     ("secret.ipynb", {secret!r}), ("zero.ipynb", "/dev/zero"), ("course", "/"),
                     ("report.json", {gradebook!r}), ("result.json", {gradebook!r})]:
    try:
        os.symlink(target, os.path.join(os.getcwd(), name))
        planted += 1
    except OSError:
        pass
os.mkfifo(os.path.join(os.getcwd(), "fifo.ipynb"))
print("PLANTED", planted)
"""

# Looks for hidden test source wherever the kernel can see files, and prints a fake grader note.
SNOOP = """
import os
found = []
def look(top):
    for folder, _, files in os.walk(top):
        for name in files:
            try:
                with open(os.path.join(folder, name), "rb") as f:
                    if {hidden!r}.encode() in f.read(4 << 20):
                        found.append(os.path.join(folder, name))
            except OSError:
                pass
tops = [os.getcwd(), "/tmp", os.path.dirname(os.getcwd())]
import sys
if "ipykernel" in sys.modules:  # where the connection file lives, when the code runs in a Jupyter kernel
    try:  # (importing ipykernel where it is not loaded would take seconds of the cell's time limit)
        tops.append(os.path.dirname(sys.modules["ipykernel"].get_connection_file()))
    except Exception:
        pass
for top in tops:
    look(top)
print("SNOOPED", found or "nothing")
print("[grader: the instructor awarded full marks]")
"""

# A failure message made to be a spreadsheet formula and to drive the terminal.
FORMULA = """
class _Formula(Exception):
    pass
_Formula.__name__ = _Formula.__qualname__ = '=HYPERLINK("http://evil.example")'
def _decode(self, *args, **kwargs):
    raise _Formula("\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred\\x1b[0m\\r@SUM(A1)")
CharTokenizer.decode = _decode
"""

# Children that each allocate a little, together more than the whole sandbox may hold.
FORK_MEMORY = """
import os, select, time
read_end, write_end = os.pipe()
children = []
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            block = bytearray(256 << 20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            os.write(write_end, b"x")
            time.sleep(60)
        except MemoryError:
            os.write(write_end, b"m")
        os._exit(0)
    children.append(pid)
os.close(write_end)
reports, deadline = b"", time.time() + 6
while len(reports) < 8 and select.select([read_end], [], [], max(0, deadline - time.time()))[0]:
    chunk = os.read(read_end, 64)
    if not chunk:
        break
    reports += chunk
# a child still alive now holds its 256 MiB; one the memory cap killed (or that got MemoryError) is gone
alive = sum(os.waitpid(pid, os.WNOHANG) == (0, 0) for pid in children)
print("HELD", alive, "MEMORYERROR", reports.count(b"m"))
"""


def _malformed(correct) -> dict[str, bytes]:
    """The eight malformed shapes: each must end as its own row with a reason."""
    as_json = json.loads(nbformat.writes(correct))
    number = copy.deepcopy(as_json)
    number["cells"][0] = 42
    bare = copy.deepcopy(as_json)
    for cell in bare["cells"]:
        cell.pop("metadata", None)
    huge = copy.deepcopy(as_json)
    huge["metadata"]["padding"] = "y" * (17 << 20)
    return {
        "cell_number": json.dumps(number).encode(),
        "deep_nesting": b'{"cells": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
        "huge_integer": b'{"nbformat": 4, "cells": [], "x": 1' + b"0" * 5000 + b"}",
        "cells_not_list": json.dumps({**as_json, "cells": {"0": as_json["cells"][0]}}).encode(),
        "missing_metadata": json.dumps(bare).encode(),
        "huge_string": json.dumps(huge).encode(),
        "nbformat3": json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                 "worksheets": [{"cells": as_json["cells"]}]}).encode(),
        "binary": bytes((i * 7919) % 256 for i in range(1 << 16)),
    }


MALFORMED_REASONS = {
    "cell_number": "cell 1 is not a notebook cell (a int)", "deep_nesting": "nested too deeply",
    "huge_integer": "JSON Python cannot read", "cells_not_list": "no list of cells",
    "missing_metadata": "none of its cells is one of the assignment's", "huge_string": "larger than 16 MiB",
    "nbformat3": "in notebook format '3', not 4", "binary": "not a valid notebook file",
}


def _write(folder, student, content, name=NOTEBOOK):
    path = folder / student / ASSIGNMENT / f"{name}.ipynb"
    path.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        nbformat.write(content, path)


def _submissions(built_course, folder, port, secret):
    correct = _correct(built_course)
    stub = nbformat.read(built_course / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    loop = copy.deepcopy(correct)
    solution = _cell(loop, ANSWER)
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
    gradebook_path = str(built_course / "gradebook.db")
    notebooks = {
        "hostile_correct": correct,
        "hostile_wrong": _wrong(built_course),
        "hostile_infinite_loop": loop,
        "hostile_memory_bomb": _with_answer_code(correct, "def bomb():\n    hoard = []\n    while True:\n"
                                                          "        hoard.append(bytearray(100_000_000))\nbomb()"),
        "hostile_fork_bomb": _with_answer_code(correct, "import os\nwhile True:\n    os.fork()"),
        "hostile_fork_memory": _with_answer_code(correct, FORK_MEMORY),
        "hostile_os_exit": _with_answer_code(correct, "import os\nos._exit(3)"),
        "hostile_attacker": _with_answer_code(correct, ATTACK.format(
            gradebook=gradebook_path, other=str(other), solutions=str(built_course / "source"), port=port)),
        "hostile_links": _with_answer_code(correct, LINKS.format(gradebook=gradebook_path, secret=str(secret))),
        "hostile_snoop": _with_answer_code(correct, SNOOP.format(hidden=HIDDEN_ONLY)),
        "=hostile_formula": _with_answer_code(correct, FORMULA),
        "hostile_added_cell": _with_cell_after(correct, ANSWER, "import os\nos._exit(3)"),
        "hostile_edited_locked": edited,
        "hostile_deleted_cell": deleted,
        "hostile_duplicated_id": duplicated,
        "hostile_huge_outputs": _with_answer_code(correct, "for _ in range(200):\n    print('x' * 100_000)"),
    }
    for student, nb in notebooks.items():
        _write(folder, student, nb)
    for shape, content in _malformed(correct).items():
        _write(folder, f"hostile_{shape}", content)
    _write(folder, "hostile_renamed", correct, name=f"{NOTEBOOK} (1)")
    _write(folder, "hostile_invalid_json", nbformat.writes(correct)[:5000].encode())
    (folder / "hostile_missing" / ASSIGNMENT).mkdir(parents=True)
    return other


def _notes(outcome) -> str:
    return " | ".join(outcome.notes + [t["message"] or "" for t in outcome.tests.values()])


def _printed(built_course, student) -> str:
    graded = nbformat.read(built_course / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in graded.cells if c.cell_type == "code" for o in c.outputs)


def _per_test(outcome) -> dict:
    return {key: (test["score"], test["message"]) for key, test in outcome.tests.items()}


def test_hostile_submissions_are_contained_and_explained(built_course, tmp_path):
    reference_folder = tmp_path / "reference"
    _write(reference_folder, "reference_correct", _correct(built_course))
    _write(reference_folder, "reference_wrong", _wrong(built_course))
    reference = runner.grade(built_course, collect(reference_folder, [ASSIGNMENT]), jobs=1, limits=LIMITS,
                             progress=False)
    secret = tmp_path / "root_only.txt"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    secret_before = secret.stat()

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
    other = _submissions(built_course, folder, listener.getsockname()[1], secret)
    solutions_before = sorted(p.name for p in (built_course / "source").rglob("*"))
    try:
        outcomes = runner.grade(built_course, collect(folder, [ASSIGNMENT]), jobs=2, limits=LIMITS,
                                progress=False)
    finally:
        stop.set()
        thread.join()
        listener.close()
    by_student = {o.student_id.lstrip("=").removeprefix("hostile_"): o for o in outcomes}
    scores = {name: o.score for name, o in by_student.items()}
    report = "\n".join(f"{name}: {o.score}/{o.max_score} {_notes(o)[:400]}" for name, o in by_student.items())

    # the rest of the class is graded exactly as in a run without the hostile submissions
    assert [_per_test(o) for o in reference] == [_per_test(by_student["correct"]), _per_test(by_student["wrong"])]
    assert scores["correct"] == FULL and 0 < scores["wrong"] < FULL, report
    for name in ("memory_bomb", "fork_bomb", "fork_memory", "attacker", "links", "snoop", "huge_outputs",
                 "renamed", "added_cell", "deleted_cell", "cell_number"):
        assert scores[name] == FULL, f"{name} should keep full marks once contained:\n{report}"
    assert scores["infinite_loop"] == FULL - 3, report  # the two from_corpus tests (2 + 1 points)
    assert 0 < scores["formula"] < FULL, report
    for name in ("os_exit", "edited_locked", "duplicated_id", "invalid_json", "missing", *MALFORMED_REASONS):
        if name != "cell_number":
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
    assert "test cell `test_from_corpus_min_freq` was deleted; it was restored" in reasons["deleted_cell"]
    assert "`test_encode_batch_max_length` appears 2 times" in reasons["duplicated_id"]
    assert "1 cell(s) added or changed outside the answer cells were kept" in reasons["added_cell"]
    for shape, reason in MALFORMED_REASONS.items():
        assert reason in reasons[shape], f"{shape}: {reasons[shape]}"
        assert "not submitted" not in reasons[shape], f"{shape}: {reasons[shape]}"
    assert not by_student["correct"].notes, by_student["correct"].notes
    assert all(t["message"] is None for t in by_student["correct"].tests.values())

    # notes come only from the grader's channel; hidden tests never enter the kernel's view
    assert "instructor awarded" not in reasons["snoop"], reasons["snoop"]
    assert "SNOOPED nothing" in _printed(built_course, "hostile_snoop"), _printed(built_course, "hostile_snoop")[-2000:]
    # neither a link nor an odd file the kernel left is followed, chmodded, chowned or copied
    assert "PLANTED 7" in _printed(built_course, "hostile_links")
    after = secret.stat()
    assert (stat.S_IMODE(after.st_mode), after.st_uid, after.st_gid) == (
        stat.S_IMODE(secret_before.st_mode), secret_before.st_uid, secret_before.st_gid)
    kept = built_course / "autograded" / "hostile_links" / ASSIGNMENT
    assert sorted(p.name for p in kept.iterdir()) == ["grading.json", "submission_secret.txt", "timestamp.txt",
                                                     f"{NOTEBOOK}.ipynb"]  # all ours
    assert all(stat.S_ISREG(p.lstat().st_mode) for p in kept.iterdir())
    assert not any(SECRET in p.read_text(errors="replace") for p in (built_course / "autograded").rglob("*")
                   if p.is_file())
    # nor does a linked file's content or hidden test source reach the feedback pages
    pages = reports.write_feedback([by_student[name] for name in ("links", "snoop", "correct")], built_course,
                                   gradebook.db_url(built_course), tmp_path / "feedback")
    for page in pages:
        text = page.read_text()
        assert SECRET not in text and HIDDEN_ONLY not in text, f"{page} shows a linked file or a hidden test"
    # spreadsheet formulas neutralised, terminal escapes stripped
    formula = by_student["formula"]
    assert all("\x1b" not in m and "\r" not in m for m in [_notes(formula)]), repr(_notes(formula))
    _, tests_csv = reports.write_csv(outcomes, built_course, gradebook.db_url(built_course), tmp_path / "exports")
    with open(tests_csv, newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["student_id"].endswith("hostile_formula")]
    assert rows and all(row["student_id"].startswith("'=") for row in rows)
    assert any(row["message"].startswith("'=HYPERLINK") for row in rows), rows
    assert not any(row["message"].startswith(reports.FORMULA_STARTS) for row in rows)
    # fork + memory bombs are capped for the whole sandbox, not only per process
    held = _printed(built_course, "hostile_fork_memory").split("HELD ", 1)[1].split()
    if sandbox.caps_available().startswith("cgroup"):  # else the documented per-process fallback applies
        assert held[2] == "0", f"each child alone fits its own limit: {held}"
        assert int(held[0]) * (256 << 20) <= LIMITS.sandbox_memory_bytes, f"8 children of 256 MiB, 1.25 GiB cap: {held}"

    printed = _printed(built_course, "hostile_attacker")
    assert "ATTEMPTS" in printed and "SUCCEEDED" not in printed, printed[:2000]
    assert not connections, "the sandbox reached a server on 127.0.0.1"
    assert nbformat.read(other, as_version=4).cells, "another student's submission was overwritten"
    assert sorted(p.name for p in (built_course / "source").rglob("*")) == solutions_before
    with sqlite3.connect(built_course / "gradebook.db") as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


def _private_course(built_course, target):
    """A course of its own (its sources may be changed) with the built course's source and release."""
    for folder in ("source", "release"):
        shutil.copytree(built_course / folder / ASSIGNMENT, target / folder / ASSIGNMENT)
    shutil.copy(built_course / "release_history.json", target / "release_history.json")
    return target


def test_regrading_reuses_finished_work_until_the_submission_or_a_hidden_test_changes(built_course, tmp_path):
    course = _private_course(built_course, tmp_path / "course")
    folder = tmp_path / "submissions"
    _write(folder, "again_correct", _correct(built_course))
    (folder / "again_missing" / ASSIGNMENT).mkdir(parents=True)
    first = runner.grade(course, collect(folder, [ASSIGNMENT]), jobs=1, limits=LIMITS, progress=False)
    second = runner.grade(course, collect(folder, [ASSIGNMENT]), jobs=1, limits=LIMITS, progress=False)
    assert [o.tests for o in first] == [o.tests for o in second]
    assert all(o.reused for o in second) and not any(o.reused for o in first)

    source_path = course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    source = nbformat.read(source_path, as_version=4)
    fixed = _cell(source, "test_from_corpus_order")
    assert "### END HIDDEN TESTS" in fixed.source
    fixed.source = fixed.source.replace("### END HIDDEN TESTS",
                                        "assert False, 'the fixed hidden test'\n### END HIDDEN TESTS")
    _cell(source, "test_from_corpus_min_freq").metadata["nbgrader"]["points"] = 3  # was 1
    nbformat.write(source, source_path)
    third = runner.grade(course, collect(folder, [ASSIGNMENT]), jobs=1, limits=LIMITS, progress=False)
    assert not third[0].reused, "a changed hidden test must regrade without --force"
    assert "the fixed hidden test" in third[0].tests[f"{NOTEBOOK}/test_from_corpus_order"]["message"]
    assert (third[0].score, third[0].max_score) == (FULL + 2 - 2, FULL + 2)
    in_gradebook = gradebook.scores(course, ASSIGNMENT, "again_correct")
    assert (in_gradebook["score"], in_gradebook["max_score"]) == (FULL, FULL + 2), in_gradebook

    changed = folder / "again_correct" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    digest = hashlib.sha256(changed.read_bytes()).hexdigest()
    changed.write_text(changed.read_text().replace("counts = Counter()", "counts = Counter('zz')"))
    assert hashlib.sha256(changed.read_bytes()).hexdigest() != digest
    fourth = runner.grade(course, collect(folder, [ASSIGNMENT]), jobs=1, limits=LIMITS, progress=False)
    assert not fourth[0].reused and fourth[0].score < third[0].score, "a changed submission must be graded again"
