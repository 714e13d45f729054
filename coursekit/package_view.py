"""Which part of tinytorch_lite a notebook may see: the package compiled from the notebooks that come
before it, never from itself or later ones.

The course order is the solutions' path order (assignment, then notebook), the same order `make
export` compiles in. Grading `12_embeddings/02_positional_encoding` sees `core.tensor`,
`core.tokenization`, `core.timing` and the part of `core.embeddings` that part 1 exports, but not
`RotaryEmbedding` or anything else part 2 asks the student to write. The grader mounts this view
in the sandbox instead of the installed package; a student bundle for an assignment ships the view
of its first notebook (`notebooks_allowed(assignment)`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .export import PACKAGE, collect, module_path, render_module
from .sources import ROOT, SolutionNotebook, solution_notebooks


def notebooks_allowed(assignment: str, notebook: str | None = None,
                      notebooks: list[SolutionNotebook] | None = None) -> list[SolutionNotebook]:
    """The solution notebooks whose exports the given notebook may import: every notebook of an
    earlier assignment and, with `notebook`, the earlier notebooks of the same assignment."""
    notebooks = solution_notebooks() if notebooks is None else notebooks
    if notebook is None:
        return [nb for nb in notebooks if nb.assignment < assignment]
    return [nb for nb in notebooks if (nb.assignment, nb.name) < (assignment, notebook)]


def build(target: Path, allowed: list[SolutionNotebook]) -> list[str]:
    """Write the package compiled from `allowed` under target/tinytorch_lite (the hand-written
    `__init__.py` files included) and return its module names, to import before student code runs."""
    shutil.rmtree(target / PACKAGE, ignore_errors=True)
    for init in (ROOT / PACKAGE).rglob("__init__.py"):
        copy = target / init.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(init, copy)
    names = [PACKAGE]
    for module, parts in sorted(collect(allowed).items()):
        path = module_path(module, target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_module(module, parts))
        names.append(f"{PACKAGE}.{module}")
    return names
