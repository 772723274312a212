# Two commands for a fresh clone: `make demo` and `make test`.
# Both create .venv and install the project with its extras; a second run reinstalls
# only when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EXTRAS ?= dev

.PHONY: install demo test lint imports typecheck pytest docs bench peers clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m guardrails demo

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The import contracts in pyproject.toml (the stack of docs/architecture.md).
imports: install
	$(VENV)/bin/lint-imports

typecheck: install
	$(PY) -m mypy --strict guardrails

pytest: install
	$(PY) -m pytest

docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir build/site

test: lint imports typecheck docs pytest

# The peers the benchmarks compare with, each in an environment of its own (make test
# needs none of them): .venv-peers/bench has the project with MAPIE, crepes, pybreaker and pyod
# (they run beside our code in the comparison rows); Evidently and alibi-detect need
# pandas < 3 and numpy < 2, so benchmarks/drift.py runs them as subprocesses of theirs.
PEERS := .venv-peers
BENCH_PY := $(PEERS)/bench/bin/python

$(PEERS)/bench/.stamp: pyproject.toml
	test -x $(BENCH_PY) || $(PYTHON) -m venv $(PEERS)/bench
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet -e '.[dev]' "mapie==1.6.0" "crepes==0.9.1" "pybreaker==1.4.1" "pyod==3.6.7"
	touch $@

$(PEERS)/evidently/.stamp:
	test -x $(PEERS)/evidently/bin/python || $(PYTHON) -m venv $(PEERS)/evidently
	$(PEERS)/evidently/bin/python -m pip install --quiet "evidently==0.7.23" "pandas<3"
	touch $@

$(PEERS)/alibi/.stamp:
	test -x $(PEERS)/alibi/bin/python || $(PYTHON) -m venv $(PEERS)/alibi
	$(PEERS)/alibi/bin/python -m pip install --quiet "alibi-detect==0.13.0" "numpy<2" "pandas<3"
	touch $@

# NannyML (CBPE) brings its own pandas and numpy (and imports statsmodels without declaring
# it), so benchmarks/estimation.py runs it as a subprocess of this environment.
$(PEERS)/nannyml/.stamp:
	test -x $(PEERS)/nannyml/bin/python || $(PYTHON) -m venv $(PEERS)/nannyml
	$(PEERS)/nannyml/bin/python -m pip install --quiet "nannyml==0.13.1" "statsmodels==0.15.0"
	touch $@

peers: $(PEERS)/bench/.stamp $(PEERS)/evidently/.stamp $(PEERS)/alibi/.stamp $(PEERS)/nannyml/.stamp

bench: install peers
	for script in benchmarks/*.py; do $(BENCH_PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(PEERS) build dist *.egg-info .mypy_cache .ruff_cache
