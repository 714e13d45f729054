"""nbgrader's Execute step replaced by the judge: the notebook runs in a plain Python process in the
sandbox (judge_process.py), which no IPython hook, transformer or displayhook reaches, and whose
verdicts nbgrader then scores as it would a kernel's outputs.

Host side, per notebook: classify the code cells (test = graded test cell, student = solution cell,
given = everything else; cells after the last test are not run, they cannot change a score), build
the package view the notebook may import (package_view.py), start the judge in the sandbox with the
whole job on stdin and a private pipe for its records, enforce the per-cell time limit (SIGINT,
then kill), and write each cell's outputs into the notebook: a test cell gets an error output
exactly when the judge saw it fail, so nbgrader's SaveAutoGrades gives the judge's verdict.

A test cell with hidden checks also runs without them first (what the student saw in the release);
that verdict goes to the notebook's report.json under "visible", never into the score.
"""
from __future__ import annotations

import ast
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

from .. import package_view
from ..sources import HIDDEN_MARKERS
from ..sources import ROOT, solution_notebooks
from . import kernel, sandbox, tamper_scan
from .judge_rewrite import rewrite_test
from .manifest import cell_hash

JUDGE_SOURCE = (Path(__file__).parent / "judge_process.py").read_text()
INTERRUPT_GRACE = 5.0  # seconds a cell has to stop after the interrupt before the judge is killed
STDERR_BYTES = 1 << 16
RECORD_BYTES = 64 << 20  # a judge that writes more than this to its channel is stopped
PREBUILT_VIEWS = ROOT / "package_views"  # what a Gradescope zip ships instead of solutions/
VIEW_FILE = "view.json"
VISIBLE = "-visible"  # suffix of the cell key under which a test's visible part runs


def visible_part(source: str) -> str:
    """A test cell without its hidden region, as nbgrader releases it."""
    kept, hidden = [], False
    for line in source.splitlines():
        if line.strip() in HIDDEN_MARKERS:
            hidden = line.strip() == HIDDEN_MARKERS[0]
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def notebook_view(target: Path, assignment: str, notebook: str) -> dict:
    """Write the package view of a notebook (package_view.py) to target/tinytorch_lite; returns what
    the grader needs beside it: the modules to preload, the names the notebook asks the student to
    write (tamper_scan.graded_names) and hashes of its instructor cells. From solutions/, or from the
    copy gradescope.build made of this very result (a Gradescope zip holds no solutions/)."""
    prebuilt = PREBUILT_VIEWS / assignment / notebook
    if (prebuilt / VIEW_FILE).exists():
        shutil.copytree(prebuilt / package_view.PACKAGE, target / package_view.PACKAGE)
        return json.loads((prebuilt / VIEW_FILE).read_text())
    graded = next((nb for nb in solution_notebooks() if (nb.assignment, nb.name) == (assignment, notebook)), None)
    preload = package_view.build(target, package_view.notebooks_allowed(assignment, notebook), graded)
    if graded is None:
        return {"preload": preload, "graded_names": [], "instructor_cells": []}
    instructor = [c.source.strip() for c in graded.read().cells if not c.metadata.get("nbgrader", {}).get("solution")]
    return {"preload": preload, "graded_names": sorted(tamper_scan.graded_names(graded)),
            "instructor_cells": sorted({cell_hash(source) for source in instructor})}


def classify(nb) -> list[dict]:
    """The code cells to run, in order, up to the last graded test cell."""
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        kind = "student" if meta.get("solution") else "test" if meta.get("grade") else "given"
        if kind == "test" and HIDDEN_MARKERS[0] in cell.source:
            cells.append({"index": f"{index}{VISIBLE}", "kind": kind, "source": visible_part(cell.source)})
        cells.append({"index": index, "kind": kind, "source": cell.source})
    last_test = max((i for i, c in enumerate(cells) if c["kind"] == "test"), default=-1)
    return cells[:last_test + 1]


def imported_modules(cells: list[dict]) -> list[str]:
    """Modules the instructor's cells import: loaded before student code, so they count as pristine."""
    names = []
    for cell in cells:
        if cell["kind"] == "student":
            continue
        try:
            tree = ast.parse(cell["source"])
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
    return list(dict.fromkeys(names))


