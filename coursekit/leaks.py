"""The lines a student must never see: inside solution regions and hidden-test regions."""
from __future__ import annotations

from .export import HIDDEN_MARKERS, SOLUTION_MARKERS
from .sources import SolutionNotebook

MIN_LENGTH = 12  # shorter lines ("return x") are too common to identify a solution


def _region_lines(source: str, begin: str, end: str) -> list[str]:
    inside, lines = False, []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == begin:
            inside = True
        elif stripped == end:
            inside = False
        elif inside:
            lines.append(stripped)
    return lines


def secret_lines(notebooks: list[SolutionNotebook]) -> set[str]:
    """Distinctive stripped lines of the solution and hidden-test regions. Lines that also occur outside those regions in
    the same notebook are public anyway and are left out."""
    secrets: set[str] = set()
    for nb in notebooks:
        cells = nb.read().cells
        public: set[str] = set()
        hidden: set[str] = set()
        for cell in cells:
            regions = (_region_lines(cell.source, *SOLUTION_MARKERS)
                       + _region_lines(cell.source, *HIDDEN_MARKERS))
            hidden.update(regions)
            public.update(line.strip() for line in cell.source.splitlines() if line.strip() not in regions)
        secrets |= {line for line in hidden - public
                    if len(line) >= MIN_LENGTH and not line.startswith("#")}
    return secrets
