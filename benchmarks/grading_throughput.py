"""Grading throughput, serial vs parallel: submissions per minute with JOBS=1 and JOBS=2.

Builds a private course with the 11_tokenization assignment, makes N submissions from the released
notebook (correct, wrong and untouched ones in turn), grades them all in the sandbox with JOBS=1 and
again with JOBS=2 (nothing reused), and prints both rates, their ratio, and whether the grades agree.

    .venv/bin/python benchmarks/grading_throughput.py [--submissions 12]
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

ASSIGNMENT, NOTEBOOK = "11_tokenization", "tokenization"
TARGET_SPEEDUP = 1.7  # what the course asks of JOBS=2 on a 2-core machine


def make_submissions(course: Path, folder: Path, count: int) -> None:
    released = nbformat.read(course / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in source.cells}
    correct = nbformat.from_dict(released)
    for cell in correct.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = by_id[cell.metadata["nbgrader"]["grade_id"]]
    wrong = nbformat.from_dict(correct)
    for cell in wrong.cells:
        cell.source = cell.source.replace("ids = [self.bos_id] + ids + [self.eos_id]",
                                          "ids = [self.eos_id] + ids + [self.bos_id]")
    kinds = [correct, wrong, released]
    for index in range(count):
        path = folder / f"student{index:03d}" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(kinds[index % len(kinds)], path)


def timed_grade(course: Path, folder: Path, jobs: int) -> tuple[float, float, dict]:
    """Wall seconds, the machine's load average before, and the grades."""
    load, start = os.getloadavg()[0], time.perf_counter()
    outcomes = runner.grade(course, collect(folder, [ASSIGNMENT]), jobs=jobs, force=True, progress=False)
    elapsed = time.perf_counter() - start
    return elapsed, load, {o.student_id: {k: t["score"] for k, t in o.tests.items()} for o in outcomes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as scratch:
        course, folder = Path(scratch) / "course", Path(scratch) / "submissions"
        notebooks = [nb for nb in solution_notebooks() if nb.assignment == ASSIGNMENT]
        release.release(notebooks, course_dir=course, out_dir=course / "student")
        make_submissions(course, folder, args.submissions)
        runner.grade(course, collect(folder, [ASSIGNMENT])[:1], force=True, progress=False)  # warm-up
        serial_time, serial_load, serial_grades = timed_grade(course, folder, 1)
        parallel_time, parallel_load, parallel_grades = timed_grade(course, folder, 2)
    serial_rate = 60 * args.submissions / serial_time
    parallel_rate = 60 * args.submissions / parallel_time
    speedup = parallel_rate / serial_rate
    n = args.submissions
    print(f"grading throughput, {n} submissions of {ASSIGNMENT}, sandboxed, {os.cpu_count()} CPUs")
    print(f"{'jobs':>6} {'seconds':>9} {'submissions/min':>16} {'load before':>12}")
    print(f"{1:>6} {serial_time:>9.1f} {serial_rate:>16.1f} {serial_load:>12.1f}")
    print(f"{2:>6} {parallel_time:>9.1f} {parallel_rate:>16.1f} {parallel_load:>12.1f}")
    print("(load before: the machine's 1-minute load average; other work on a shared machine slows JOBS=2 first)")
    verdict = "meets" if speedup >= TARGET_SPEEDUP else "misses"
    print(f"speedup of JOBS=2 over JOBS=1: {speedup:.2f}x ({verdict} the {TARGET_SPEEDUP}x target)")
    same = serial_grades == parallel_grades
    print("grades of the serial and the parallel run are " + ("identical" if same else "DIFFERENT"))
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
