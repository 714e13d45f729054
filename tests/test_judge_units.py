"""The judge's parts without grading: the package view, the tamper scan, the test rewrite."""
from __future__ import annotations

import ast

import pytest

from coursekit import package_view
from coursekit.grading import tamper_scan
from coursekit.grading.judge_rewrite import rewrite_test
from coursekit.sources import solution_notebooks

NOTEBOOKS = {nb.name: nb for nb in solution_notebooks()}


def _module_names(target):
    return {str(p.relative_to(target)) for p in target.rglob("*.py") if p.name != "__init__.py"}


def test_the_package_view_holds_no_answer_of_the_graded_notebook(tmp_path):
    view = tmp_path / "view"
    package_view.build(view, package_view.notebooks_allowed("11_tokenization", "tokenization"),
                       NOTEBOOKS["tokenization"])
    assert _module_names(view) == {"tinytorch_lite/core/tensor.py", "tinytorch_lite/core/tokenization.py"}
    tokenization = (view / "tinytorch_lite/core/tokenization.py").read_text()
    assert "class CharTokenizer" not in tokenization and "def __getattr__" in tokenization

    package_view.build(view, package_view.notebooks_allowed("12_embeddings", "02_positional_encoding"),
                       NOTEBOOKS["02_positional_encoding"])
    assert _module_names(view) == {"tinytorch_lite/core/tensor.py", "tinytorch_lite/core/tokenization.py",
                                   "tinytorch_lite/core/embeddings.py", "tinytorch_lite/core/module.py",
                                   "tinytorch_lite/analysis/timing.py",
                                   "tinytorch_lite/analysis/extrapolation.py", "tinytorch_lite/analysis/training.py"}
    embeddings = (view / "tinytorch_lite/core/embeddings.py").read_text()
    assert "class Embedding" in embeddings  # part 1, an earlier notebook
    assert "class RotaryEmbedding" not in embeddings and "def sinusoidal_table" not in embeddings
    assert "class LabConfig" in (view / "tinytorch_lite/analysis/extrapolation.py").read_text()  # instructor material
    assert [nb.assignment for nb in package_view.notebooks_allowed("12_embeddings")] == ["02_tensor", "11_tokenization"]


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_the_tamper_scan_flags_nothing_in_the_solutions(name):
    cells = NOTEBOOKS[name].read().cells
    student = [(f"cell {i}", c.source) for i, c in enumerate(cells)
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    others = [c.source for c in cells if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("solution")]
    assert student
    assert tamper_scan.scan(student, others, tamper_scan.graded_names(NOTEBOOKS[name])) == []


IDIOMS = {
    "get_ipython().events.register('post_run_cell', f)": "IPython's shell",
    "import sys\nsys.settrace(f)": "a trace function",
    "sys.displayhook(3)": "sys.displayhook",
    "np.allclose = lambda *a, **k: True": "assigns to an attribute of the module np",
    "import builtins\nbuiltins.len = max": "imports builtins",
    "Tensor.__eq__ = f": "assigns to an attribute of Tensor",
    "class A:\n    def __eq__(self, other):\n        return True": "__eq__ always returns the same constant",
    "class A:\n    __ne__ = lambda self, other: False": "__ne__ always returns False",
    "from tinytorch_lite.core.embeddings import RotaryEmbedding": "what this notebook asks you to write",
    "import ctypes": "ctypes",
    "import gc\ngc.get_referrers(x)": "garbage collector",
    "f = sys._getframe(1).f_back": "frame access",
    "import os\nos._exit(0)": "os._exit",
    "__import__('ctypes')": "__import__",
    "open('/proc/self/mem')": "/proc",
    "isinstance = lambda *a: True": "rebinds the builtin isinstance",
}


@pytest.mark.parametrize("code", sorted(IDIOMS))
def test_the_tamper_scan_names_cell_and_line_of_each_idiom(code):
    source = "x = 1\n" + code
    findings = tamper_scan.scan([("part 2, cell 7", source)], ["import numpy as np\nfrom t import Tensor"],
                                tamper_scan.graded_names(NOTEBOOKS["02_positional_encoding"]))
    assert any(IDIOMS[code] in f.what for f in findings), findings
    assert all(f.line >= 2 for f in findings) and str(findings[0]).startswith("part 2, cell 7, line ")


def test_the_tamper_scan_survives_hostile_source():
    deep = "x = a" + ".b" * 100_000
    findings = tamper_scan.scan([("cell 1", deep), ("cell 2", "def broken(:")], [], set())
    assert [f.what for f in findings] == ["the cell could not be scanned (too deeply nested or too large)"]


def test_the_rewrite_routes_comparisons_conditions_calls_and_contexts_through_the_judge():
    source = ("assert f(x) == [1, 2] and not g, 'message'\nif a in b:\n    pass\nwith m() as v:\n    pass\n"
              "assert x is None\nsuper()")
    rewritten = rewrite_test(source)
    tree = ast.parse(rewritten)
    helpers = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert {"__judge_plain__", "__judge_truth__", "__judge_call__", "__judge_context__"} <= set(helpers)
    assert "__judge_plain__(x) is None" not in rewritten and "x is None" in rewritten  # identity needs no check
    assert "super()" in rewritten  # frame-dependent builtins are called as written
    assert rewrite_test("def broken(:") == "def broken(:"
