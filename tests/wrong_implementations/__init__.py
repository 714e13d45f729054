"""Catalogue of plausible wrong student implementations, one file per notebook.

Each file defines WRONG_IMPLEMENTATIONS: a list of dicts with keys
  id          short name, unique across the catalogue
  notebook    the solution source it applies to, e.g. "solutions/02_tensor/tensor.py"
  description what mistake a student makes
  find        an exact snippet that lies inside one solution region of that source
  replace     the wrong version of that snippet
tests/test_wrong_implementations.py applies each one and checks that nbgrader takes points off.
"""
from __future__ import annotations

import importlib
import pkgutil


def catalogue() -> list[dict]:
    entries = []
    for module in pkgutil.iter_modules(__path__):
        entries += importlib.import_module(f"{__name__}.{module.name}").WRONG_IMPLEMENTATIONS
    return entries
