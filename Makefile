# The two entry points of the README. Both install what they need first:
# Debian packages (scripts/install-deps.sh), a virtualenv with the workbench,
# and (in the main job) the kernel source tree. Each step is skipped when done.
VENV := .venv
STAMP := $(VENV)/.installed
WB := $(VENV)/bin/wb

.PHONY: setup main test test-fast test-kasan test-mainline coverage

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

# Everything, end-to-end tests (real kernel builds and boots) included; at the
# end the slowest tests, each module's time and each kernel build's.
test: setup
	scripts/install-deps.sh
	$(VENV)/bin/pytest -ra --durations=25

# End-to-end tests left out of make test, each with cold kernel builds of its
# own (tests/conftest.py, EXTRAS): the debug (KASAN, lockdep) kernel; the 7.3
# kernel pair and the mainline evidence, which cites the 6.12 main job.
test-kasan: setup
	scripts/install-deps.sh
	WB_E2E_EXTRA=kasan $(VENV)/bin/pytest -ra --durations=10 -m extra tests/test_e2e.py

test-mainline: setup
	scripts/install-deps.sh
	WB_E2E_EXTRA=mainline $(VENV)/bin/pytest -ra --durations=10 \
		tests/test_e2e.py::test_main_job_reports tests/test_e2e_mainline.py

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
