"""Fixtures of the website tests: the built site (built first when missing or stale) and its files."""
from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from coursekit import book
from coursekit.sources import CourseError

HTML_DIR = book.HTML_DIR
VENDORED = HTML_DIR / "_static" / "mathjax"  # MathJax 3 as shipped by django-static-mathjax, not built by us


@pytest.fixture(scope="session")
def site() -> Path:
    """_build/html, built now with coursekit.book.build() unless it matches the current sources."""
    if not book.is_current():
        try:
            book.build()
        except CourseError as failure:
            pytest.fail(f"building the website failed: {failure}")
    return HTML_DIR


def toc_pages(site_dir: Path = HTML_DIR) -> list[str]:
    """Every page of _toc.yml as a path relative to the site root, in order."""
    import yaml

    toc = yaml.safe_load((book.ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        files += [chapter["file"] for chapter in part["chapters"]]
    return [f"{name}.html" for name in files]


# Pages built without a place in the navigation: reachable by address, kept out of the students' sidebar.
OFF_NAVIGATION_PAGES = ["book/instructor_guide.html"]


def site_pages() -> list[str]:
    """Every page of the site: the table of contents, then the pages outside the navigation."""
    return toc_pages() + OFF_NAVIGATION_PAGES


def built_files(site_dir: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in site_dir.rglob("*") if p.is_file() and p.suffix in suffixes
                  and VENDORED not in p.parents)


class _TextAndTags(HTMLParser):
    """Collects the visible text (including code and script bodies) and every start tag."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.inline: list[tuple[str, str]] = []  # (tag, body) of <script> and <style>
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._open = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag):
        self._open = None

    def handle_data(self, data):
        self.text.append(data)
        if self._open:
            self.inline.append((self._open, data))


def parse_html(text: str) -> _TextAndTags:
    parser = _TextAndTags()
    parser.feed(text)
    return parser


def readable_text(path: Path) -> str:
    """What a file says, with markup removed: HTML as text, notebooks as their cell sources and
    outputs, anything else as it is."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".html":
        return "".join(parse_html(raw).text)
    if path.suffix == ".ipynb":
        notebook = json.loads(raw)
        parts = []
        for cell in notebook.get("cells", []):
            source = cell.get("source", "")
            parts.append("".join(source) if isinstance(source, list) else source)
            for output in cell.get("outputs", []):
                for value in list(output.get("data", {}).values()) + [output.get("text", "")]:
                    parts.append("".join(value) if isinstance(value, list) else str(value))
        return "\n".join(parts)
    return html.unescape(raw) if path.suffix in (".js", ".txt") else raw


def student_notebook_lines(notebooks_dir: Path) -> set[str]:
    """Every stripped line of the released student notebooks: public by definition (the release checks
    them for leaks), so a line shown there is no leak when the website shows it too."""
    lines: set[str] = set()
    for path in notebooks_dir.rglob("*.ipynb"):
        lines.update(line.strip() for line in readable_text(path).splitlines())
    return lines


# An address of another host: scheme://host or //host (127.0.0.1 and localhost are this machine).
OUTSIDE_URL = re.compile(r"""(?:https?:)?//(?!127\.0\.0\.1[:/]|localhost[:/])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b""")
SCHEME_URL = re.compile(r"""https?://(?!127\.0\.0\.1[:/]|localhost[:/])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b""")
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
LINE_COMMENT = re.compile(r"^\s*//.*$", re.M)


def without_comments(code: str) -> str:
    """CSS or JavaScript without /* block */ comments and whole-line // comments."""
    return LINE_COMMENT.sub("", BLOCK_COMMENT.sub("", code))
