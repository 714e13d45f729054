"""nbgrader's Execute step with the kernel started inside the sandbox (sandbox.py).

- SandboxedKernelManager starts each kernel through sandbox.kernel_command in a fresh empty working
  directory (never the folder of the notebook being graded, which holds its hidden tests) with its
  own cgroups, talking to it over Unix sockets in a fresh private connection directory (the sandbox
  has no network), and interrupts it by signalling the kernel process itself (bwrap does not forward
  signals).
- SandboxedExecute keeps at most Limits.output_bytes of output per cell, and after every cell kills
  whatever processes the cell left behind in the sandbox (e.g. a fork bomb), so the next cells and
  the next submissions get the machine back.
- What the grader itself did goes to NOTES, its own channel; text the kernel printed never becomes a
  note, however it looks.
"""
from __future__ import annotations

import itertools
import json
import os
import signal
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute

from . import sandbox

# Set by the worker before nbgrader runs: one worker process grades one submission.
# confine=False is the instructor's explicit --unsafe-no-sandbox: limits on output and strays only.
SETTINGS: dict = {"limits": sandbox.Limits(), "slot": 0, "runtime_dir": None, "confine": True}
NOTES: list[str] = []  # the grader's own notes for this submission, read by the worker
CAPS: list[Path] = []  # the cgroups made for this worker's kernels, removed when it is done
_KERNELS = itertools.count()


def configure(limits: sandbox.Limits, slot: int, runtime_dir: Path, confine: bool = True) -> None:
    runtime_dir.mkdir(parents=True, exist_ok=True)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime_dir)
    SETTINGS.update(limits=limits, slot=slot, runtime_dir=runtime_dir, confine=confine)
    NOTES.clear()


def note(notebook: str, cell_index: int, cell, text: str) -> None:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    NOTES.append(f"{notebook}, cell {cell_index + 1}" + (f" (`{grade_id}`)" if grade_id else "") + f": {text}")


def release_caps() -> None:
    sandbox.remove_caps(CAPS)
    CAPS.clear()


class SandboxedKernelManager(AsyncKernelManager):
    launcher_pid: int | None = None

    async def _async_pre_start_kernel(self, **kw):
        number = next(_KERNELS)
        self.kernel_home = SETTINGS["runtime_dir"] / f"home-{number}"
        self.kernel_runtime = SETTINGS["runtime_dir"] / f"connection-{number}"
        for folder in (self.kernel_home, self.kernel_runtime):
            folder.mkdir(mode=0o700)  # fresh: fails if anything is there already
        self.transport = "ipc"
        self.ip = str(self.kernel_runtime / "kernel")
        self.connection_file = str(self.kernel_runtime / "kernel.json")
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        kw["cwd"] = str(self.kernel_home)  # not the notebook's folder: that copy holds the hidden tests
        if SETTINGS["confine"]:
            # the connection file is the grader's own, written just now into the fresh directory
            sandbox.give_to_sandbox([self.kernel_home, self.kernel_runtime, Path(self.connection_file)],
                                    SETTINGS["slot"])
            caps = sandbox.total_caps(f"coursekit-{os.getpid()}-{len(CAPS)}", SETTINGS["limits"])
            CAPS.extend(caps)
            kernel_cmd = sandbox.kernel_command(kernel_cmd, self.kernel_home, [self.kernel_runtime],
                                                SETTINGS["limits"], SETTINGS["slot"], caps)
            kw.pop("env", None)  # bwrap --clearenv sets the kernel's environment; ours (db URLs...) stays out
        await super()._async_launch_kernel(kernel_cmd, **kw)
        self.launcher_pid = self.provisioner.process.pid

    async def _async_interrupt_kernel(self) -> None:
        if not self.launcher_pid:
            return
        pid = sandbox.kernel_pid(self.launcher_pid) if SETTINGS["confine"] else self.launcher_pid
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass

    interrupt_kernel = _async_interrupt_kernel  # AsyncKernelManager binds the public name to its own method


REAP_CHILDREN = """
import os as _os
try:
    while _os.waitpid(-1, _os.WNOHANG)[0]:
        pass
except ChildProcessError:
    pass
del _os
"""


class SandboxedExecute(Execute):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self._output_bytes: dict[int, int] = {}

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] != "error":
            budget = SETTINGS["limits"].output_bytes
            used = self._output_bytes.get(cell_index, 0)
            size = len(json.dumps(msg["content"]))
            self._output_bytes[cell_index] = used + size
            if used + size > budget:
                if used <= budget:
                    self._note(cell_index, f"output beyond {budget} bytes was dropped")
                return None
        return super().output(outs, msg, display_id, cell_index)

    def _note(self, cell_index: int, text: str) -> None:
        """A note in the grader's channel, and the same words in the cell's outputs for whoever reads
        the graded notebook (there they are only display: notes are never read back from outputs)."""
        cell = self.nb.cells[cell_index]
        note(self.resources.get("unique_key", "notebook"), cell_index, cell, text)
        cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=f"\n[grader: {text}]\n"))

    async def on_cell_executed(self, **kwargs):
        # Notes go to stdout: nbgrader fails a graded cell that wrote to stderr.
        super().on_cell_executed(**kwargs)
        launcher = getattr(self.km, "launcher_pid", None)
        if launcher and sandbox.kill_strays(launcher, SETTINGS["confine"]):
            self._note(kwargs["cell_index"], "processes this cell left running were stopped")
            # the kernel must collect its killed children, or they keep counting against its process limit
            await self.async_wait_for_reply(self.kc.execute(REAP_CHILDREN, silent=True, store_history=False))
