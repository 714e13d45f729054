"""Serve MathJax from the built site instead of a CDN, so every page works with no network."""
from __future__ import annotations

import shutil
from pathlib import Path

MATHJAX_DIR = "mathjax"


def _mathjax_source() -> Path:
    import mathjax  # the django-static-mathjax distribution ships MathJax 3 as static files

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _set_path(app, config) -> None:
    config.mathjax_path = f"{MATHJAX_DIR}/tex-mml-chtml.js"


def _copy_mathjax(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / MATHJAX_DIR
        if not (target / "tex-mml-chtml.js").exists():
            shutil.copytree(_mathjax_source(), target, dirs_exist_ok=True)


def setup(app):
    app.connect("config-inited", _set_path, priority=900)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
