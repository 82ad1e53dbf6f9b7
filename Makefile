# Two commands do all the setup from a fresh clone:
#   make serve   install, migrate, load the sample data, serve GraphiQL on :8000
#   make test    install, lint, type-check, and run the whole test suite
# The suite runs on SQLite, and again on PostgreSQL when TEST_DATABASE_URL is set.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint bench demo migrate schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/python main.py serve --demo

demo: $(STAMP)
	$(BIN)/python main.py demo

migrate: $(STAMP)
	$(BIN)/python main.py migrate

schema: $(STAMP)
	$(BIN)/python main.py export-schema

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) threadline.db threadline.db-wal threadline.db-shm .pytest_cache .mypy_cache .ruff_cache
