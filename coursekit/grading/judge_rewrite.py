"""Rewrite a test cell so the judge (judge_process.py) sees every value the test judges by.

The test's meaning is unchanged for plain data; what changes is that values a submission could make
lie are checked first:

- each operand of a comparison (`==`, `<`, `in`, ...; not `is`) goes through `__judge_plain__`,
- each condition (`assert x`, `if x`, `while x`, `not x`, `x and y`) goes through `__judge_truth__`,
- each call goes through `__judge_call__(f, ...)`, which checks the arguments of numpy's functions
  (plain data for its comparisons, no `__array_function__` overrides for the rest),
- each `with` manager goes through `__judge_context__`, so a submission's `__exit__` cannot swallow
  an AssertionError.

The helpers are bound in the copy of the namespace the test runs in, never in the submission's.
"""
from __future__ import annotations

import ast

FRAME_DEPENDENT = {"super", "locals", "globals", "vars", "dir", "eval", "exec", "breakpoint"}


def _helper(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=f"__judge_{name}__", ctx=ast.Load()), args=list(args), keywords=[])


class _Rewriter(ast.NodeTransformer):
    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        if all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            return node
        node.left = _helper("plain", node.left)
        node.comparators = [_helper("plain", c) for c in node.comparators]
        return node

    def _truth(self, node: ast.expr) -> ast.expr:
        return _helper("truth", node)

    def visit_Assert(self, node: ast.Assert) -> ast.stmt:
        self.generic_visit(node)
        node.test = self._truth(node.test)
        return node

    def visit_If(self, node):
        self.generic_visit(node)
        node.test = self._truth(node.test)
        return node

    visit_While = visit_If
    visit_IfExp = visit_If

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        self.generic_visit(node)
        node.values = [self._truth(v) for v in node.values]
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            node.operand = self._truth(node.operand)
        return node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and (node.func.id in FRAME_DEPENDENT or node.func.id.startswith("__judge_")):
            return node
        return ast.Call(func=ast.Name(id="__judge_call__", ctx=ast.Load()), args=[node.func, *node.args],
                        keywords=node.keywords)

    def visit_With(self, node: ast.With) -> ast.stmt:
        self.generic_visit(node)
        for item in node.items:
            item.context_expr = _helper("context", item.context_expr)
        return node


def rewrite_test(source: str) -> str:
    """The test cell's source with the judge's checks in place; a cell that does not parse is
    returned as it is (the judge reports its SyntaxError)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    return ast.unparse(ast.fix_missing_locations(_Rewriter().visit(tree)))
