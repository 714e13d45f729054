"""Validation of the course sources before nbgrader sees them."""
from __future__ import annotations

import pytest

from coursekit.sources import CourseError, solution_notebooks
from coursekit.validate import validate
from test_export import SOLUTION, TEST, first_part, write


def problems(tmp_path, extra: str, relative: str = "01_a/things.py") -> str:
    write(tmp_path, relative, first_part() + "\n" + extra)
    with pytest.raises(CourseError) as error:
        validate(solution_notebooks(tmp_path / "solutions"))
    return str(error.value)


def test_a_good_notebook_validates(tmp_path):
    write(tmp_path, "01_a/things.py", first_part())
    validate(solution_notebooks(tmp_path / "solutions"))


def test_the_real_course_validates():
    validate(solution_notebooks())


def test_duplicate_grade_id_across_notebooks(tmp_path):
    write(tmp_path, "02_b/other.py", first_part(module="core.other"))
    message = problems(tmp_path, "", relative="01_a/things.py")
    assert "grade_id 'double_solution' is already used in solutions/01_a/things.py" in message


@pytest.mark.parametrize("cell, expected", [
    (SOLUTION % "s2" + "def f():\n    return 1\n", "without `### BEGIN SOLUTION` / `### END SOLUTION`"),
    (SOLUTION % "s3" + "### BEGIN SOLUTION\nx = 1\n", "without `### BEGIN SOLUTION`"),
    (SOLUTION % "s4" + "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "unbalanced or nested"),
    ((TEST % "t2").replace('"points": 1', '"points": 0') + '"""Check that."""\nassert True\n', "positive number"),
    ((TEST % "t3").replace('"locked": true', '"locked": false') + '"""Check that."""\nassert True\n', "not locked"),
    (TEST % "t4" + "assert True\n", 'one-line """Check that ..."""'),
    ((TEST % "t5").replace('"schema_version": 3', '"schema_version": 1') + '"""Check that."""\n', "must be 3"),
    ("# %%\nx = 1\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS\n", "not a graded test cell"),
    ("# %%\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "no nbgrader metadata"),
    ('# %% nbgrader={"grade": false, "locked": true, "schema_version": 3, "solution": false}\nx = 1\n', "no grade_id"),
])
def test_each_problem_is_named_with_its_cell(tmp_path, cell, expected):
    message = problems(tmp_path, cell)
    assert expected in message
    assert "solutions/01_a/things.py, cell 6" in message


def test_notebook_without_graded_cells(tmp_path):
    write(tmp_path, "01_a/things.py", "# %%\n#| default_exp core.x\nx = 1\n")
    with pytest.raises(CourseError, match="has no graded test cell"):
        validate(solution_notebooks(tmp_path / "solutions"))


@pytest.mark.parametrize("body, expected", [
    ('assert np.array_equal(f(), g())\n', "compares bit for bit (array_equal)"),
    ('assert f() == 0.5\n', "compares bit for bit (==)"),
    ('try:\n    f()\nexcept TypeError as error:\n    assert "integer" in str(error)\n', "wording 'integer'"),
    ('try:\n    f()\nexcept ValueError as error:\n    message = str(error)\n    assert "(1, 1)" in message\n',
     "wording '(1, 1)'"),
])
def test_unfair_graded_tests_are_refused(tmp_path, body, expected):
    message = problems(tmp_path, TEST % "unfair" + '"""Check that f is fair."""\n' + body)
    assert expected in message


@pytest.mark.parametrize("body", [
    'assert np.array_equal(f(), g())  # exact: a lookup copies rows\n',
    'assert np.array_equal(f(), [3, 0, 2])\n',
    'assert np.allclose(f(), 0.5)\n',
    'try:\n    f(size=3)\nexcept ValueError as error:\n    assert "3" in str(error) and "size" in str(error)\n',
])
def test_fair_graded_tests_pass(tmp_path, body):
    write(tmp_path, "01_a/things.py", first_part() + "\n" + TEST % "fair" + '"""Check that f is fair."""\n' + body)
    validate(solution_notebooks(tmp_path / "solutions"))
