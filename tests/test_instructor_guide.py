"""Every `make` line in the instructor guide's shell blocks names a Makefile target and only variables
that target's recipe reads. (This checks the commands exist as written; running them on a temporary
course is what the grading tests do for grade, grades, formgrader and gradescope.)"""
from __future__ import annotations

import re

from coursekit.sources import ROOT

GUIDE = ROOT / "book" / "instructor_guide.md"


def _make_lines() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), flags=re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("make ")]


def _recipes() -> dict[str, str]:
    recipes, target = {}, None
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([a-z][\w-]*):", line)
        if match:
            target = match[1]
            recipes[target] = ""
        elif line.startswith("\t") and target:
            recipes[target] += line
    return recipes


def test_every_make_command_of_the_guide_exists_with_its_variables():
    recipes, lines = _recipes(), _make_lines()
    assert len(lines) >= 10, lines
    for line in lines:
        target, *words = line.split()[1:]
        assert target in recipes, f"the guide runs `{line}`, but the Makefile has no target {target!r}"
        for word in words:
            variable = word.split("=", 1)[0]
            assert "=" in word and f"$({variable})" in recipes[target], \
                f"the guide runs `{line}`, but `make {target}` does not read {variable}"
