"""A PostgreSQL gradebook, for several graders at once: two `grade` commands run at the same time
into one database, and every grade lands. The server is a throwaway cluster the test starts from the
PostgreSQL programs `make system-deps` installs (tests/postgres_cluster.py), or the one at
$COURSEKIT_TEST_POSTGRES_URL when that is set. Without either the test is skipped, and the end of the
run says so; under CI=true it fails instead."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import nbformat
import psycopg  # SQLAlchemy's default driver for postgresql:// URLs
import pytest

from coursekit import gradebook, system_deps
from coursekit.sources import ROOT
from helpers import require_system_part
from postgres_cluster import throwaway_cluster

URL_VARIABLE = "COURSEKIT_TEST_POSTGRES_URL"  # postgresql://user:password@host:port/postgres, a role that may create databases
ASSIGNMENT, NOTEBOOK = "11_tokenization", "tokenization"


@pytest.fixture(scope="module")
def postgres_server():
    """The URL of a PostgreSQL server's `postgres` database: $COURSEKIT_TEST_POSTGRES_URL, else a
    throwaway cluster running for this module."""
    if os.environ.get(URL_VARIABLE):
        yield os.environ[URL_VARIABLE]
        return
    require_system_part("postgresql")
    with throwaway_cluster(system_deps.postgres_bindir()) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh database on the server, dropped afterwards."""
    name = f"coursekit_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield postgres_server.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.grading
def test_two_graders_fill_one_postgresql_gradebook_at_once(built_course, postgres_url, tmp_path):
    untouched = nbformat.read(built_course / "student" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    graders = []
    for grader in ("a", "b"):
        folder = tmp_path / grader
        for student in (f"pg_{grader}1", f"pg_{grader}2"):
            path = folder / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(untouched, path)
        graders.append(subprocess.Popen(
            [sys.executable, "-m", "coursekit", "grade", str(folder), "--course-dir", str(built_course),
             "--db-url", postgres_url, "--cell-timeout", "60"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for process in graders:
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output
    for student in ("pg_a1", "pg_a2", "pg_b1", "pg_b2"):
        scores = gradebook.scores(built_course, ASSIGNMENT, student, url=postgres_url)
        assert scores["max_score"] == 14 and scores["score"] == 0, (student, scores)
        with pytest.raises(LookupError):
            gradebook.scores(built_course, ASSIGNMENT, student)  # the SQLite gradebook was not used
