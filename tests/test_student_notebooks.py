"""What a student meets in the released notebooks, beyond the graded tests: every module a notebook
uses is imported in it, and the experiments run on the student's own classes."""
from __future__ import annotations

import ast
import json
import sys

import pytest

from coursekit.sources import ROOT

STUDENT_NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))


def code_of(path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")


def _tree(path) -> ast.Module:
    lines = [line for line in code_of(path).splitlines() if not line.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_standard_module_a_notebook_uses_is_imported_in_it(path):
    """Check that `math.sqrt(...)` and the like only appear where `import math` does too."""
    tree = _tree(path)
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    used = {node.value.id for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)}
    missing = sorted(name for name in used - bound if name in sys.stdlib_module_names)
    assert not missing, f"{path.relative_to(ROOT)} uses {missing} without importing them"


def test_the_extrapolation_lab_runs_on_the_notebooks_classes():
    """Check that the lab of the position notebook is given the EmbeddingLayer and RotaryEmbedding
    written in the notebook, and that no cell replaces those names with the package's."""
    path = ROOT / "notebooks" / "12_embeddings" / "02_positional_encoding.ipynb"
    tree = _tree(path)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id == "run_lab"]
    assert calls, "the notebook never runs the lab"
    for call in calls:
        given = {keyword.arg: getattr(keyword.value, "id", None) for keyword in call.keywords}
        assert given.get("embedding_layer") == "EmbeddingLayer" and given.get("rotary_embedding") == "RotaryEmbedding", (
            f"run_lab is called without the notebook's classes: {ast.unparse(call)}")
    imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    assert not {"EmbeddingLayer", "RotaryEmbedding"} & imported, "a cell imports the package's classes over the notebook's"


def test_the_systems_measurements_use_the_notebooks_formulas():
    """Check that notebook 3's plots and profile are given the formulas written in the notebook."""
    path = ROOT / "notebooks" / "12_embeddings" / "03_embedding_systems.ipynb"
    tree = _tree(path)
    wanted = {"plot_memory_scaling": {"embedding_memory"}, "plot_training_memory": {"embedding_memory"},
              "profile_lookup": {"lookup_bytes", "achieved_bandwidth"}}
    seen = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in wanted:
            given = {keyword.arg for keyword in node.keywords
                     if isinstance(keyword.value, ast.Name) and keyword.value.id == keyword.arg}
            assert wanted[node.func.id] <= given, f"{ast.unparse(node)} does not pass {wanted[node.func.id] - given}"
            seen.add(node.func.id)
    assert seen == set(wanted), f"calls not found in the notebook: {set(wanted) - seen}"


def test_validate_ends_without_kernel_or_zmq_noise(tmp_path):
    """Check that `make validate` prints its report and nothing that reads like a crash: the kernel is
    shut down before the tool exits (no "Could not destroy zmq context", no "Parent appears to have
    exited")."""
    import subprocess

    import nbformat

    cell = nbformat.v4.new_code_cell('"""Check that one is one."""\nassert 1 == 1')
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_one", "locked": True, "points": 1,
                                 "schema_version": 3, "solution": False}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    result = subprocess.run([sys.executable, "-m", "coursekit", "validate", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS test_one" in result.stdout
    for noise in ("zmq", "Parent appears to have exited", "WARNING"):
        assert noise not in result.stdout + result.stderr, f"validate printed {noise!r}:\n{result.stderr}"
