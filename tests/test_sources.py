"""coursekit.sources knows the notebook format once: nbgrader's predicates and the marker scanner."""
import pytest
from nbgrader import utils as nbgrader_utils

from coursekit.sources import is_grade, is_locked, is_solution, scan_markers, solution_notebooks


def test_the_predicates_decide_as_nbgrader_does_on_every_cell_of_the_course():
    cells = [cell for nb in solution_notebooks() for cell in nb.read().cells]
    assert any(is_grade(c) for c in cells) and any(is_solution(c) for c in cells)
    for cell in cells:
        assert is_grade(cell) == bool(nbgrader_utils.is_grade(cell))
        assert is_solution(cell) == bool(nbgrader_utils.is_solution(cell))
        assert is_locked(cell) == bool(nbgrader_utils.is_locked(cell))


def test_the_scanner_puts_each_line_in_its_region():
    scan = scan_markers("a\n    ### BEGIN SOLUTION\n    b\n    ### END SOLUTION\nc\n### BEGIN HIDDEN TESTS\nd\n"
                        "### END HIDDEN TESTS")
    assert scan.outside() == ["a", "c"] and scan.inside("solution") == ["    b"] and scan.inside("hidden") == ["d"]
    assert scan.inside() == ["    b", "d"] and not scan.problems
    assert len(scan.markers) == 4


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx", "never closed"),
    ("x\n### END SOLUTION", "without its"),
    ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION", "nested"),
    ("### BEGIN SOLUTION\n### END HIDDEN TESTS", "without its"),
])
def test_the_scanner_names_unbalanced_and_nested_markers(source, problem):
    assert any(problem in p for p in scan_markers(source).problems)
