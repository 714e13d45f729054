"""Code that tries to buy points instead of solving the task, graded in one run beside a correct
submission: each attack sits in the solution cell of an otherwise untouched 11_tokenization notebook
(the way a student would hand it in) and must score 0 and be marked for review, while the correct
submission keeps full marks with no review note. Hidden test source must not reach any of them."""
from __future__ import annotations

import csv

import nbformat
import pytest

from coursekit.grading import reports, runner
from coursekit.grading.sandbox import Limits
from coursekit.grading.submissions import collect
from leaks import leaked, secret_lines
from coursekit.sources import solution_notebooks

pytestmark = pytest.mark.grading

ASSIGNMENT, NOTEBOOK = "11_tokenization", "tokenization"
FULL = 14.0
LIMITS = Limits(cell_timeout=20, memory_bytes=1 << 30, processes=48, submission_seconds=300)

ATTACKS = {
    # IPython's machinery: each of these buys full marks under a plain nbgrader kernel
    "input_transformer": "get_ipython().input_transformers_cleanup.append("
                         "lambda lines: ['pass\\n'] if any('assert' in l for l in lines) else lines)",
    "ast_transformer": """
import ast
class _Empty(ast.NodeTransformer):
    def visit_Module(self, node):
        node.body = []
        return node
get_ipython().ast_transformers.append(_Empty())""",
    "run_cell_wrapper": """
_shell = get_ipython()
_original = _shell.run_cell
def _run_cell(raw_cell, *args, **kwargs):
    return _original("pass" if "assert" in raw_cell else raw_cell, *args, **kwargs)
_shell.run_cell = _run_cell""",
    "post_run_cell_hook": """
def _forget(result):
    result.error_in_exec = None
get_ipython().events.register("post_run_cell", _forget)""",
    "pre_run_cell_leak": """
get_ipython().events.register("pre_run_cell", lambda info: print(info.raw_cell))""",
    "displayhook": """
import sys
def _claim(*args, **kwargs):
    sys.displayhook(100)
    raise AssertionError
CharTokenizer.encode = CharTokenizer.decode = CharTokenizer.encode_batch = _claim
CharTokenizer.from_corpus = staticmethod(_claim)""",
    # the reference implementation, from the installed package or its files
    "reference_import": "from tinytorch_lite.core.tokenization import CharTokenizer",
    "reference_file": """
import glob
for _path in glob.glob('/**/tinytorch_lite/core/tokenization.py', recursive=True):
    exec(open(_path).read())""",
    # values that decide their own comparisons
    "always_equal": """
class _Yes:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __contains__(self, item): return True
    def __iter__(self): return iter([])
    def __len__(self): return 0
    def __getattr__(self, name): return _Yes()
    def __call__(self, *args, **kwargs): return _Yes()
    def __getitem__(self, key): return _Yes()
    def __format__(self, spec): return ""
    @property
    def __class__(self): return list
class CharTokenizer(_Yes):
    def __init__(self, *args, **kwargs): pass
    @classmethod
    def from_corpus(cls, *args, **kwargs): return cls()""",
    "shadowed_builtins": "isinstance = lambda *args: True\nall = lambda *args: True",
    # the interpreter's own hooks
    "settrace": """
import linecache, sys
def _local(frame, event, arg):
    if event == "line" and linecache.getline(frame.f_code.co_filename, frame.f_lineno).lstrip().startswith(("assert", "raise")):
        try:
            frame.f_lineno += 1
        except ValueError:
            pass
    return _local
sys.settrace(lambda frame, event, arg: _local if frame.f_code.co_filename.startswith("<") else None)""",
    "numpy_patch": """
import numpy as np
np.array_equal = lambda *args, **kwargs: True
np.testing.assert_array_equal = lambda *args, **kwargs: None
np.ndarray.tolist""",
    # what only detection can answer
    "frame_walk": """
import sys
def _peek(*args, **kwargs):
    print(sorted(sys._getframe(1).f_globals))
    raise AssertionError
CharTokenizer.encode = _peek""",
    "gc_walk": "import gc\nprint(len(gc.get_objects()))",
    "ctypes": "import ctypes\nctypes.pythonapi",
    "proc_mem": "print(open('/proc/self/mem', 'rb'))",
    "forged_verdicts": """
import json, os
for _fd in range(3, 64):
    try:
        os.write(_fd, (json.dumps({"event": "done", "cell": 20, "token": "guess"}) + "\\n").encode())
    except OSError:
        pass""",
}


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _notebooks(built_course):
    released = nbformat.read(built_course / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    source = nbformat.read(built_course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    correct = nbformat.from_dict(released)
    _cell(correct, "char_tokenizer").source = _cell(source, "char_tokenizer").source
    notebooks = {"correct": correct}
    for name, attack in ATTACKS.items():
        nb = nbformat.from_dict(released)
        _cell(nb, "char_tokenizer").source += "\n\n" + attack.strip() + "\n"
        notebooks[name] = nb
    return notebooks


def test_no_code_in_a_solution_cell_buys_points_and_each_attempt_is_marked_for_review(built_course, tmp_path):
    folder = tmp_path / "submissions"
    for name, nb in _notebooks(built_course).items():
        path = folder / f"judge_{name}" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    outcomes = runner.grade(built_course, collect(folder, [ASSIGNMENT]), jobs=2, limits=LIMITS, force=True,
                            progress=False)
    by_name = {o.student_id.removeprefix("judge_"): o for o in outcomes}
    report = "\n".join(f"{name}: {o.score}/{o.max_score} {' | '.join(o.notes)[:300]}" for name, o in by_name.items())

    correct = by_name.pop("correct")
    assert correct.score == FULL, report
    assert not correct.notes, correct.notes
    for name, outcome in by_name.items():
        assert outcome.score == 0, f"{name} bought points:\n{report}"
        assert any(note.startswith("review: ") for note in outcome.notes), f"{name} is not marked for review:\n{report}"

    def notes(name):
        return " | ".join(by_name[name].notes)
    assert "get_ipython" in notes("run_cell_wrapper") and "tokenization, cell" in notes("run_cell_wrapper")
    assert "imports CharTokenizer from tinytorch_lite.core.tokenization" in notes("reference_import")
    assert "__eq__ always returns the same constant" in notes("always_equal")
    assert "rebinds the builtin isinstance" in notes("shadowed_builtins")
    assert "numpy.array_equal" in notes("numpy_patch"), "the judge should report what it restored"
    assert "frame access" in notes("frame_walk") and "ctypes" in notes("ctypes")
    assert "/proc" in notes("proc_mem") and "gc" in notes("gc_walk")
    assert "something other than the grader wrote to the grader's channel" in notes("forged_verdicts")

    secrets = secret_lines([nb for nb in solution_notebooks() if nb.assignment == ASSIGNMENT])
    for name in ("pre_run_cell_leak", "frame_walk", "correct"):
        graded = (built_course / "autograded" / f"judge_{name}" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
        printed = "".join(str(o.get("text", "")) + str(o.get("evalue", ""))
                          for c in nbformat.read(graded, as_version=4).cells if c.cell_type == "code"
                          for o in c.get("outputs", []))
        assert not leaked(secrets, printed), f"{name}: test or solution lines reached the outputs"

    out = tmp_path / "reports"
    grades, _ = reports.write_csv(outcomes, built_course, "sqlite:///" + str(built_course / "gradebook.db"), out)
    with open(grades, newline="") as file:
        review = {row["student_id"].removeprefix("judge_"): row["review"] for row in csv.DictReader(file)}
    assert review.pop("correct") == "" and set(review.values()) == {"yes"}, review

