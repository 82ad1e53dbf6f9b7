# Two commands do all the setup from a fresh clone:
#   make serve   install, migrate, load the sample data, serve GraphiQL on :8000
#   make test    install, lint, type-check, and run the whole suite on SQLite and
#                on this machine's PostgreSQL (and Redis for broadcasts)
# make test-sqlite runs the suite on SQLite only, with in-memory broadcasts.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Where `make test` runs the suite besides SQLite; set either to point elsewhere.
TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
TEST_BROADCAST_URL ?= redis://127.0.0.1:6379/0

.PHONY: serve test test-sqlite lint bench demo migrate schema clean

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
	TEST_DATABASE_URL='$(TEST_DATABASE_URL)' TEST_BROADCAST_URL='$(TEST_BROADCAST_URL)' \
		$(BIN)/python -m pytest

test-sqlite: lint
	env -u TEST_DATABASE_URL -u TEST_BROADCAST_URL $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) threadline.db threadline.db-wal threadline.db-shm .pytest_cache .mypy_cache .ruff_cache
