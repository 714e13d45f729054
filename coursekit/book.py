"""Build the Jupyter Book website offline, warnings as errors.

The chapters execute code that imports tinytorch_lite, and jupyter-cache keys its cache on a
notebook's own content only. So when the package changes, the execution cache is dropped and every
page is rebuilt; otherwise unchanged pages are neither re-executed nor rewritten.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from .sources import ROOT, CourseError

BUILD_DIR = ROOT / "_build"
HTML_DIR = BUILD_DIR / "html"
HTML_INDEX = HTML_DIR / "index.html"
EXECUTION_CACHE = BUILD_DIR / ".jupyter_cache"
STAMP = BUILD_DIR / "website-sources.json"  # digests of the sources of the last successful build
PACKAGE = ("tinytorch_lite",)
SOURCES = ("book", "_config.yml", "_toc.yml", "notebooks", "tinytorch_lite", "coursekit/book.py")
IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints"}


def digest(paths: tuple[str, ...], root: Path = ROOT) -> str:
    """SHA-256 over the relative names and contents of every file under `paths`."""
    sha = hashlib.sha256()
    for name in paths:
        top = root / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            if IGNORED_PARTS.intersection(path.parts):
                continue
            sha.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


def source_digests() -> dict[str, str]:
    return {"package": digest(PACKAGE), "sources": digest(SOURCES)}


def _last_build() -> dict[str, str]:
    try:
        return json.loads(STAMP.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def is_current() -> bool:
    """True when the site in _build/html was built successfully from the sources as they are now."""
    return HTML_INDEX.exists() and _last_build() == source_digests()


def build(all_pages: bool = False) -> Path:
    digests = source_digests()
    if _last_build().get("package") != digests["package"]:
        shutil.rmtree(EXECUTION_CACHE, ignore_errors=True)  # figures come from the package: re-execute
        all_pages = True
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "-W", "--keep-going"]
    if all_pages:
        command.append("--all")
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode:
        STAMP.unlink(missing_ok=True)
        raise CourseError(f"the website build failed (exit {result.returncode}); see the warnings above")
    STAMP.write_text(json.dumps(digests, indent=1) + "\n")
    return HTML_INDEX
