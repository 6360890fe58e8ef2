# Everything needed on a fresh machine with Python (3.12 or 3.13 preferred, 3.11 works) and make.
#   make reproduce   set up .venv, run every experiment at quick size, write results/report.md
#   make test        set up .venv, run the default test suite
#   make test-slow-experiments   the experiments whose quick size takes minutes (and their notebooks)
#   make test-oracle set up .venv-oracle (pinned: Python 3.11, jax 0.5.3, neural-tangents 0.6.5) and run the
#                    oracle tests, then compare freshly regenerated golden files with the committed experiments/*/golden/
#   make golden      rewrite the golden files (experiments/*/golden/*.npz) from the oracle environment
#   make bench-torch set up .venv-torch (Python 3.11, torch 2.13.0 CPU build) and run every PyTorch peer
#                    (benchmarks/torch_peer/*.py), each at its JAX benchmark's default sizes
#   make lint        ruff check and ruff format --check
#   make reproduce FULL=1   paper-scale settings (hours on CPU; see README)
#   make reproduce FULL=1 GPU=1   the same with the CUDA 12 jax (pip extra "gpu")
#   make reproduce RUN_ARGS="--host-devices 2 --max-batch 64"   extra options of `python -m experiments run`
PYTHON ?= $(shell tools/find-python)
ORACLE_PYTHON ?= $(shell PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.11(\.[0-9]+)?$$' | tail -n 1) pyenv which python3.11 2>/dev/null || command -v python3.11)
VENV   ?= .venv
ORACLE_VENV ?= .venv-oracle
TORCH_PYTHON ?= $(ORACLE_PYTHON)
TORCH_VENV ?= .venv-torch
PY      = $(VENV)/bin/python
OPY     = $(ORACLE_VENV)/bin/python
OUT    ?= results
SIZE    = $(if $(FULL),,--quick)
EXTRAS  = dev$(if $(GPU),$(comma)gpu)
comma  := ,
RUN_ARGS ?=

.PHONY: reproduce test test-slow-experiments test-all test-oracle golden lint clean venv bench-torch

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "no Python >= 3.11 found"; exit 1; }
	@echo "creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@$(PY) -c "import jax, sys; print(f'$(VENV): Python {sys.version.split()[0]}, jax {jax.__version__}')"
	touch $@

$(ORACLE_VENV)/.installed: oracle/requirements.txt
	@test -n "$(ORACLE_PYTHON)" || { echo "the oracle environment needs Python 3.11 (python3.11)"; exit 1; }
	$(ORACLE_PYTHON) -m venv $(ORACLE_VENV)
	$(OPY) -m pip install --quiet -r oracle/requirements.txt
	$(OPY) -m pip install --quiet --no-deps neural-tangents==0.6.5
	touch $@

# torch pinned on Python 3.11: pip takes the local CPU wheel (unpinned or on another Python it would fetch a CUDA build)
$(TORCH_VENV)/.installed:
	@test -n "$(TORCH_PYTHON)" || { echo "the torch peer needs Python 3.11 (python3.11)"; exit 1; }
	$(TORCH_PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip install --quiet torch==2.13.0 numpy
	touch $@

venv: $(VENV)/.installed

reproduce: $(VENV)/.installed
	$(PY) -m experiments run all $(SIZE) --out $(OUT) $(RUN_ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest -q

# the experiments whose quick size takes minutes (registered slow=True) and their families' notebooks
test-slow-experiments: $(VENV)/.installed
	$(PY) -m pytest -q -m slow tests/test_experiments.py

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -m ""

test-oracle: $(ORACLE_VENV)/.installed
	$(OPY) -m pytest -q -m oracle -p no:cacheprovider tests/test_oracle_neural_tangents.py
	$(OPY) -m tools.neural_tangents_golden

golden: $(ORACLE_VENV)/.installed
	$(OPY) -m tools.neural_tangents_golden --write

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench-torch: $(TORCH_VENV)/.installed
	for peer in benchmarks/torch_peer/*.py; do $(TORCH_VENV)/bin/python $$peer || exit 1; done  # each at its JAX benchmark's default sizes

clean:
	rm -rf $(OUT) .pytest_cache
