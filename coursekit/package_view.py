"""Which part of tinytorch_lite a notebook may see: the package compiled from the notebooks that come
before it, never the answers of the notebook being graded.

The course order is the solutions' path order (assignment, then notebook), the same order `make
export` compiles in. Grading `12_embeddings/02_positional_encoding` sees `core.tensor`,
`core.tokenization`, `analysis.timing` and the part of `core.embeddings` that part 1 exports, but
not `RotaryEmbedding` or anything else part 2 asks the student to write. The graded notebook's own
modules hold only its instructor cells' exports (course material such as plots), and any other
name is looked up in the student's notebook: a given cell that imports the module it is graded on
gets the student's code, never the reference. The grader mounts this view in the sandbox instead
of the installed package; a student bundle for an assignment ships the view of its first notebook
(`notebooks_allowed(assignment)`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .export import PACKAGE, collect, module_path, render_module
from .sources import ROOT, SolutionNotebook, is_solution, solution_notebooks

FROM_THE_NOTEBOOK = '''


def __getattr__(name):
    """What the graded notebook asks for comes from the student's own cells, never from here."""
    import sys

    try:
        return vars(sys.modules["__main__"])[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
'''


def notebooks_allowed(assignment: str, notebook: str | None = None,
                      notebooks: list[SolutionNotebook] | None = None) -> list[SolutionNotebook]:
    """The solution notebooks whose exports the given notebook may import: every notebook of an
    earlier assignment and, with `notebook`, the earlier notebooks of the same assignment."""
    notebooks = solution_notebooks() if notebooks is None else notebooks
    if notebook is None:
        return [nb for nb in notebooks if nb.assignment < assignment]
    return [nb for nb in notebooks if (nb.assignment, nb.name) < (assignment, notebook)]


class _WithoutAnswers(SolutionNotebook):
    """A solution notebook without its solution cells: what it still exports is instructor material."""

    def read(self):
        nb = super().read()
        nb.cells = [c for c in nb.cells if not is_solution(c)]
        return nb


def build(target: Path, allowed: list[SolutionNotebook], graded: SolutionNotebook | None = None) -> list[str]:
    """Write the package compiled from `allowed` (and the instructor cells of `graded`) under
    target/tinytorch_lite, the hand-written `__init__.py` files included; returns its module
    names, which the judge imports before student code runs."""
    shutil.rmtree(target / PACKAGE, ignore_errors=True)
    for init in (ROOT / PACKAGE).rglob("__init__.py"):
        copy = target / init.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(init, copy)
    graded_modules = set(collect([graded])) if graded else set()
    modules = collect(allowed + ([_WithoutAnswers(graded.path)] if graded else []))
    names = [PACKAGE]
    for module in sorted(set(modules) | graded_modules):
        path = module_path(module, target)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render_module(module, modules[module]) if modules.get(module) else f'"""{PACKAGE}.{module}"""\n'
        path.write_text(text + (FROM_THE_NOTEBOOK if module in graded_modules else ""))
        names.append(f"{PACKAGE}.{module}")
    return names
