"""The command line behind the Makefile: `python -m coursekit <command>`."""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time

from . import system_deps
from .grading import commands as grading_commands
from .sources import ROOT, CourseError, solution_notebooks

GENERATED = ["tinytorch_lite", "notebooks"]


def cmd_export(args) -> None:
    from . import export

    paths = export.export(solution_notebooks())
    print(f"exported {len(paths)} modules: " + ", ".join(p.relative_to(ROOT).as_posix() for p in paths))


def cmd_release(args) -> None:
    from . import release  # imports nbgrader, which takes seconds

    paths = release.release(solution_notebooks(), verify_grading=True)
    print(f"released {len(paths)} student notebooks into notebooks/ (graded first: every solution gets full "
          "marks, every untouched notebook 0)")


def cmd_check(args) -> None:
    cmd_export(args)
    cmd_release(args)
    status = subprocess.run(["git", "status", "--porcelain", "--", *GENERATED], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    if status:
        raise CourseError("generated files are not in sync with solutions/ (run `make export release` and commit):\n"
                          + status + subprocess.run(["git", "diff", "--stat", "--", *GENERATED], cwd=ROOT,
                                           capture_output=True, text=True).stdout)
    print("tinytorch_lite/ and notebooks/ are in sync with solutions/")


def cmd_book(args) -> None:
    from . import book

    start = time.perf_counter()
    index = book.build(all_pages=args.all)
    print(f"built the website in {time.perf_counter() - start:.1f} s; open {index}")


def cmd_course(args) -> None:
    cmd_export(args)
    cmd_release(args)
    cmd_book(args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coursekit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("export", help="compile tinytorch_lite/ from solutions/").set_defaults(run=cmd_export)
    commands.add_parser("release", help="check solutions/ and write notebooks/").set_defaults(run=cmd_release)
    commands.add_parser("check", help="regenerate and fail if anything changed").set_defaults(run=cmd_check)
    for name, run in (("book", cmd_book), ("course", cmd_course)):
        sub = commands.add_parser(name, help="build the website" if name == "book" else "export, release, build")
        sub.add_argument("--all", action="store_true", help="rebuild every page, not just changed ones")
        sub.set_defaults(run=run)
    grading_commands.add_commands(commands)
    sub = commands.add_parser("system-deps", help="install Chromium and PostgreSQL for their tests (make system-deps)")
    system_deps.add_arguments(sub)
    sub.set_defaults(run=lambda args: sys.exit(system_deps.run(args)))
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s")
    logging.getLogger("traitlets").setLevel(logging.WARNING)  # nbgrader logs every file at INFO
    try:
        args.run(args)
    except CourseError as error:
        sys.exit(f"error: {error}")
