# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= lmc-demo

.PHONY: run test clean

$(STAMP): pyproject.toml
	@echo "Installing lmctui into $(VENV) (once; a minute or two, pip's progress follows)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar on -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/lmctui --demo --home $(DEMO_HOME)

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache
