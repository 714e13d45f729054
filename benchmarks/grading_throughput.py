"""Grading throughput: seconds per submission for each assignment, serial (JOBS=1) and JOBS=2.

Builds a private course with every assignment, makes N submissions per assignment from the released
notebooks (correct and untouched ones in turn: a correct one runs every test to the end, an untouched
one fails fast), grades each assignment's submissions in the sandbox with JOBS=1 and again with JOBS=2
(nothing reused), and prints seconds per submission, the speedup, the machine's load, and whether the
serial and the parallel grades agree.

    .venv/bin/python benchmarks/grading_throughput.py [--submissions 4] [--assignment 12_embeddings]

To compare two versions of the grader side by side, run this file with PYTHONPATH set to a checkout
of the other version (it uses only release.release, runner.grade and submissions.collect).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from coursekit import release
from coursekit.grading import runner
from coursekit.grading.submissions import collect
from coursekit.sources import solution_notebooks

TARGET_SPEEDUP = 1.7  # what the course asks of JOBS=2 on a 2-core machine


def correct_notebook(course: Path, assignment: str, name: str) -> nbformat.NotebookNode:
    """The released notebook with every answer cell filled in from the instructor's source."""
    released = nbformat.read(course / "student" / assignment / f"{name}.ipynb", as_version=4)
    source = nbformat.read(course / "source" / assignment / f"{name}.ipynb", as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in source.cells}
    for cell in released.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = by_id[cell.metadata["nbgrader"]["grade_id"]]
    return released


def make_submissions(course: Path, folder: Path, assignment: str, count: int) -> None:
    names = sorted(p.stem for p in (course / "student" / assignment).glob("*.ipynb"))
    for index in range(count):
        for name in names:
            path = folder / assignment / f"student{index:03d}" / assignment / f"{name}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nb = (correct_notebook(course, assignment, name) if index % 2 == 0 else
                  nbformat.read(course / "student" / assignment / f"{name}.ipynb", as_version=4))
            nbformat.write(nb, path)


def timed_grade(course: Path, folder: Path, assignment: str, jobs: int) -> tuple[float, float, dict, bool]:
    """Wall seconds, the machine's 1-minute load average before, the grades, and whether every correct
    submission got full marks and every untouched one 0 (else the timing measured something else)."""
    load, start = os.getloadavg()[0], time.perf_counter()
    outcomes = runner.grade(course, collect(folder, [assignment]), jobs=jobs, force=True, progress=False)
    elapsed = time.perf_counter() - start
    expected = all(o.score == (o.max_score if int(o.student_id[-3:]) % 2 == 0 else 0) for o in outcomes)
    return elapsed, load, {o.student_id: {k: t["score"] for k, t in o.tests.items()} for o in outcomes}, expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=4, help="submissions per assignment")
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    args = parser.parse_args()
    notebooks = solution_notebooks()
    assignments = args.assignment or sorted({nb.assignment for nb in notebooks})
    n, rows, agree, graded_right = args.submissions, [], True, True
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as scratch:
        course = Path(scratch) / "course"
        release.release([nb for nb in notebooks if nb.assignment in assignments], course_dir=course,
                         out_dir=course / "student")
        for assignment in assignments:
            folder = Path(scratch) / "submissions"
            make_submissions(course, folder, assignment, n)
            runner.grade(course, collect(folder / assignment, [assignment])[:1], force=True, progress=False)  # warm-up
            serial = timed_grade(course, folder / assignment, assignment, 1)
            parallel = timed_grade(course, folder / assignment, assignment, 2)
            agree &= serial[2] == parallel[2]
            graded_right &= serial[3] and parallel[3]
            rows.append((assignment, serial[0] / n, serial[1], parallel[0] / n, parallel[1], serial[0] / parallel[0]))
    print(f"grading throughput, {n} submissions per assignment (correct and untouched in turn), sandboxed, "
          f"{os.cpu_count()} CPUs")
    print(f"{'assignment':<16} {'s/sub JOBS=1':>13} {'load':>5} {'s/sub JOBS=2':>13} {'load':>5} {'speedup':>8}")
    for assignment, serial_each, serial_load, parallel_each, parallel_load, speedup in rows:
        print(f"{assignment:<16} {serial_each:>13.2f} {serial_load:>5.1f} {parallel_each:>13.2f} "
              f"{parallel_load:>5.1f} {speedup:>7.2f}x")
    print("(load: the machine's 1-minute load average before the run; other work on a shared machine slows "
          f"JOBS=2 first; the course asks JOBS=2 for {TARGET_SPEEDUP}x)")
    print("grades of the serial and the parallel runs are " + ("identical" if agree else "DIFFERENT"))
    print("every correct submission got full marks and every untouched one 0: " + ("yes" if graded_right else "NO"))
    if not (agree and graded_right):
        sys.exit(1)


if __name__ == "__main__":
    main()
