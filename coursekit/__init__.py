"""Course tooling: turns the solution notebooks in solutions/ into the package, the student
release and the website, and grades submissions. Run it as `python -m coursekit --help`."""
