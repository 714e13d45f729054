"""The grading subcommands of `python -m coursekit`: grade, grades, validate, formgrader, gradescope,
gradescope-run."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from .. import gradebook
from . import sandbox

DB_URL_VARIABLE = "COURSEKIT_DB_URL"


def known_assignments(course_dir: Path) -> list[str]:
    assignments = sorted(p.name for p in (Path(course_dir) / "source").glob("*") if p.is_dir())
    if not assignments:
        sys.exit(f"error: {course_dir}/source/ has no assignments; run `make release` first")
    return assignments


def cmd_grade(args) -> None:
    from . import reports, runner
    from .intake import gather
    from .submissions import extract_zip
    from .term import read_roster, roster_problems

    course_dir = Path(args.course_dir)
    url = args.db_url or os.environ.get(DB_URL_VARIABLE) or gradebook.db_url(course_dir)
    limits = sandbox.Limits(cell_timeout=args.cell_timeout, memory_bytes=args.memory_mb << 20)
    if args.unsafe_no_sandbox:
        print("warning: --unsafe-no-sandbox: student code runs with your rights and can read and change "
              "your files, including the gradebook", file=sys.stderr)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="coursekit-zip-") as unpacked:
        folder = Path(args.submissions)
        if not folder.exists():
            sys.exit(f"error: {folder} does not exist; pass SUBMISSIONS=<folder or .zip> holding "
                     "<student_id>/<assignment>/<notebook>.ipynb")
        try:
            if folder.suffix == ".zip":
                folder = extract_zip(folder, Path(unpacked))
            known = known_assignments(course_dir)
            unknown = [a for a in args.assignment or [] if a not in known]
            if unknown:
                raise ValueError(f"no assignment {', '.join(unknown)} in {course_dir}/source/ ({', '.join(known)})")
            submissions, skipped = gather(folder, args.assignment or known, read_roster(course_dir),
                                          args.assignment[0] if args.assignment and len(args.assignment) == 1 else None)
            outcomes = runner.grade(course_dir, submissions, jobs=args.jobs, limits=limits, url=url,
                                    unsafe=args.unsafe_no_sandbox, force=args.force)
        except (ValueError, LookupError, sandbox.SandboxUnavailable) as error:
            sys.exit(f"error: {str(error).replace(unpacked, args.submissions)}")  # the zip, not its temporary copy
        except KeyboardInterrupt:
            print("\ninterrupted: finished submissions are kept; run the same command again to grade the rest",
                  file=sys.stderr)
            sys.exit(130)
    grades, tests = reports.write_csv(outcomes, course_dir, url, course_dir / "exports")
    reports.write_feedback(outcomes, course_dir, url, course_dir / gradebook.FEEDBACK_PAGES)
    reused = sum(o.reused for o in outcomes)
    print(f"graded {len(outcomes)} submissions ({reused} unchanged since the last run, reused) "
          f"in {time.perf_counter() - start:.0f} s with {args.jobs} job(s)")
    print(f"grades: {grades}\nper test: {tests}\n"
          f"feedback: {course_dir / gradebook.FEEDBACK_PAGES}/<student_id>/<assignment>/feedback.html")
    if skipped:
        print(f"not graded ({len(skipped)} file(s) of {args.submissions}):")
        for line in skipped:
            print(f"  {line}")
    for problem in roster_problems(read_roster(course_dir), {o.student_id for o in outcomes}):
        print(f"roster: {problem}")
    problems = [o for o in outcomes if o.notes]
    if problems:
        print(f"{len(problems)} submission(s) have notes (see the notes column of {grades.name}):")
        for outcome in problems:
            print(f"  {outcome.student_id}/{outcome.assignment}: {outcome.notes[0]}")


def cmd_grades(args) -> None:
    from .term import write_exports

    course_dir = Path(args.course_dir)
    url = args.db_url or os.environ.get(DB_URL_VARIABLE) or gradebook.db_url(course_dir)
    try:
        long_path, wide_path = write_exports(course_dir, url, course_dir / "exports")
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(f"every student and assignment in the gradebook: {long_path}\n"
          f"one column per assignment (Canvas and Moodle import layout): {wide_path}")


def cmd_validate(args) -> None:
    from .student_check import report, run_checks

    path = Path(args.notebook)
    try:
        results = run_checks(path, cell_timeout=args.cell_timeout)
    except ValueError as error:
        sys.exit(f"error: {error}")
    text, ok = report(path, results)
    print(text)
    if not ok:
        sys.exit(1)


def cmd_gradescope(args) -> None:
    from .gradescope import build

    path = build(Path(args.course_dir), args.assignment, Path(args.output) if args.output else None)
    print(f"wrote {path}: upload it as the Gradescope autograder of {args.assignment}")


def cmd_gradescope_run(args) -> None:
    from .gradescope import run_autograder

    run_autograder(Path(args.root))


def formgrader_command(course_dir: Path, port: int, token: str) -> list[str]:
    """JupyterLab with nbgrader's formgrader, serving the course directory on 127.0.0.1 only."""
    return [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={course_dir}",
            f"--IdentityProvider.token={token}", *(["--allow-root"] if os.geteuid() == 0 else [])]


