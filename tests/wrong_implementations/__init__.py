"""Catalogue of plausible wrong student implementations, one file per notebook.

Each file defines WRONG_IMPLEMENTATIONS, a list of entries as described in
tests/implementation_catalogue.py; tests/test_wrong_implementations.py applies each one and checks
that the real grader takes points off.
"""
