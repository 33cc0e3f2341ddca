# The two entry points of the README. Both install what they need first:
# Debian packages (scripts/install-deps.sh), a virtualenv with the workbench,
# and (in the main job) the kernel source tree. Each step is skipped when done.
VENV := .venv
STAMP := $(VENV)/.installed
WB := $(VENV)/bin/wb

.PHONY: setup main test test-fast coverage

setup: $(STAMP)

$(STAMP): pyproject.toml
	scripts/install-deps.sh
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

# Default kernel source -> series -> config -> build base and patched -> boot
# each -> in-guest tests -> JUnit/JSON reports in work/runs/latest.
main: setup
	scripts/install-deps.sh
	$(WB) all

# Everything, end-to-end tests (real kernel builds and boots) included.
test: setup
	scripts/install-deps.sh
	$(VENV)/bin/pytest -ra

# The fast tier: no kernel build or boot (unit tests, mypy, wb against fakes).
test-fast: setup
	$(VENV)/bin/pytest -ra -m "not e2e"

# Line coverage of workbench/ by the fast tier (wb subprocesses included).
coverage: setup
	$(VENV)/bin/pip install -q "coverage>=7.10"
	rm -rf work/coverage && mkdir -p work/coverage
	$(VENV)/bin/coverage run -m pytest -q -m "not e2e"
	$(VENV)/bin/coverage combine -q
	$(VENV)/bin/coverage report
