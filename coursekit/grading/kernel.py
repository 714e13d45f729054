"""nbgrader's Execute step with the kernel started inside the sandbox (sandbox.py).

- SandboxedKernelManager starts the kernel through sandbox.kernel_command, talking to it over Unix
  sockets in a private connection directory (the sandbox has no network), and interrupts it by
  signalling the kernel process itself (bwrap does not forward signals).
- SandboxedExecute keeps at most Limits.output_bytes of output per cell, and after every cell kills
  whatever processes the cell left behind in the sandbox (e.g. a fork bomb), so the next cells and
  the next submissions get the machine back.
"""
from __future__ import annotations

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


def configure(limits: sandbox.Limits, slot: int, runtime_dir: Path, confine: bool = True) -> None:
    runtime_dir.mkdir(parents=True, exist_ok=True)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime_dir)
    SETTINGS.update(limits=limits, slot=slot, runtime_dir=runtime_dir, confine=confine)


class SandboxedKernelManager(AsyncKernelManager):
    launcher_pid: int | None = None

    async def _async_pre_start_kernel(self, **kw):
        self.transport = "ipc"
        self.ip = str(SETTINGS["runtime_dir"] / "kernel")
        self.connection_file = str(SETTINGS["runtime_dir"] / "kernel.json")
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if SETTINGS["confine"]:
            cwd = Path(kw.get("cwd") or os.getcwd())
            runtime_dir = SETTINGS["runtime_dir"]
            sandbox.give_to_sandbox([cwd, runtime_dir], SETTINGS["slot"])
            kernel_cmd = sandbox.kernel_command(kernel_cmd, cwd, [runtime_dir], SETTINGS["limits"], SETTINGS["slot"])
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
                    outs.append(NotebookNode(output_type="stream", name="stdout",
                                             text=f"\n[grader: output beyond {budget} bytes was dropped]\n"))
                return None
        return super().output(outs, msg, display_id, cell_index)

    async def on_cell_executed(self, **kwargs):
        # Notes go to stdout: nbgrader fails a graded cell that wrote to stderr.
        super().on_cell_executed(**kwargs)
        launcher = getattr(self.km, "launcher_pid", None)
        if launcher and sandbox.kill_strays(launcher, SETTINGS["confine"]):
            kwargs["cell"].outputs.append(NotebookNode(
                output_type="stream", name="stdout",
                text="[grader: processes this cell left running were stopped]\n"))
            # the kernel must collect its killed children, or they keep counting against its process limit
            await self.async_wait_for_reply(self.kc.execute(REAP_CHILDREN, silent=True, store_history=False))
