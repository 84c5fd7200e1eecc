# The two quick-start commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

## Install, migrate and seed the SQLite database under instance/, then serve on http://127.0.0.1:5000
run: install
	$(BIN)/flask --app intake setup
	$(BIN)/flask --app intake run

## Install everything (Debian's chromium too, when root) and run the whole test suite
test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

browser:
	@sh tests/ensure_chromium.sh

clean:
	rm -rf $(VENV) .pytest_cache
