"""`make system-deps` (coursekit.system_deps) and how the tests treat a missing system part: skipped and
named at the end of the run on a user's machine, a failure under CI=true."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from coursekit import system_deps
from coursekit.sources import ROOT
from helpers import NOT_RUN, not_run_reason, not_run_summary, require_system_part

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'
MINT = 'NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\n'
FEDORA = 'NAME="Fedora Linux"\nID=fedora\n'


class Machine:
    """What run() sees: which parts are installed, the system, root or not; records what it runs."""

    def __init__(self, monkeypatch, tmp_path, os_release: str, root: bool, installed: set[str]):
        self.installed, self.commands = set(installed), []
        parts = [system_deps.Part(p.package, p.needed_for, self._problem(p.package), p.optional)
                 for p in system_deps.PARTS]
        monkeypatch.setattr(system_deps, "PARTS", parts)
        (tmp_path / "os-release").write_text(os_release)
        monkeypatch.setattr(system_deps, "OS_RELEASE", tmp_path / "os-release")
        monkeypatch.setattr(system_deps.os, "geteuid", lambda: 0 if root else 1000)
        monkeypatch.setattr(system_deps.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
        monkeypatch.setattr(system_deps.subprocess, "run", self._run)

    def _problem(self, package):
        return lambda: None if package in self.installed else f"{package} is not here"

    def _run(self, command, check, env):
        assert env["DEBIAN_FRONTEND"] == "noninteractive"
        self.commands.append(" ".join(command))
        if command[:2] == ["apt-get", "install"]:
            self.installed |= {word for word in command[2:] if not word.startswith("-")}


def test_as_root_on_debian_it_installs_only_what_is_missing(monkeypatch, tmp_path, capsys):
    machine = Machine(monkeypatch, tmp_path, DEBIAN, root=True, installed={"postgresql"})
    assert system_deps.main([]) == 0
    assert machine.commands == ["apt-get update", "apt-get install -y --no-install-recommends chromium"]
    assert "installed: chromium" in capsys.readouterr().out


def test_bubblewrap_only_when_asked(monkeypatch, tmp_path, capsys):
    machine = Machine(monkeypatch, tmp_path, UBUNTU, root=True, installed={"chromium", "postgresql"})
    assert system_deps.main([]) == 0
    assert machine.commands == [] and "nothing to do" in capsys.readouterr().out
    assert system_deps.main(["--bubblewrap"]) == 0
    assert machine.commands[-1] == "apt-get install -y --no-install-recommends bubblewrap"


def test_not_root_it_prints_the_exact_commands_and_installs_nothing(monkeypatch, tmp_path, capsys):
    machine = Machine(monkeypatch, tmp_path, DEBIAN, root=False, installed=set())
    assert system_deps.main([]) == 1
    out = capsys.readouterr().out
    assert machine.commands == []
    assert "not running as root" in out
    assert "    sudo apt-get update\n    sudo apt-get install -y --no-install-recommends chromium postgresql\n" in out
    assert "missing chromium: chromium is not here; needed for the browser tests" in out


def test_off_debian_it_says_so_and_installs_nothing(monkeypatch, tmp_path, capsys):
    machine = Machine(monkeypatch, tmp_path, FEDORA, root=True, installed={"chromium"})
    assert system_deps.main([]) == 1
    assert machine.commands == [] and "this is not Debian or Ubuntu" in capsys.readouterr().out


def test_a_package_that_installs_but_is_still_missing_fails(monkeypatch, tmp_path, capsys):
    machine = Machine(monkeypatch, tmp_path, DEBIAN, root=True, installed=set())
    machine._run = lambda command, check, env: None  # apt-get "succeeds" without providing anything
    monkeypatch.setattr(system_deps.subprocess, "run", machine._run)
    assert system_deps.main([]) == 1
    assert "still missing: chromium: chromium is not here; postgresql" in capsys.readouterr().out


@pytest.mark.parametrize("text, expected", [(DEBIAN, True), (UBUNTU, True), (MINT, True), (FEDORA, False), ("", False)])
def test_debian_and_its_derivatives_are_recognised(monkeypatch, tmp_path, text, expected):
    (tmp_path / "os-release").write_text(text)
    monkeypatch.setattr(system_deps, "OS_RELEASE", tmp_path / "os-release")
    assert system_deps.is_debian_like() is expected


def _server_programs(bindir, programs=system_deps.POSTGRES_PROGRAMS):
    bindir.mkdir(parents=True)
    for name in programs:
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o755)


def test_postgres_programs_come_from_debians_newest_complete_version(monkeypatch, tmp_path):
    for version in ("9.6", "16"):
        _server_programs(tmp_path / "lib" / version / "bin")
    _server_programs(tmp_path / "lib" / "17" / "bin", programs=["initdb"])  # a half-removed install
    monkeypatch.setattr(system_deps, "DEBIAN_POSTGRES", tmp_path / "lib")
    assert system_deps.postgres_bindir() == tmp_path / "lib" / "16" / "bin"


def test_postgres_programs_on_path_when_debians_are_absent(monkeypatch, tmp_path):
    _server_programs(tmp_path / "bin")
    monkeypatch.setattr(system_deps, "DEBIAN_POSTGRES", tmp_path / "none")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert system_deps.postgres_bindir() == tmp_path / "bin"
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert system_deps.postgres_bindir() is None


def test_it_runs_with_the_standard_library_alone():
    """`make system-deps` runs before `make course` has installed anything: -S leaves out site-packages."""
    result = subprocess.run([sys.executable, "-S", "-m", "coursekit.system_deps", "--help"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "--bubblewrap" in result.stdout, result.stderr


def test_a_missing_part_skips_naming_the_command_and_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(system_deps, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_system_part("chromium")
    match = NOT_RUN.match(str(skipped.value))
    assert match and match["command"] == "make system-deps" and str(tmp_path / "chromium") in match["problem"]
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_system_part("chromium")
    (tmp_path / "chromium").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "chromium", 0o755)
    require_system_part("chromium")  # present: neither skip nor failure


def test_the_summary_counts_what_did_not_run_and_names_one_command_per_fix():
    browser = not_run_reason("the browser tests", "/usr/bin/chromium is missing", "make system-deps")
    postgres = not_run_reason("the PostgreSQL gradebook test", "no server", "make system-deps")
    torch = not_run_reason("the comparisons with PyTorch", "torch is not installed", "pip install torch")
    lines = not_run_summary([browser] * 3 + ["Skipped: " + postgres, "some other reason", torch])
    assert lines == ["the browser tests (3 tests): /usr/bin/chromium is missing",
                     "the PostgreSQL gradebook test (1 test): no server",
                     "    add them with: make system-deps",
                     "the comparisons with PyTorch (1 test): torch is not installed",
                     "    add them with: pip install torch"]
    assert not_run_summary(["some other reason"]) == []
