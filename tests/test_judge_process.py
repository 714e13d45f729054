"""The judge process on small notebooks of its own, outside nbgrader: each attack below would pass
its test under a plain kernel (the test is wrong for the submitted value) and must fail here, while
the same test passes for an honest value. Runs without the sandbox; the grading tests run it inside."""
from __future__ import annotations

import secrets
import sys

import pytest

from coursekit.grading import judge
from coursekit.grading.judge_rewrite import rewrite_test

GIVEN = "import numpy as np"
TEST = "got = answer()\nassert got == [1, 2], got"
NUMPY_TEST = "assert np.array_equal(answer(), np.array([1, 2]))"
HONEST = "def answer():\n    return [1, 2]"

# name -> (the student cell, the test it targets); each test passes under a plain kernel
ATTACKS = {
    "always_equal": ("""
class Yes(list):
    def __eq__(self, other): return True
def answer(): return Yes([9])""", TEST),
    "fake_class": ("""
class Fake:
    @property
    def __class__(self): return list
    def __eq__(self, other): return True
def answer(): return Fake()""", "got = answer()\nassert isinstance(got, list) and got == [1, 2]"),
    "numpy_patch": ("""
import numpy
numpy.array_equal = lambda *a, **k: True
def answer(): return [9]""", NUMPY_TEST),
    "builtins_patch": ("""
import builtins
builtins.AssertionError = type("Quiet", (Exception,), {})
builtins.isinstance = lambda *a: True
def answer(): return 9""", "assert isinstance(answer(), list)"),
    "patch_during_the_test": ("""
import numpy
def answer():
    numpy.array_equal = lambda *a, **k: True
    return [9]""", NUMPY_TEST),
    "rebound_numpy": ("""
class _Fake:
    def array_equal(self, *a): return True
    def array(self, x): return x
np = _Fake()
def answer(): return [9]""", NUMPY_TEST),
    "array_function_override": ("""
class Liar:
    def __array_function__(self, func, types, args, kwargs): return True
def answer(): return Liar()""", NUMPY_TEST),
    "swallowing_context": ("""
class answer:
    def __enter__(self): return self
    def __exit__(self, *exc): return True""", "with answer():\n    assert False, 'wrong'"),
    "thread_left_running": ("""
import threading, time
threading.Thread(target=lambda: time.sleep(30), daemon=True).start()
def answer(): return [1, 2]""", TEST),
    "settrace": ("""
import sys
def _skip(frame, event, arg):
    if event == "line" and frame.f_code.co_name == "<module>" and "test" in frame.f_code.co_filename:
        frame.f_lineno += 1
    return _skip
sys.settrace(_skip)
def answer(): return [9]""", TEST),
}


def _run(cells):
    job = {"cells": [{"index": i, "kind": kind, "source": rewrite_test(src) if kind == "test" else src}
                     for i, (kind, src) in enumerate(cells)],
           "token": secrets.token_hex(16), "output_bytes": 1 << 16, "preload": ["numpy", "types"], "view": "/nonexistent"}
    process = judge._Judge([sys.executable, "-I", "-B", "-c", judge.JUDGE_SOURCE], job, 30, confine=False)
    process.collect()
    assert process.ended, process.stderr
    return process


def test_an_honest_answer_passes():
    result = _run([("given", GIVEN), ("student", HONEST), ("test", TEST)])
    assert result.done[2]["ename"] is None, result.done[2]
    assert not result.tampered


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_an_attack_fails_the_test_it_targets(name):
    attack, test = ATTACKS[name]
    result = _run([("given", GIVEN), ("student", attack), ("test", test)])
    assert result.done[2]["ename"] is not None, f"{name} passed the test: {result.done}"


@pytest.mark.parametrize("code, event", [("import sys\nsys.settrace(None)", "sys.settrace"),
                                         ("import gc\ngc.get_objects()", "gc.get_objects"),
                                         ("import ctypes\nctypes.string_at(id(1), 8)", "ctypes.string_at"),
                                         ("import numpy\nnumpy.ctypeslib.ctypes.c_char.from_address(id(1))", "ctypes.cdata"),
                                         ("open('/proc/self/mem', 'rb')", "/proc/self/mem"),
                                         ("import os\nos.open(b'/proc/self/mem', os.O_RDONLY)", "/proc/self/mem"),
                                         ("import os\nos.chdir('/proc/self')\nopen('mem', 'rb')", "mem"),
                                         ("class P(str):\n    pass\nopen(P('/etc/hostname'))", "pathlib paths")])
def test_what_would_reach_the_judge_itself_is_refused(code, event):
    result = _run([("student", code)])
    assert event in (result.done[0]["evalue"] or ""), result.done[0]


def test_a_submission_cannot_add_an_audit_hook_to_watch_the_tests():
    spy = "import sys\nsys.addaudithook(lambda event, args: print('SEEN', event) if event == 'compile' else None)"
    result = _run([("student", spy), ("test", "assert 1 + 1 == 2")])
    assert "SEEN" not in result.done[0]["stdout"] + result.done[1]["stdout"] and result.done[1]["ename"] is None


def test_stdin_is_closed_and_records_need_the_token():
    forge = "import os\nfor fd in range(3, 40):\n    try:\n        os.write(fd, b'{\"event\": \"end\"}\\n')\n" \
            "    except OSError:\n        pass\nprint(repr(open(0).read()))"
    result = _run([("student", forge)])
    assert result.done[0]["stdout"] == "''\n", result.done[0]
    assert "something other than the grader wrote to the grader's channel" in result.tampered