class _Judge:
    """One judge process and what it reported."""

    def __init__(self, command: list[str], job: dict, timeout: float, confine: bool):
        read_end, write_end = os.pipe()
        ack_read, self.ack = os.pipe()  # the grader's "go on" after it has handled a finished cell
        os.set_blocking(self.ack, False)
        job["channel"], job["ack"] = write_end, ack_read
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, pass_fds=(write_end, ack_read),
                                        start_new_session=True)
        os.close(write_end)
        os.close(ack_read)
        self.channel, self.token, self.timeout, self.confine = read_end, job["token"], timeout, confine
        self.done: dict[int, dict] = {}
        self.stopped: dict[int, str] = {}  # cell -> the note on why the grader stepped in
        self.tampered: list[str] = []
        self.stderr = b""
        try:
            self.process.stdin.write(json.dumps(job).encode())
            self.process.stdin.close()
        except OSError:
            pass  # the judge died at once; its missing records say so

    def _pid(self) -> int | None:
        return sandbox.kernel_pid(self.process.pid) if self.confine else self.process.pid

    def _interrupt(self) -> None:
        pid = self._pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass

    def _kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except OSError:
            pass

    def _record(self, line: bytes) -> None:
        try:
            record = json.loads(line)
            valid = isinstance(record, dict) and secrets.compare_digest(str(record.get("token", "")), self.token)
        except (ValueError, RecursionError):
            valid = False
        if not valid:
            self.tampered.append("something other than the grader wrote to the grader's channel")
            return
        cell = record.get("cell")
        if record.get("event") == "start":
            self.current, self.deadline = cell, time.monotonic() + self.timeout
        elif record.get("event") == "done":
            if cell in self.done:
                if self.done[cell] != record:
                    self.tampered.append(f"cell {cell} was reported twice with different results")
                return
            self.done[cell] = record
            self.current = None
            if sandbox.kill_strays(self.process.pid, self.confine):
                self.stopped[cell] = "processes this cell left running were stopped"
            try:
                os.write(self.ack, b"k")
            except OSError:
                pass
        elif record.get("event") == "end":
            self.ended = True

    def collect(self) -> None:
        self.current, self.deadline, self.ended, interrupted = None, None, False, None
        buffer, received = b"", 0
        streams = [self.channel, self.process.stderr.fileno()]
        while streams:
            wait = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            ready, _, _ = select.select(streams, [], [], wait)
            for stream in ready:
                data = os.read(stream, 1 << 16)
                if not data:
                    streams.remove(stream)
                elif stream == self.channel:
                    received += len(data)
                    buffer += data
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        self._record(line)
                    if received > RECORD_BYTES:
                        self._kill()
                elif len(self.stderr) < STDERR_BYTES:
                    self.stderr += data[:STDERR_BYTES - len(self.stderr)]
            if self.current is not None and self.deadline is not None and time.monotonic() >= self.deadline:
                if interrupted == self.current:
                    self.stopped[self.current] = "killed"
                    self._kill()
                    self.deadline = None
                else:
                    interrupted = self.current
                    self.stopped[self.current] = "timeout"
                    self._interrupt()
                    self.deadline = time.monotonic() + INTERRUPT_GRACE
            elif self.current is None:
                self.deadline = None
        os.close(self.channel)
        os.close(self.ack)
        self.process.wait()


def _stream(name: str, text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name=name, text=text)


def _error(name: str, value: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=value, traceback=[f"{name}: {value}"])


def _note(text: str) -> NotebookNode:
    return _stream("stdout", f"[grader: {text}]\n")


