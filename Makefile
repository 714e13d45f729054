# Every target calls the course tool; see README.md and solutions/README.md.
PYTHON := .venv/bin/python
SETUP := .venv/.installed

.PHONY: course test check export release book bench clean grade validate gradescope formgrader grades

course: $(SETUP)
	$(PYTHON) -m coursekit course

test: $(SETUP)
	$(PYTHON) -m pytest

.PHONY: test-fast system-deps
test-fast: $(SETUP)
	$(PYTHON) -m pytest -m "not grading and not browser and not catalogue"

# PyTorch first (pip, no root needed; the comparisons with torch need it), then the system packages.
system-deps: $(SETUP)
	$(PYTHON) -m pip install -q -e ".[bench]"
	python3 -m coursekit.system_deps $(if $(BUBBLEWRAP),--bubblewrap)

check: $(SETUP)
	$(PYTHON) -m coursekit check

export: $(SETUP)
	$(PYTHON) -m coursekit export

release: $(SETUP)
	$(PYTHON) -m coursekit release

book: $(SETUP)
	$(PYTHON) -m coursekit book

bench: $(SETUP)
	for script in benchmarks/*.py; do case $$script in */__init__.py) ;; *) $(PYTHON) $$script || exit 1;; esac; done

grade: $(SETUP)
	$(PYTHON) -m coursekit grade "$(SUBMISSIONS)" --jobs $(or $(JOBS),1) $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT))

validate: $(SETUP)
	$(PYTHON) -m coursekit validate "$(NOTEBOOK)"

grades: $(SETUP)
	$(PYTHON) -m coursekit grades

formgrader: $(SETUP)
	$(PYTHON) -m coursekit formgrader $(if $(PORT),--port $(PORT))

gradescope: $(SETUP)
	$(PYTHON) -m coursekit gradescope $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT))

clean:
	rm -rf _build .jupyter_cache autograder/source autograder/release autograder/submitted autograder/autograded autograder/feedback autograder/feedback_pages autograder/exports autograder/nbgrader_config.py autograder/source-written.json autograder/*.db

$(SETUP): pyproject.toml
	python3 -m venv .venv && $(PYTHON) -m pip install -q --upgrade pip && $(PYTHON) -m pip install -q -e ".[course,dev]"
	touch $(SETUP)
