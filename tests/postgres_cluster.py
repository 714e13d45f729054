"""A throwaway PostgreSQL server for the tests: a new cluster made with the server programs that
`make system-deps` installs, listening on 127.0.0.1 only (a free port), with a random password,
stopped and deleted afterwards. initdb refuses to run as root, so as root the server runs as the
`postgres` user (Debian's package creates it), else as `nobody`."""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROLE = "coursekit"


def _server_user() -> pwd.struct_passwd | None:
    """Whom the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    raise RuntimeError("running as root, and there is no `postgres` or `nobody` user to run PostgreSQL as")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def throwaway_cluster(bindir: Path) -> Iterator[str]:
    """Yield the URL of the `postgres` database on a new server, for a role that may create databases."""
    user = _server_user()
    as_user = [] if user is None else ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                                       "--clear-groups", "--"]
    directory = Path(tempfile.mkdtemp(prefix="coursekit-postgres-"))
    data, password = directory / "data", secrets.token_hex(16)
    (directory / "password").write_text(password)
    if user is not None:
        for path in (directory, directory / "password"):
            os.chown(path, user.pw_uid, user.pw_gid)

    def run(*command: str) -> None:
        result = subprocess.run(as_user + list(command), cwd=directory, capture_output=True, text=True)
        if result.returncode != 0:
            log = directory / "server.log"
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
                               + (log.read_text() if log.exists() else ""))

    port = _free_port()
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", ROLE, "--auth=scram-sha-256",
            f"--pwfile={directory / 'password'}", "-E", "UTF8", "--locale=C")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log"), "-o", options,
            "-w", "-t", "120", "start")
        yield f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():  # also after a start that timed out
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(directory, ignore_errors=True)
