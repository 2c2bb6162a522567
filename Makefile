# Layerloom: `make run` starts the app, `make test` runs the whole suite.
# Both build .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench clean screenshots compiled

# pip compiles what it installs one file at a time (about 10,500 files, 55 s here); compileall on every core
# writes the same bytecode in half that on two cores. Files that are not meant to compile (a package's
# Python 2 test data) are skipped quietly, as pip skips them, so they do not fail the build; compileall
# itself failing does.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test]'
	$(BIN)/python -c 'import compileall, sysconfig; compileall.compile_dir(sysconfig.get_path("purelib"), quiet=2, workers=0)'
	touch $(STAMP)

# Bytecode for Layerloom's own modules, compiled ahead (pip does so for what it installs, not for an
# editable install), so that no start of the app compiles them again where Python writes no .pyc
# (PYTHONDONTWRITEBYTECODE): about 120 modules load before the window's first paint. Files already
# compiled are only looked at.
compiled: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 __init__.py app graph runtime presets > /dev/null

run: compiled
	$(BIN)/layerloom

# One test process per core (at most four): the suite's runs train with one thread each (tests/conftest.py),
# so two processes use a 2-core machine's second core; each test file stays in one process, so a
# module's fixtures are made once. TEST_WORKERS=0 runs them all in this process.
TEST_WORKERS ?= auto
test: compiled
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxprocesses=4 --dist loadfile

bench: $(STAMP)
	for f in bench/[!_]*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
