"""Let autodoc read the package's docstrings, which are written in plain Markdown-like text, as reST.

The docstrings are written for people reading them in a notebook or `help()`: `code` in single
backticks, shapes such as (*, D), absolute values |x|, and code examples introduced by a line
ending in ":". Before napoleon and autodoc parse them, this hook turns single-backtick spans into
reST literals, escapes `*` and `|` that reST would take for markup, and turns an indented block
after a line ending in ":" into a literal block.
"""
from __future__ import annotations

import re

CODE_SPAN = re.compile(r"(?<![`:\w])`([^`]+)`(?!`)")
LONE_STAR = re.compile(r"(?<![*\w\\])\*(?=[,)\]\s:]|$)")
SECTION = re.compile(r"^\s*[A-Z][A-Za-z]*( [A-Za-z]+)?:\s*$")  # napoleon's "Example:", "Attributes:"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _inline(text: str) -> str:
    parts = re.split(r"(``[^`]+``|`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("``"):
            out.append(part)
        elif part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"``{part[1:-1]}``")
        else:
            out.append(LONE_STAR.sub(r"\\*", part).replace("|", r"\|"))
    return "".join(out)


def convert(lines: list[str]) -> list[str]:
    out: list[str] = []
    literal_indent = None  # indentation of the line that opened the current literal block
    for index, line in enumerate(lines):
        if literal_indent is not None:
            if not line.strip() or _indent(line) > literal_indent:
                out.append(line)
                continue
            literal_indent = None
        if line.lstrip().startswith(">>>"):
            out.append(line)
            continue
        following = next((l for l in lines[index + 1:] if l.strip()), "")
        opens_block = line.rstrip().endswith(":") and following and _indent(following) > _indent(line)
        if opens_block and not SECTION.match(line):
            text = _inline(line.rstrip())
            out.append(text if text.endswith("::") else text + ":")
            if not (index + 1 < len(lines) and not lines[index + 1].strip()):
                out.append("")
            literal_indent = _indent(line)
            continue
        out.append(_inline(line))
    return out


def _process(app, what, name, obj, options, lines):
    lines[:] = convert(lines)


def setup(app):
    app.connect("autodoc-process-docstring", _process, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
