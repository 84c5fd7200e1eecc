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

browser: node_modules/.installed
	@sh tests/ensure_chromium.sh

# axe-core for the accessibility tests (skipped without npm, except in CI).
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --ignore-scripts --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the accessibility tests will be skipped"; fi

clean:
	rm -rf $(VENV) .pytest_cache
