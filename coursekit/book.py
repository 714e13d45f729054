"""Build the Jupyter Book website offline, warnings as errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .sources import ROOT

HTML_INDEX = ROOT / "_build" / "html" / "index.html"


def build(all_pages: bool = False) -> Path:
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "-W", "--keep-going"]
    if all_pages:
        command.append("--all")
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"the website build failed (exit {result.returncode}); see the warnings above")
    return HTML_INDEX
