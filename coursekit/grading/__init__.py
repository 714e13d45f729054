"""Safe, parallel autograding on top of nbgrader: `python -m coursekit grade` (see runner.py)."""
