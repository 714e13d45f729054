"""Grade many submissions: check them, grade each in its own worker process (JOBS at a time), merge
the results into the real gradebook as they arrive, and keep each finished result so an interrupted
run resumes where it stopped.

Per submission the parent rebuilds each accepted notebook from the instructor's source with only the
student's answers in it (submissions.rebuild), stages a private nbgrader course in a scratch folder
(a copy of the assignment's gradebook template and the rebuilt notebooks, nothing else), starts the
worker (coursekit.grading.worker) there, and stops it if it runs past Limits.submission_seconds.
The worker grades exactly the rebuilt notebooks; a step that judges them differently hooks in there.

The regrade cache keys on what is graded: the rebuilt notebooks (so every test cell's full source,
hidden parts and points included), the limits, nbgrader's version and this grader's code. What comes
back is copied as untrusted: only the expected notebooks, regular files, no link followed, size capped.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import resource
import secrets
import shutil
import signal
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
import nbgrader
from tqdm import tqdm

from .. import gradebook
from . import kernel, sandbox, worker  # noqa: F401  kernel and worker are imported here once, for the forks
from .manifest import Manifest, build_template, read_manifest
from .submissions import MAX_NOTEBOOK_BYTES, SECRET_FILE, Submission, inspect, rebuild, write_timestamp

RESULT_FILE = "grading.json"  # kept next to the autograded notebooks, for resuming
WORKER_EXTRA_MEMORY = 2 << 30  # the worker (nbgrader) may use this much beyond the kernel's limit
MAX_GRADED_BYTES = 256 << 20  # one graded notebook with its outputs (each cell's are capped by Limits)
SECRET_BYTES = 4096


@dataclass
class Outcome:
    student_id: str
    assignment: str
    # "notebook/grade_id" -> {"score", "max_score", "message", "hidden"} and, for a hidden test that
    # ran, "visible_message": its visible part's error (None = that part passed)
    tests: dict[str, dict]
    notes: list[str] = field(default_factory=list)
    answers: str = ""  # answers_digest of what was graded
    submitted: datetime | None = None  # when it was handed in (UTC), if known
    reused: bool = False

    @property
    def score(self) -> float:
        return sum(t["score"] for t in self.tests.values())

    @property
    def max_score(self) -> float:
        return sum(t["max_score"] for t in self.tests.values())


def _fingerprint(submission: Submission, manifest: Manifest, limits: sandbox.Limits, rebuilt: dict[str, str]) -> str:
    """Same fingerprint = same grade: what is graded (the rebuilt notebooks), the tests' points, the
    limits, nbgrader's version and this grader's code."""
    digest = hashlib.sha256(json.dumps([manifest.to_dict(), limits.to_dict(), submission.notes,
                                        nbgrader.__version__], sort_keys=True).encode())
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    for name, text in sorted(rebuilt.items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def _prepare(submission: Submission, manifest: Manifest) -> dict[str, str]:
    """Check the submission and rebuild what is graded; a submission the grader cannot read ends with
    a note, never as an error that stops the class."""
    try:
        inspect(submission, manifest)
        return {name: nbformat.writes(rebuild(submission, manifest, name)) for name in submission.accepted}
    except Exception as error:  # noqa: BLE001  anything a hostile file provokes stays this student's
        submission.accepted.clear()
        submission.notes.append(f"the grader could not read this submission ({type(error).__name__}: "
                                f"{str(error)[:200]}); it scores 0")
        return {}


def _reason(test_notebook: str, submission: Submission, failures: list[str]) -> str:
    """Why a test has no result: the true cause, never "not submitted" for a notebook that was."""
    if test_notebook in submission.accepted:
        return failures[0].splitlines()[0] if failures else "the notebook was not graded"
    about = [n for n in submission.notes if n.startswith((f"{test_notebook}.ipynb", f"{test_notebook}:"))]
    if about:
        return about[-1]
    return ("the notebook was not submitted" if test_notebook not in submission.files
            else "the notebook could not be graded (see the notes)")


def _complete(result: dict, submission: Submission, manifest: Manifest) -> Outcome:
    """Every test of the assignment gets an entry, with 0 points and a reason where the worker had none.
    Messages and notes come out as plain text: no terminal escapes, no control characters."""
    failures = [worker.plain_text(str(f)) for f in result.get("failures", [])]
    tests = {}
    for test in manifest.tests:
        entry = dict(result.get("tests", {}).get(test.key) or {})
        if not entry:
            entry = {"score": 0.0, "message": _reason(test.notebook, submission, failures)}
        for key in ("message", "visible_message"):
            if entry.get(key) is not None:
                entry[key] = worker.plain_text(str(entry[key]))
        entry.update(max_score=test.points, hidden=test.hidden)
        tests[test.key] = entry
    notes = [worker.plain_text(n) for n in submission.notes] + failures
    return Outcome(submission.student_id, submission.assignment, tests, notes, answers_digest(submission),
                   submission.submitted)


# Workers are forked from this process, which has imported nbgrader already (about 3 s of CPU each
# time otherwise); each still grades exactly one submission in its own process group.
_FORK = multiprocessing.get_context("fork")
tqdm.monitor_interval = 0  # no tqdm thread in the process we fork from


def _worker_main(work: Path, memory_bytes: int) -> None:
    os.setsid()
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    log = os.open(work / "worker.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.chdir(work)
    worker.main(work)


class _Job:
    def __init__(self, submission: Submission, rebuilt: dict[str, str], work: Path, slot: int,
                 limits: sandbox.Limits, confine: bool, template: Path):
        self.submission, self.work, self.slot = submission, work, slot
        course = work / "course"
        folder = course / "submitted" / submission.student_id / submission.assignment
        folder.mkdir(parents=True)
        (course / "source" / submission.assignment).mkdir(parents=True)
        shutil.copyfile(template, course / "gradebook.db")
        for name, text in rebuilt.items():
            (folder / f"{name}.ipynb").write_text(text)
        (work / "request.json").write_text(json.dumps({
            "assignment": submission.assignment, "student_id": submission.student_id,
            "limits": limits.to_dict(), "slot": slot, "confine": confine}))
        self.process = _FORK.Process(target=_worker_main, args=(work, limits.memory_bytes + WORKER_EXTRA_MEMORY))
        self.process.start()
        self.deadline = time.monotonic() + limits.submission_seconds
        self.limit = limits.submission_seconds

    def finished(self) -> dict | None:
        """The worker's result once it is done (or stopped for running too long), else None."""
        if self.process.is_alive():
            if time.monotonic() < self.deadline:
                return None
            self.stop()
            return {"failures": [f"grading this submission took longer than {self.limit} s and was stopped"]}
        result_file = self.work / "result.json"
        if result_file.exists():
            return json.loads(result_file.read_text())
        log = (self.work / "worker.log").read_text(errors="replace").strip().splitlines()
        return {"failures": [f"the grading process ended with code {self.process.exitcode}: "
                             + (log[-1] if log else "no output")]}

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except OSError:
            pass
        self.process.join()
        self.cleanup()

    def cleanup(self) -> None:
        sandbox.remove_caps_of(self.process.pid)  # a worker stopped mid-run leaves its cgroups behind


