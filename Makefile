# Two commands on a fresh clone: `make search` (the main job) and `make test` (the suite).
# Both create .venv and install the project first; torch is pinned to the CPU build here
# (GPU users: see README "GPU").
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

# setuptools prints an informational UserWarning for every editable install ("be careful with
# folders named like your package"): true of any checkout, so the last step does not show it.
# (Comments stay outside recipes: make echoes a recipe's comment lines as it runs them.)
$(BIN)/tune-gae: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=77"
	$(BIN)/python -m pip install -q "$(TORCH)"
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/python -m pip install -q -e ".[test]"
	touch $@

.PHONY: install test test-fast lint search
install: $(BIN)/tune-gae

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The loop while you work: everything but the end-to-end runs (pytest's last line gives the time).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

search: install
	$(BIN)/tune-gae search search_spaces/default.yaml --dataset Cora $(SEARCH_ARGS)
