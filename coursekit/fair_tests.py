"""The rules for graded tests that a program can check (solutions/README.md, "Tests that accept every
correct answer"): no bit-for-bit comparison unless the test says why every correct answer gives the same
bits, and error messages checked only for facts, never for wording.
"""
from __future__ import annotations

import ast
import re

EXACT_MARK = "# exact:"
_EXACT_CALLS = {"array_equal", "array_equiv", "assert_array_equal", "assert_equal"}
_FACT = re.compile(r"-?\d+(\.\d+)?")


def _statement_lines(tree: ast.AST) -> list[tuple[int, int]]:
    return [(node.lineno, node.end_lineno) for node in ast.walk(tree) if isinstance(node, ast.stmt)]


def _innermost(spans: list[tuple[int, int]], node: ast.AST) -> tuple[int, int]:
    around = [s for s in spans if s[0] <= node.lineno and node.end_lineno <= s[1]]
    return min(around, key=lambda s: s[1] - s[0])


def _has_float(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and isinstance(n.value, float) for n in ast.walk(node))


def _integer_literal(node: ast.AST) -> bool:
    """[3, 0, 2] and the like: whole numbers compare exactly whatever the other side's dtype."""
    return isinstance(node, (ast.List, ast.Tuple, ast.Constant, ast.UnaryOp)) and all(
        isinstance(n.value, int) for n in ast.walk(node) if isinstance(n, ast.Constant))


def _exact_comparisons(tree: ast.AST, lines: list[str]) -> list[str]:
    spans, problems = _statement_lines(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            exact = name in _EXACT_CALLS and not any(map(_integer_literal, node.args))
        elif isinstance(node, ast.Compare):
            exact = any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops) and \
                any(_has_float(side) for side in [node.left, *node.comparators])
            name = "=="
        else:
            continue
        if not exact:
            continue
        first, last = _innermost(spans, node)
        if not any(EXACT_MARK in line for line in lines[first - 1:last]):
            problems.append(f"line {node.lineno}: compares bit for bit ({name}); use a tolerance "
                            f"derived from the operation's error, or say why every correct answer gives "
                            f"the same bits in a `{EXACT_MARK} ...` comment")
    return problems


def _facts_passed_in(tree: ast.AST) -> set[str]:
    """Names and values the test itself hands to the code under test: keyword names, string arguments."""
    facts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            facts |= {k.arg for k in node.keywords if k.arg}
            facts |= {a.value for a in [*node.args, *(k.value for k in node.keywords)]
                      if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return facts


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def _message_wording(tree: ast.AST) -> list[str]:
    facts, problems = _facts_passed_in(tree), []
    for handler in ast.walk(tree):
        if not (isinstance(handler, ast.ExceptHandler) and handler.name):
            continue
        names = {handler.name}
        for node in ast.walk(handler):  # message = str(error) and the like
            if isinstance(node, ast.Assign) and _mentions(node.value, names):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(handler):
            if not (isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn))):
                continue
            text = node.left
            if not (isinstance(text, ast.Constant) and isinstance(text.value, str)) or \
                    not _mentions(node.comparators[0], names):
                continue
            if not (_FACT.fullmatch(text.value) or text.value in facts):
                problems.append(f"line {node.lineno}: checks an error message for the wording {text.value!r}; "
                                "check only facts: a number, or a name or value the test passes in")
    return problems


def problems(source: str) -> list[str]:
    """What in one graded test cell's source breaks the rules that a program can check."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # reported by the caller
    return _exact_comparisons(tree, source.splitlines()) + _message_wording(tree)