def _outputs(cell: dict, judge: _Judge, died: bool, note) -> list[NotebookNode]:
    """The cell's outputs as nbgrader will score them; what the grader did goes to note() as well,
    the grader's own channel (kernel.NOTES): the outputs are only display."""
    record, stopped = judge.done.get(cell["index"]), judge.stopped.get(cell["index"])
    if record is None:
        if stopped in ("timeout", "killed"):
            return [_error("CellTimeoutError", "the cell did not stop after the per-cell time limit, so the "
                                               "grader stopped the notebook")]
        if died:
            return [_error("DeadKernelError", "the Python process running the notebook died (os._exit, "
                                              "a crash, or the memory limit)")]
        return [_error("NotRun", "the notebook had stopped before this cell")]
    outputs = []
    text = record.get("stdout", "") + record.get("stderr", "") if cell["kind"] == "test" else record.get("stdout", "")
    if text:
        outputs.append(_stream("stdout", text))
    if cell["kind"] != "test" and record.get("stderr"):
        outputs.append(_stream("stderr", record["stderr"]))
    grader_notes = []
    if record.get("dropped"):
        grader_notes.append(f"output beyond {kernel.SETTINGS['limits'].output_bytes} characters was dropped")
    if stopped and stopped not in ("timeout", "killed"):
        grader_notes.append(stopped)
    for text in grader_notes:
        note(text)
        outputs.append(_note(text))
    for what in record.get("changed", []):
        judge.tampered.append(f"before cell {cell['index'] + 1} the submission had changed {what}; the grader restored it")
    if stopped == "timeout":
        outputs.append(_error("CellTimeoutError", "the cell did not finish before the per-cell time limit"))
    elif record.get("ename"):
        outputs.append(_error(str(record["ename"]), str(record.get("evalue") or "")))
    return outputs


class JudgedExecute(NbGraderPreprocessor):
    """Stands where nbgrader's Execute stands in Autograde.autograde_preprocessors."""

    def preprocess(self, nb, resources):
        settings = kernel.SETTINGS
        limits, slot, runtime = settings["limits"], settings["slot"], Path(settings["runtime_dir"])
        notebook, assignment = resources["nbgrader"]["notebook"], resources["nbgrader"]["assignment"]
        cells = classify(nb)
        work = runtime / f"judge-{notebook}"
        (work / "cwd").mkdir(parents=True)
        view = work / "package"
        view_info = notebook_view(view, assignment, notebook)
        job_cells = [dict(c, source=rewrite_test(c["source"]) if c["kind"] == "test" else c["source"])
                     for c in cells]
        job = {"cells": job_cells, "token": secrets.token_hex(32), "output_bytes": limits.output_bytes,
               "preload": ["numpy", "numpy.testing", *view_info["preload"], *imported_modules(cells)],
               "view": str(view)}
        command = [sys.executable, "-I", "-B", "-c", JUDGE_SOURCE]
        if settings["confine"]:
            sandbox.give_to_sandbox([work / "cwd"], slot)
            caps = sandbox.total_caps(f"coursekit-{os.getpid()}-{len(kernel.CAPS)}", limits)
            kernel.CAPS.extend(caps)  # removed by kernel.release_caps when the worker ends
            command = sandbox.kernel_command(command, work / "cwd", [], limits, slot, caps, package_view=view)
        judge = _Judge(command, job, limits.cell_timeout, settings["confine"])
        judge.collect()
        died = not judge.ended
        visible = {}
        for cell in cells:
            if str(cell["index"]).endswith(VISIBLE):
                index = int(cell["index"][:-len(VISIBLE)])
                outputs = _outputs(cell, judge, died, lambda text: None)
                errors = [o for o in outputs if o.output_type == "error"]
                grade_id = nb.cells[index].metadata["nbgrader"]["grade_id"]
                visible[grade_id] = f"{errors[-1].ename}: {errors[-1].evalue}" if errors else None
        cells = [c for c in cells if not str(c["index"]).endswith(VISIBLE)]
        for number, cell in enumerate(cells, start=1):
            index = cell["index"]
            nb.cells[index].outputs = _outputs(cell, judge, died, lambda text, index=index: kernel.note(
                notebook, index, nb.cells[index], text))
            nb.cells[cell["index"]].execution_count = number
        resources.setdefault("judge", {})[notebook] = {
            "tampered": judge.tampered, "stderr": judge.stderr.decode(errors="replace")[-2000:], "visible": visible,
            "graded_names": view_info["graded_names"], "instructor_cells": view_info["instructor_cells"]}
        (work / "report.json").write_text(json.dumps(resources["judge"][notebook]))
        return nb, resources
