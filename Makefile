# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch==2.13.0 resolves to the CPU wheel available offline here; an unpinned torch
# would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install demo test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/zodarts run

# One worker per core, at most four: the suite's tests run on one thread each (tests/conftest.py),
# so a second worker halves the time on two cores.
test: install
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4

clean:
	rm -rf $(VENV) runs .pytest_cache
