"""Keep every page working with no network: serve MathJax from the built site instead of a CDN, and
leave out sphinx-thebe's scripts, which point at unpkg.com."""
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


def _is_thebe(script) -> bool:
    """sphinx-thebe's scripts: an inline one naming the thebe library on unpkg.com (added twice, which
    raises the theme's known duplicate-declaration error) and sphinx-thebe.js. Thebe is not used here."""
    filename = getattr(script, "filename", None) or ""
    body = getattr(script, "attributes", {}).get("body", "")
    return "THEBE_JS_URL" in body or filename.endswith("sphinx-thebe.js")


def _drop_thebe(app, pagename, templatename, context, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = [script for script in context["script_files"] if not _is_thebe(script)]


def setup(app):
    app.connect("config-inited", _set_path, priority=900)
    app.connect("build-finished", _copy_mathjax)
    app.connect("html-page-context", _drop_thebe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
