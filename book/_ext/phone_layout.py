"""Keep every page inside a phone's width: the site's own CSS (static/phone_layout.css)."""
from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"


def _add_static_path(app, config) -> None:
    config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("config-inited", _add_static_path)
    app.add_css_file("phone_layout.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