def copy_regular_file(source: Path, target: Path, max_bytes: int) -> bool:
    """Copy source to a new file target only if source is a regular file (not a link, device or fifo) of
    at most max_bytes; the target is created fresh, never written through a link. False if not copied."""
    try:
        descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    with os.fdopen(descriptor, "rb") as reader:
        info = os.fstat(reader.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return False
        data = reader.read(max_bytes + 1)
    if len(data) > max_bytes:
        return False
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb") as writer:
        writer.write(data)
    return True


def _save(outcome: Outcome, fingerprint: str, course_dir: Path, work: Path | None, notebooks: list[str]) -> None:
    """Keep the autograded notebooks (only the expected ones) and the result where nbgrader keeps
    autograded work."""
    folder = Path(course_dir) / "autograded" / outcome.student_id / outcome.assignment
    if work is not None:
        shutil.rmtree(folder, ignore_errors=True)
        graded = work / "course" / "autograded" / outcome.student_id / outcome.assignment
        folder.mkdir(parents=True, exist_ok=True)
        for name in notebooks:
            copy_regular_file(graded / f"{name}.ipynb", folder / f"{name}.ipynb", MAX_GRADED_BYTES)
    folder.mkdir(parents=True, exist_ok=True)
    if outcome.submitted:  # nbgrader's generate_feedback and release_feedback expect it here
        write_timestamp(folder, outcome.submitted)
    secret = Path(course_dir) / "submitted" / outcome.student_id / outcome.assignment / SECRET_FILE
    # release_feedback files feedback by the secret `nbgrader submit` wrote, and stops the whole class at
    # a student without one; a submission from elsewhere (an LMS) gets a secret of the grader's own.
    if not (folder / SECRET_FILE).exists() and not copy_regular_file(secret, folder / SECRET_FILE, SECRET_BYTES):
        (folder / SECRET_FILE).write_text(secrets.token_hex(32))
    record = {"fingerprint": fingerprint, "tests": outcome.tests, "notes": outcome.notes, "answers": outcome.answers}
    partial = folder / (RESULT_FILE + ".partial")
    partial.write_text(json.dumps(record, indent=1))
    partial.replace(folder / RESULT_FILE)


def _previous(submission: Submission, course_dir: Path) -> dict:
    path = Path(course_dir) / "autograded" / submission.student_id / submission.assignment / RESULT_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _reuse(submission: Submission, fingerprint: str, previous: dict) -> Outcome | None:
    if previous.get("fingerprint") != fingerprint:
        return None
    return Outcome(submission.student_id, submission.assignment, previous["tests"], previous["notes"],
                   answers=previous.get("answers", ""), submitted=submission.submitted, reused=True)


def answers_digest(submission: Submission) -> str:
    """What the student handed in, as graded: a change means a new submission, not a regrade."""
    return hashlib.sha256(json.dumps([submission.answers, submission.added], sort_keys=True).encode()).hexdigest()


MANUAL_CLEARED_NOTE = ("a new submission: the manual scores, extra credit and comments given to the earlier one "
                       "were cleared")


def _record(outcome: Outcome, previous: dict, url: str) -> None:
    """Into the real gradebook; a changed submission loses the manual grades of the earlier one."""
    new_submission = bool(previous) and previous.get("answers", outcome.answers) != outcome.answers
    if new_submission and MANUAL_CLEARED_NOTE not in outcome.notes:
        outcome.notes.append(MANUAL_CLEARED_NOTE)
    gradebook.record(outcome.assignment, outcome.student_id, {k: t["score"] for k, t in outcome.tests.items()},
                     url, new_submission=new_submission, submitted=outcome.submitted)


def _keep_submitted(submission: Submission, course_dir: Path) -> None:
    folder = Path(course_dir) / "submitted" / submission.student_id / submission.assignment
    if any(folder.resolve() in Path(p).resolve().parents for p in submission.files.values()):
        return  # graded in place, as nbgrader's own collect step leaves them
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in submission.files.items():
        copy_regular_file(path, folder / f"{name}.ipynb", MAX_NOTEBOOK_BYTES)
    if submission.submitted:
        write_timestamp(folder, submission.submitted)
    for secret in {path.parent / SECRET_FILE for path in submission.files.values()}:
        if copy_regular_file(secret, folder / SECRET_FILE, SECRET_BYTES):
            break


def grade(course_dir: Path, submissions: list[Submission], jobs: int = 1, limits: sandbox.Limits | None = None,
          url: str | None = None, unsafe: bool = False, force: bool = False, progress: bool = True) -> list[Outcome]:
    """Grade every submission; returns one Outcome per submission, in the order given."""
    limits = limits or sandbox.Limits()
    url = url or gradebook.db_url(course_dir)
    if not unsafe:
        sandbox.check_available()
    if jobs < 1:
        raise ValueError(f"JOBS must be at least 1, got {jobs}")
    outcomes: dict[int, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="coursekit-grade-") as scratch_name:
        scratch = Path(scratch_name)
        manifests, templates, queue, staged, previous = {}, {}, [], {}, {}
        for index, submission in enumerate(submissions):
            assignment = submission.assignment
            if assignment not in manifests:
                manifests[assignment] = read_manifest(course_dir, assignment)
                templates[assignment] = scratch / f"template-{assignment}.db"
                build_template(course_dir, assignment, templates[assignment], url)
            manifest = manifests[assignment]
            rebuilt = _prepare(submission, manifest)
            fingerprint = _fingerprint(submission, manifest, limits, rebuilt)
            previous[index] = _previous(submission, course_dir)
            reused = None if force else _reuse(submission, fingerprint, previous[index])
            if reused:
                outcomes[index] = reused
            elif not submission.accepted:
                outcomes[index] = _complete({}, submission, manifest)
                _record(outcomes[index], previous[index], url)
                _save(outcomes[index], fingerprint, course_dir, None, manifest.notebooks)
            else:
                queue.append((index, fingerprint))
                staged[index] = rebuilt
            _keep_submitted(submission, course_dir)
        for outcome in outcomes.values():
            if outcome.reused:
                _record(outcome, {}, url)
        bar = tqdm(total=len(submissions), initial=len(outcomes), unit="submission", desc="grading",
                   disable=not progress, file=sys.stderr)
        running: dict[int, tuple[_Job, int, str]] = {}
        try:
            while queue or running:
                for slot in range(jobs):
                    if slot not in running and queue:
                        index, fingerprint = queue.pop(0)
                        submission = submissions[index]
                        job = _Job(submission, staged.pop(index), scratch / f"work-{index}", slot, limits,
                                   not unsafe, templates[submission.assignment])
                        running[slot] = (job, index, fingerprint)
                for slot, (job, index, fingerprint) in list(running.items()):
                    result = job.finished()
                    if result is None:
                        continue
                    del running[slot]
                    job.cleanup()
                    manifest = manifests[job.submission.assignment]
                    outcome = _complete(result, job.submission, manifest)
                    _record(outcome, previous[index], url)
                    _save(outcome, fingerprint, course_dir, job.work, manifest.notebooks)
                    shutil.rmtree(job.work, ignore_errors=True)
                    outcomes[index] = outcome
                    bar.update(1)
                time.sleep(0.05)
        finally:
            for job, _, _ in running.values():
                job.stop()
            bar.close()
    return [outcomes[i] for i in range(len(submissions))]
