# The two entry points of the README. Both install what they need first:
# Debian packages (scripts/install-deps.sh), a virtualenv with the workbench,
# and (in the main job) the kernel source tree. Each step is skipped when done.
VENV := .venv
STAMP := $(VENV)/.installed
WB := $(VENV)/bin/wb

.PHONY: setup main test test-fast clean-venv

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

# Unit tests only (no kernel build or boot): under two minutes.
test-fast: setup
	$(VENV)/bin/pytest -ra -m "not e2e"
