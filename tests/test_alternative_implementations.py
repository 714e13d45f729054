"""Every other correct implementation in the catalogue keeps full marks under the real grader, and every
solution region has at least three of them."""
from __future__ import annotations

import pytest

from coursekit.sources import ROOT
from implementation_catalogue import NOTEBOOKS, grade, load, region_of, regions, well_formed_problems

CATALOGUE = load("alternative_implementations", "ALTERNATIVE_IMPLEMENTATIONS")
PER_REGION = 3
# notebooks whose author has not yet written their alternatives; the coverage test fails once they have
AWAITING_ALTERNATIVES = set()


def test_catalogue_is_well_formed():
    assert not well_formed_problems(CATALOGUE)


def test_every_solution_region_has_alternatives():
    counts = {}
    for entry in CATALOGUE:
        key = (entry["notebook"], region_of(entry))
        counts[key] = counts.get(key, 0) + 1
    short = [f"{notebook}: {label} has {counts.get((notebook, label), 0)}"
             for notebook in NOTEBOOKS if notebook not in AWAITING_ALTERNATIVES
             for _, _, label in regions((ROOT / notebook).read_text())
             if counts.get((notebook, label), 0) < PER_REGION]
    assert not short, f"every solution region needs at least {PER_REGION} alternatives:\n" + "\n".join(short)
    covered = {notebook for notebook, _ in counts}
    assert not AWAITING_ALTERNATIVES & covered, "alternatives have arrived: remove them from AWAITING_ALTERNATIVES"


def _students() -> dict[str, tuple[str, list[dict]]]:
    """Alternatives packed into few submissions: the k-th student of a notebook writes the k-th
    alternative of every region (regions do not overlap, so the edits combine)."""
    by_region = {}
    for entry in CATALOGUE:
        by_region.setdefault((entry["notebook"], region_of(entry)), []).append(entry)
    students = {}
    for (notebook, _), entries in by_region.items():
        for k, entry in enumerate(entries):
            student_id = f"{NOTEBOOKS[notebook].name}_{k}"
            students.setdefault(student_id, (notebook, []))[1].append(entry)
    return students


@pytest.mark.catalogue
def test_every_alternative_keeps_full_marks(built_course, tmp_path):
    """A packed submission that loses points is graded again entry by entry, to name the culprits."""
    students = _students()
    results = grade(built_course, students, tmp_path / "packed")
    losing = [student_id for student_id, result in results.items() if result["score"] < result["max_score"]]
    if not losing:
        return
    alone = {entry["id"]: (notebook, [entry]) for student_id in losing
             for notebook, entries in [students[student_id]] for entry in entries}
    singles = grade(built_course, alone, tmp_path / "alone")
    culprits = {entry_id: result["lost"] for entry_id, result in singles.items()
                if result["score"] < result["max_score"]}
    report = "\n".join(f"{entry_id}: loses points in {lost}" for entry_id, lost in culprits.items()) or \
        "no entry loses points alone; these packed submissions do: " + ", ".join(
            f"{s} {results[s]['lost']}" for s in losing)
    pytest.fail("correct implementations lose points:\n" + report)
