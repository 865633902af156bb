# Two commands matter: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
DATA ?= $(CURDIR)/.data
PORT ?= 8000

.PHONY: run test deps run-deps venv lint format screenshots bench clean

$(PY):
	$(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[server]'
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[server,dev]'
	touch $(STAMP) $(RUN_STAMP)

venv: $(STAMP)

## run-deps: what `make run` needs: the kiosk and the server, and the Debian packages for Kivy and speech
run-deps: $(RUN_STAMP)
	@.ci/apt-install .ci/apt-packages.txt

## deps: everything, the test tools too (pytest, Playwright with Debian's Chromium, axe-core)
deps: venv run-deps
	@.ci/apt-install .ci/apt-packages-test.txt
	@.ci/npm-install

## run: the central server on SQLite plus one kiosk enrolled with it
run: run-deps
	@.ci/run-system "$(DATA)" "$(PORT)"

## test: the whole suite, lint included
test: deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## screenshots: refresh docs/screens/ from `main.py preview`
screenshots: run-deps
	@for survey in fft post-visit; do $(PY) main.py preview --survey $$survey --out docs/screens || exit 1; done

## bench: every benchmark, each printing ratios against its own baseline
bench: deps
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis node_modules
