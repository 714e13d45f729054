"""Every plausible wrong implementation in the catalogue must lose points under the real grader."""
from __future__ import annotations

import pytest

from implementation_catalogue import grade, load, well_formed_problems

CATALOGUE = load("wrong_implementations", "WRONG_IMPLEMENTATIONS")


def test_catalogue_is_well_formed():
    assert not well_formed_problems(CATALOGUE)


@pytest.mark.catalogue
def test_every_wrong_implementation_loses_points(built_course, tmp_path):
    """Each entry is one 'student' who submits only the notebook the mistake is in; that notebook
    must score below its own full marks (the other notebooks, missing, are not counted)."""
    results = grade(built_course, {entry["id"]: (entry["notebook"], [entry]) for entry in CATALOGUE}, tmp_path)
    for entry_id, result in results.items():
        assert result["max_score"] > 0, f"{entry_id}: its notebook has no graded tests"
    escaped = [entry_id for entry_id, result in results.items() if result["score"] >= result["max_score"]]
    assert not escaped, f"these wrong implementations still get full marks: {escaped}"
