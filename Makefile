# Everything needed on a fresh machine with Python 3.11 and pip.
#   make reproduce   set up .venv, run every experiment at quick size, write results/report.md
#   make test        set up .venv, run the default test suite
#   make reproduce FULL=1   paper-scale settings (hours on CPU; see README)
#   make reproduce FULL=1 GPU=1   the same with the CUDA 12 jax (pip extra "gpu")
#   make reproduce RUN_ARGS="--host-devices 2 --max-batch 64"   extra options of `python -m experiments run`
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY      = $(VENV)/bin/python
OUT    ?= results
SIZE    = $(if $(FULL),,--quick)
EXTRAS  = dev$(if $(GPU),$(comma)gpu)
comma  := ,
RUN_ARGS ?=

.PHONY: reproduce test test-all lint clean venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

venv: $(VENV)/.installed

reproduce: $(VENV)/.installed
	$(PY) -m experiments run all $(SIZE) --out $(OUT) $(RUN_ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -m ""

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(OUT) .pytest_cache
