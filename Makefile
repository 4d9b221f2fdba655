# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run lint test benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,ray]'
	touch $(STAMP)

install: $(STAMP)

# The embedded default experiment (see README "The default run").
run: $(STAMP)
	$(PY) -m attn_seq2seq.main --config=configs/default.py --workdir=runs/default

# One style for the whole tree: ruff's checks and its formatter (configured in pyproject.toml),
# then the layout rules ruff has no check for (tests/test_layout.py: imports run down the layers,
# no import circle, no function over 80 lines, every function-local import says why).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -p no:cacheprovider tests/test_layout.py

# Whole test files per xdist worker (`--dist loadfile`, pyproject.toml's pytest addopts).
test: lint
	$(PY) -m pytest -q -n 2 tests

benchmark: $(STAMP)
	$(PY) scripts/benchmark.py --config=configs/reverse.py:benchmark

clean:
	rm -rf $(VENV) runs .pytest_cache
