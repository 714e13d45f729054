"""A static scan of a student's cells for code that tries to steer the grader instead of solving the
task: IPython hooks and transformers, trace functions, display and exception hooks, patched modules
and builtins, comparisons that always agree, frame and gc access, ctypes, process exits, import
tricks, and imports of the very module being graded.

The judge (judge_process.py) prevents what it can at run time; this scan names, by cell and line,
what an instructor should look at, and a submission with any finding is marked for review. It never
changes a score. It reads source with `ast` only: nothing of the submission runs here.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..export import PACKAGE, collect, public_names
from ..sources import solution_notebooks
from .manifest import cell_hash

MAX_FINDINGS = 20

MODULES = {
    "ctypes": "ctypes (raw memory access)", "_ctypes": "ctypes (raw memory access)", "cffi": "cffi (raw memory access)",
    "gc": "the garbage collector's object lists", "inspect": "frame inspection", "IPython": "IPython's machinery",
    "ipykernel": "the kernel's machinery", "traitlets": "the kernel's configuration", "marshal": "raw bytecode",
    "importlib": "import machinery", "builtins": "the builtins module", "__builtin__": "the builtins module",
    "_thread": "threads", "threading": "threads", "signal": "signal handlers", "atexit": "exit handlers",
    "nbgrader": "the grader's own package", "nbclient": "the grader's own package",
}
ATTRIBUTES = {
    "settrace": "a trace function", "setprofile": "a profile function", "gettrace": "a trace function",
    "displayhook": "sys.displayhook", "excepthook": "sys.excepthook", "__displayhook__": "sys.displayhook",
    "_getframe": "frame access", "_current_frames": "frame access", "currentframe": "frame access",
    "f_back": "frame access", "f_globals": "frame access", "f_locals": "frame access", "f_code": "frame access",
    "f_lineno": "frame access", "f_trace": "frame access", "tb_frame": "frame access", "gi_frame": "frame access",
    "cr_frame": "frame access", "co_consts": "code objects", "__code__": "code objects", "__globals__": "frame access",
    "addaudithook": "audit hooks", "_exit": "os._exit", "kill": "signals to processes", "meta_path": "import hooks",
    "path_hooks": "import hooks", "input_transformers_cleanup": "IPython input transformers",
    "input_transformers_post": "IPython input transformers", "ast_transformers": "IPython AST transformers",
    "register": "event or hook registration", "run_cell": "IPython's run_cell", "events": "IPython events",
    "__builtins__": "the builtins namespace", "__array_function__": "numpy dispatch overrides",
    "__array_ufunc__": "numpy dispatch overrides", "__subclasshook__": "isinstance overrides",
    "__instancecheck__": "isinstance overrides",
}
NAMES = {"get_ipython": "IPython's shell", "__import__": "__import__", "exec": "exec", "eval": "eval",
         "compile": "compile", "setattr": "setattr", "delattr": "delattr", "globals": "globals()",
         "__builtins__": "the builtins namespace"}
GUARDED_BUILTINS = {"isinstance", "issubclass", "type", "len", "all", "any", "abs", "str", "repr", "int",
                    "float", "bool", "list", "tuple", "dict", "set", "sorted", "print", "hasattr", "getattr",
                    "callable", "range", "zip", "map", "min", "max", "sum", "round", "AssertionError",
                    "Exception", "ValueError", "TypeError", "IndexError", "KeyError", "id", "object"}
COMPARISONS = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__contains__"}


@dataclass
class Finding:
    cell: str  # how the cell is named in notes, e.g. "embedding_lookup, cell 7 (`embedding_class`)"
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.cell}, line {self.line}: {self.what}"


def _constant_returns(function: ast.FunctionDef | ast.Lambda) -> bool:
    """A comparison method that returns the same constant whatever it is given."""
    if isinstance(function, ast.Lambda):
        return isinstance(function.body, ast.Constant) and isinstance(function.body.value, bool)
    returns = [n for n in ast.walk(function) if isinstance(n, ast.Return)]
    return bool(returns) and all(isinstance(r.value, ast.Constant) and isinstance(r.value.value, bool)
                                 and r.value.value == returns[0].value.value for r in returns)


class _Scanner(ast.NodeVisitor):
    def __init__(self, modules: set[str], outside_names: set[str], graded: set[str]):
        self.modules, self.outside_names, self.graded = modules, outside_names, graded
        self.found: list[tuple[int, str]] = []

    def flag(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    def _import(self, node, name: str) -> None:
        root = name.split(".")[0]
        if root in MODULES:
            self.flag(node, f"imports {name} ({MODULES[root]})")
        if name in self.graded or any(name.startswith(g + ".") for g in self.graded):
            self.flag(node, f"imports {name}, the module this notebook asks you to write")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._import(node, alias.name)
            self.modules.add((alias.asname or alias.name).split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module:
            self._import(node, node.module)
            for alias in node.names:
                if f"{node.module}.{alias.name}" in self.graded:
                    self.flag(node, f"imports {alias.name} from {node.module}, what this notebook asks you to write")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ATTRIBUTES:
            self.flag(node, f"uses .{node.attr} ({ATTRIBUTES[node.attr]})")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in NAMES and isinstance(node.ctx, ast.Load):
            self.flag(node, f"uses {NAMES[node.id]}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and "/proc/" in node.value:
            self.flag(node, "names a file under /proc (the process's own memory and descriptors)")

    def _target(self, target: ast.expr) -> None:
        base = target
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            base = base.value
        if isinstance(target, (ast.Attribute, ast.Subscript)) and isinstance(base, ast.Name):
            if base.id in self.modules:
                self.flag(target, f"assigns to an attribute of the module {base.id}")
            elif base.id in self.outside_names:
                self.flag(target, f"assigns to an attribute of {base.id}, which the submission did not define")
        elif isinstance(target, ast.Name) and target.id in GUARDED_BUILTINS:
            self.flag(target, f"rebinds the builtin {target.id}")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target)
            if isinstance(target, ast.Name) and target.id in COMPARISONS and isinstance(node.value, ast.Lambda) \
                    and _constant_returns(node.value):
                self.flag(node, f"{target.id} always returns {node.value.body.value}")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._target(target)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in COMPARISONS and _constant_returns(node):
            self.flag(node, f"{node.name} always returns the same constant")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef


def _top_level_definitions(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def graded_names(notebook) -> set[str]:
    """What the given solution notebook asks the student to write, as importable names: each name its
    export cells define ("tinytorch_lite.core.embeddings.RotaryEmbedding") and each module only it
    exports ("tinytorch_lite.core.tokenization")."""
    everything = collect(solution_notebooks())
    names = set()
    for module, parts in collect([notebook]).items():
        full = f"{PACKAGE}.{module}"
        if all(nb == notebook for nb, _ in everything.get(module, [])):
            names.add(full)
        for _, code in parts:
            try:
                names |= {f"{full}.{name}" for name in public_names(ast.parse(code))}
            except SyntaxError:
                continue
    return names


def scan(student_cells: list[tuple[str, str]], instructor_sources: list[str], graded_modules: set[str]) -> list[Finding]:
    """student_cells: (how to name the cell, its source); instructor_sources: the notebook's other
    cells, whose imports say which names are modules or outside classes; graded_modules: the
    names this notebook asks for (graded_names)."""
    modules, imported = set(), set()
    for source in instructor_sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported |= {a.asname or a.name for a in node.names}
    trees = []
    for label, source in student_cells:
        try:
            trees.append((label, ast.parse(source)))
        except SyntaxError:
            continue  # it does not run either; the cell's error says so
        except (ValueError, RecursionError, MemoryError):
            return [Finding(label, 0, "the cell could not be scanned (too deeply nested or too large)")]
    defined = set().union(*(_top_level_definitions(tree) for _, tree in trees)) if trees else set()
    findings = []
    for label, tree in trees:
        scanner = _Scanner(set(modules), imported - defined, graded_modules)
        try:
            scanner.visit(tree)
        except RecursionError:
            scanner.found.append((0, "the cell could not be scanned (too deeply nested)"))
        findings += [Finding(label, line, what) for line, what in dict.fromkeys(scanner.found)]
    return findings[:MAX_FINDINGS]


def review(autograded: Path, runtime: Path) -> list[str]:
    """For the worker: the scan's findings in the student's cells of each autograded notebook (cells
    that are solution cells or not among the instructor's cells), and what the judge saw at run time;
    both from the report judge.JudgedExecute wrote for the notebook."""
    reasons = []
    for path in sorted(autograded.glob("*.ipynb")):
        report_path = runtime / f"judge-{path.stem}" / "report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        reasons += [f"{path.stem}: {t}" for t in report.get("tampered", [])]
        try:
            cells = nbformat.read(path, as_version=4).cells
        except Exception:  # noqa: BLE001  a notebook nbgrader could not read has its own note
            continue
        known = set(report.get("instructor_cells", []))
        student, others = [], []
        for number, cell in enumerate(cells, start=1):
            if cell.get("cell_type") != "code":
                continue
            meta = cell.get("metadata", {}).get("nbgrader", {})
            source = str(cell.get("source", ""))
            if meta.get("solution") or cell_hash(source.strip()) not in known:
                label = f"{path.stem}, cell {number}" + (f" (`{meta['grade_id']}`)" if meta.get("grade_id") else "")
                student.append((label, source))
            else:
                others.append(source)
        reasons += [str(f) for f in scan(student, others, set(report.get("graded_names", [])))]
    return reasons
