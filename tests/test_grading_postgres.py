"""A PostgreSQL gradebook, for several graders at once: two `grade` commands run at the same time
into one database, and every grade lands. Needs a server: .ci/run starts Debian's PostgreSQL on
127.0.0.1 and sets COURSEKIT_TEST_POSTGRES_URL; elsewhere the test is skipped, saying how to run it."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import nbformat
import pytest

from coursekit import gradebook
from coursekit.sources import ROOT

URL_VARIABLE = "COURSEKIT_TEST_POSTGRES_URL"
ASSIGNMENT, NOTEBOOK = "11_tokenization", "tokenization"


@pytest.fixture
def postgres_url():
    """A fresh database on the server at $COURSEKIT_TEST_POSTGRES_URL, dropped afterwards."""
    url = os.environ.get(URL_VARIABLE)
    if not url:
        message = (f"{URL_VARIABLE} is not set: no PostgreSQL to test the gradebook against. Set it to "
                   "postgresql://user:password@127.0.0.1:5432/postgres for a role that may create databases")
        pytest.fail(message + " (.ci/run sets it)") if os.environ.get("CI") else pytest.skip(message)
    try:
        import psycopg  # SQLAlchemy's default driver for postgresql:// URLs
    except ImportError:
        message = "the PostgreSQL driver is not installed: pip install 'psycopg[binary]'"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    name = f"coursekit_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield url.rsplit("/", 1)[0] + "/" + name
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
