# Two commands set everything up on a fresh machine with python3 and make:
#   make demo   -- install into .venv and run a real tuning job on a local dask cluster
#   make test   -- install with the test extras and run lint + the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
DEPS := pyproject.toml setup.cfg

.PHONY: demo test lint bench doc clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel

$(VENV)/.installed-base: $(BIN)/activate $(DEPS)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/activate $(DEPS)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed-base

$(VENV)/.installed-doc: $(BIN)/activate $(DEPS)
	$(PY) -m pip install --quiet -e ".[test,doc]"
	touch $@ $(VENV)/.installed-test $(VENV)/.installed-base

$(VENV)/.installed-bench: $(BIN)/activate $(DEPS)
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $@ $(VENV)/.installed-test $(VENV)/.installed-base

$(VENV)/.installed-demo: $(BIN)/activate $(DEPS)
	$(PY) -m pip install --quiet -e ".[plot,progress]"
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-demo
	$(PY) -m skhpo.demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check skhpo tests examples benchmarks
	$(BIN)/ruff format --check skhpo tests examples benchmarks

test: lint
	$(BIN)/pytest skhpo tests

bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks

doc: $(VENV)/.installed-doc
	$(BIN)/sphinx-build -W --keep-going -b html doc doc/_build/html

clean:
	rm -rf $(VENV) doc/_build doc/auto_examples .pytest_cache .ruff_cache