def cmd_formgrader(args) -> None:
    import secrets
    import subprocess

    course_dir = Path(args.course_dir).resolve()
    if not (course_dir / gradebook.CONFIG_FILE).exists():
        sys.exit(f"error: {course_dir / gradebook.CONFIG_FILE} is missing; run `make release` first")
    token = secrets.token_hex(24)
    print(f"formgrader: http://127.0.0.1:{args.port}/formgrader?token={token}\n"
          f"(JupyterLab on {course_dir}, reachable from this machine only; Ctrl-C stops it)", flush=True)
    gradebook._put_environment_on_path()
    try:
        subprocess.run(formgrader_command(course_dir, args.port, token), cwd=course_dir, check=False)
    except KeyboardInterrupt:
        pass


def add_commands(commands) -> None:
    grade = commands.add_parser("grade", help="autograde submissions in the sandbox; write grades and feedback")
    grade.add_argument("submissions", help="folder (or .zip) of <student_id>/<assignment>/<notebook>.ipynb")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    grade.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    grade.add_argument("--course-dir", default=str(gradebook.COURSE_DIR), help="nbgrader course directory")
    grade.add_argument("--db-url", help=f"gradebook URL (default ${DB_URL_VARIABLE} or autograder/gradebook.db), "
                                        "e.g. postgresql://user@127.0.0.1/gradebook")
    grade.add_argument("--cell-timeout", type=int, default=gradebook.CELL_TIMEOUT_SECONDS, help="seconds per cell")
    grade.add_argument("--memory-mb", type=int, default=sandbox.Limits().memory_bytes >> 20,
                       help="address space of each student kernel, MiB")
    grade.add_argument("--force", action="store_true", help="grade again even submissions graded before")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run student code without bubblewrap, with your own rights (not recommended)")
    grade.set_defaults(run=cmd_grade)
    grades = commands.add_parser("grades", help="export the gradebook across all runs: long and wide (LMS) tables")
    grades.add_argument("--course-dir", default=str(gradebook.COURSE_DIR))
    grades.add_argument("--db-url", help=f"gradebook URL (default ${DB_URL_VARIABLE} or autograder/gradebook.db)")
    grades.set_defaults(run=cmd_grades)
    validate = commands.add_parser("validate", help="run a notebook and say which visible tests pass")
    validate.add_argument("notebook", help="path of the .ipynb to check")
    validate.add_argument("--cell-timeout", type=int, default=gradebook.CELL_TIMEOUT_SECONDS)
    validate.set_defaults(run=cmd_validate)
    gradescope = commands.add_parser("gradescope", help="build the Gradescope autograder zip of an assignment")
    gradescope.add_argument("--assignment", default="11_tokenization")
    gradescope.add_argument("--course-dir", default=str(gradebook.COURSE_DIR))
    gradescope.add_argument("--output", help="zip path (default autograder/exports/gradescope_<assignment>.zip)")
    gradescope.set_defaults(run=cmd_gradescope)
    formgrader = commands.add_parser("formgrader", help="JupyterLab with nbgrader's formgrader on the course, "
                                                         "bound to 127.0.0.1")
    formgrader.add_argument("--course-dir", default=str(gradebook.COURSE_DIR))
    formgrader.add_argument("--port", type=int, default=8890)
    formgrader.set_defaults(run=cmd_formgrader)
    inside = commands.add_parser("gradescope-run", help="(inside the Gradescope zip) grade /autograder/submission")
    inside.add_argument("--root", default="/autograder")
    inside.set_defaults(run=cmd_gradescope_run)
