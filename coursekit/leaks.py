"""The lines a student must never see: inside solution regions and hidden-test regions."""
from __future__ import annotations

from .export import HIDDEN_MARKERS, SOLUTION_MARKERS
from .sources import SolutionNotebook

MIN_LENGTH = 12  # shorter lines ("return x") are too common to identify a solution
MARKERS = {SOLUTION_MARKERS[0]: SOLUTION_MARKERS[1], HIDDEN_MARKERS[0]: HIDDEN_MARKERS[1]}


def split_regions(source: str) -> tuple[list[str], list[str]]:
    """(stripped lines inside solution or hidden-test regions, stripped lines outside them)."""
    inside, outside, end = [], [], None
    for line in source.splitlines():
        stripped = line.strip()
        if end is None and stripped in MARKERS:
            end = MARKERS[stripped]
        elif stripped == end:
            end = None
        elif stripped:
            (inside if end else outside).append(stripped)
    return inside, outside


def secret_lines(notebooks: list[SolutionNotebook]) -> set[str]:
    """Distinctive stripped lines of the solution and hidden-test regions. A line that also stands
    outside every region somewhere in the same notebook is public anyway and is left out."""
    secrets: set[str] = set()
    for nb in notebooks:
        hidden: set[str] = set()
        public: set[str] = set()
        for cell in nb.read().cells:
            inside, outside = split_regions(cell.source)
            hidden.update(inside)
            public.update(outside)
        secrets |= {line for line in hidden - public
                    if len(line) >= MIN_LENGTH and not line.startswith("#")}
    return secrets


def leaked(secrets: set[str], text: str) -> list[str]:
    """The secret lines that stand as whole lines (after stripping) in a text."""
    lines = {line.strip() for line in text.splitlines()}
    return sorted(secrets & lines)
