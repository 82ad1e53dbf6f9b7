# Two commands do all the setup from a fresh clone:
#   make serve   install, migrate, load the sample data, serve GraphiQL on :8000
#   make test    install, lint, type-check, and run the whole suite on SQLite and
#                on this machine's PostgreSQL (and Redis for broadcasts)
# make test-sqlite runs the suite on SQLite only, with in-memory broadcasts.
# make assets installs GraphiQL's browser files from the npm registry (pinned by
# web/graphiql/package-lock.json); serve and test do it first when the lock changed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASSETS := web/graphiql/node_modules/.installed
# The GraphQL clients users bring (graphql-js, graphql-ws, graphql-sse, Apollo), for tests.
CLIENTS := tests/clients/node_modules/.installed

# Where `make test` runs the suite besides SQLite; set either to point elsewhere.
TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
TEST_BROADCAST_URL ?= redis://127.0.0.1:6379/0

.PHONY: serve test test-sqlite lint bench demo migrate schema clean assets simulate

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(ASSETS): web/graphiql/package.json web/graphiql/package-lock.json
	npm ci --prefix web/graphiql --no-audit --no-fund --loglevel=error
	touch $(ASSETS)

$(CLIENTS): tests/clients/package.json tests/clients/package-lock.json
	npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error
	touch $(CLIENTS)

assets: $(ASSETS)

serve: $(STAMP) $(ASSETS)
	$(BIN)/python main.py serve --demo

simulate: $(STAMP)
	$(BIN)/python main.py simulate

demo: $(STAMP)
	$(BIN)/python main.py demo

migrate: $(STAMP)
	$(BIN)/python main.py migrate

schema: $(STAMP)
	$(BIN)/python main.py export-schema

# The benchmark suite on this machine's PostgreSQL (figures in bench/results/).
bench: $(STAMP)
	$(BIN)/python -m bench --database-url '$(TEST_DATABASE_URL)'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

test: lint $(ASSETS) $(CLIENTS)
	TEST_DATABASE_URL='$(TEST_DATABASE_URL)' TEST_BROADCAST_URL='$(TEST_BROADCAST_URL)' \
		$(BIN)/python -m pytest

test-sqlite: lint $(ASSETS) $(CLIENTS)
	env -u TEST_DATABASE_URL -u TEST_BROADCAST_URL $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) threadline.db threadline.db-wal threadline.db-shm .pytest_cache .mypy_cache .ruff_cache
	rm -rf web/graphiql/node_modules tests/clients/node_modules test-output
