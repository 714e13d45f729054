"""Helpers shared by the tests: checks that need an optional part, and the freed-without-gc check."""
from __future__ import annotations

import contextlib
import csv
import gc
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import weakref

import numpy as np
import pytest

from coursekit import system_deps
from tinytorch_lite.core.tensor import Tensor

SYSTEM_DEPS_COMMAND = "make system-deps"
# "<checks> NOT RUN: <problem> (`<command>` adds them)": the reason of every skip for a missing part,
# which the summary at the end of `make test` collects (tests/conftest.py).
NOT_RUN = re.compile(r"^(?:Skipped: )?(?P<checks>.+?) NOT RUN: (?P<problem>.+) \(`(?P<command>[^`]+)` adds them\)$")


def not_run_reason(checks: str, problem: str, command: str) -> str:
    return f"{checks} NOT RUN: {problem} (`{command}` adds them)"


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_system_part(package: str) -> None:
    """Skip the calling test, saying what did not run and the command that adds it, when a system
    package it needs is missing (coursekit.system_deps); under CI=true, fail instead."""
    part = system_deps.BY_PACKAGE[package]
    problem = part.problem()
    if problem:
        reason = not_run_reason(part.needed_for, problem, SYSTEM_DEPS_COMMAND)
        if on_ci():
            pytest.fail(reason + "; CI is set, so this is a failure", pytrace=False)
        pytest.skip(reason)


def not_run_summary(skip_reasons: list[str]) -> list[str]:
    """The lines that end `make test` when checks did not run: what, how many tests, why, and the
    one command that adds them. Skips of any other kind are left to pytest's own summary."""
    by_command: dict[str, dict[tuple[str, str], int]] = {}
    for reason in skip_reasons:
        match = NOT_RUN.match(reason.strip())
        if match:
            checks = by_command.setdefault(match["command"], {})
            key = (match["checks"], match["problem"])
            checks[key] = checks.get(key, 0) + 1
    lines = []
    for command, checks in by_command.items():
        for (what, problem), count in checks.items():
            lines.append(f"{what} ({count} test{'s' if count > 1 else ''}): {problem}")
        lines.append(f"    add them with: {command}")
    return lines


HAS_TORCH = importlib.util.find_spec("torch") is not None
# Under CI=true the comparisons run, and fail without torch, like every other optional part.
needs_torch = pytest.mark.skipif(not HAS_TORCH and not on_ci(), reason=not_run_reason(
    "the comparisons with PyTorch", "torch is not installed", SYSTEM_DEPS_COMMAND))


def assert_freed_without_cyclic_gc(make_output, run_backward):
    """The output of make_output() dies at `del`, with the cyclic garbage collector off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        out = make_output()
        if run_backward:
            weights = np.linspace(-1.0, 2.0, out.size).reshape(out.shape)
            (out * Tensor(weights, dtype=out.dtype)).sum().backward()
        output, closure = weakref.ref(out), weakref.ref(out._backward)
        del out
        assert output() is None, "the output outlived its last reference: its _backward closure refers to it"
        assert closure() is None, "the _backward closure outlived its output"
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def running_formgrader(course_dir):
    """`make formgrader` on course_dir at a free port: yields call(method, path, body=None) -> JSON of
    nbgrader's formgrader REST API, authenticated with the token the command printed in its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "coursekit", "formgrader", "--course-dir", str(course_dir),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, start_new_session=True)
    try:
        url = server.stdout.readline().split()[-1]
        assert url.startswith(f"http://127.0.0.1:{port}/formgrader?token="), url
        token = url.split("token=", 1)[1]

        def call(method, path, body=None):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/formgrader/api/{path}", method=method,
                                             data=None if body is None else json.dumps(body).encode(),
                                             headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())

        for _ in range(240):  # JupyterLab takes a while to start on a loaded machine
            assert server.poll() is None, f"the formgrader stopped with code {server.returncode}"
            try:
                call("GET", "status")
                break
            except OSError:
                time.sleep(0.5)
        yield call
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def csv_rows(path) -> list[dict]:
    """The rows of a CSV file with a header line, as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def exercise_links_extension():
    """book/_ext/exercise_links.py, the Sphinx extension of the exercise boxes, as a module."""
    from coursekit.sources import ROOT

    name = "exercise_links"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "book" / "_ext" / "exercise_links.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]
