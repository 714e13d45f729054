"""The lines a student must never see: inside solution regions and hidden-test regions (for the tests)."""
from __future__ import annotations

from coursekit.sources import SolutionNotebook, scan_markers

MIN_LENGTH = 12  # shorter lines ("return x") are too common to identify a solution


def split_regions(source: str) -> tuple[list[str], list[str]]:
    """(stripped lines inside solution or hidden-test regions, stripped lines outside them)."""
    scan = scan_markers(source)
    return ([line.strip() for line in scan.inside() if line.strip()],
            [line.strip() for line in scan.outside() if line.strip()])


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
