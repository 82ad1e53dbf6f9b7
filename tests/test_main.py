"""The served app: routes, GraphiQL, health, the exported schema, the CLI."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from asgi_lifespan import LifespanManager
from graphql import GraphQLError
from sqlalchemy.engine import make_url

import main
import models
from config import Settings
from main import SCHEMA_FILE, schema_text
from migrations import alembic_config
from resolvers.db import Database, is_sqlite
from resolvers.errors import NotFound
from schema import build_schema
from schema.errors import classify
from tests.graphql_client import GraphQLClient
from tests.subscriptions.processes import free_port
from tests.web.test_statement_timeout import slow, timed_out
from web.app import create_app
from web.startup import StartupError

SCHEMA = build_schema()


async def test_healthz(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_graphiql_is_served_to_browsers(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_query_over_get(http: httpx.AsyncClient) -> None:
    # The header a browser's cross-site "simple" request cannot carry (CSRF).
    response = await http.get(
        "/graphql",
        params={"query": "{ conversations { totalCount } }"},
        headers={"X-Threadline-CSRF": "1"},
    )
    assert response.json() == {"data": {"conversations": {"totalCount": 0}}}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ conversations { ", "GRAPHQL_PARSE_FAILED"),
        ("{ conversations { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ('{ conversations(first: "ten") { totalCount } }', "GRAPHQL_VALIDATION_FAILED"),
        ("query($n: Int) { conversations { totalCount } }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "query($n: Int = 1.5) { conversations(first: $n) { totalCount } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ],
)
async def test_document_errors_have_codes(http: httpx.AsyncClient, query: str, code: str) -> None:
    response = await http.post("/graphql", json={"query": query})
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == [code]


@pytest.mark.parametrize(
    ("declared", "variables"),
    [("Int", {"n": "ten"}), ("Int", {"n": 2**31}), ("Int!", {}), ("Int!", {"n": None})],
)
async def test_variable_errors_are_bad_user_input(
    gql: GraphQLClient, declared: str, variables: dict[str, object]
) -> None:
    query = f"query($n: {declared}) {{ conversations(first: $n) {{ totalCount }} }}"
    assert await gql.error_code(query, variables) == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Syntax Error: Expected Name, found <EOF>.", "GRAPHQL_PARSE_FAILED"),
        (
            "Variable '$n' has invalid value: Int cannot represent non-integer value",
            "BAD_USER_INPUT",
        ),
        # graphql-core 3.2's spellings of the same errors.
        ("Variable '$n' got invalid value 'ten'; Int cannot represent it", "BAD_USER_INPUT"),
        ("Variable '$n' of required type 'Int!' was not provided.", "BAD_USER_INPUT"),
        ("Variable '$n' of non-null type 'Int!' must not be null.", "BAD_USER_INPUT"),
        ("Variable '$n' is never used.", "GRAPHQL_VALIDATION_FAILED"),
        ("Variable '$n' is never used in operation 'Q'.", "GRAPHQL_VALIDATION_FAILED"),
        (
            "Variable '$n' of type 'Int' used in position expecting 'Int!'.",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("Cannot query field 'nope' on type 'Query'.", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
def test_request_errors_are_coded_by_message(message: str, code: str) -> None:
    coded = classify(GraphQLError(message), "req-1")
    assert (coded.message, coded.extensions) == (message, {"code": code})


@pytest.mark.parametrize("original", [None, GraphQLError("Int cannot represent ...")])
def test_output_coercion_errors_are_internal(original: GraphQLError | None) -> None:
    # A value the field's type cannot hold is our fault, even though graphql-core raised it.
    error = GraphQLError(
        "Int cannot represent non 32-bit signed integer value: 4000000000",
        path=["conversation", "totalTokens"],
        original_error=original,
    )
    masked = classify(error, "req-1")
    assert masked.message == "Internal server error (request id req-1)"
    assert masked.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-1"}
    assert masked.path == ["conversation", "totalTokens"]


def test_unexpected_errors_are_masked_with_a_request_id() -> None:
    error = GraphQLError("boom: secret connection string", original_error=RuntimeError("secret"))
    masked = classify(error, "req-1")
    assert masked.message == "Internal server error (request id req-1)"
    assert masked.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-1"}


def test_expected_errors_keep_message_and_code() -> None:
    error = GraphQLError("x", original_error=NotFound("Message 'abc' does not exist"))
    kept = classify(error, "req-1")
    assert kept.message == "Message 'abc' does not exist"
    assert kept.extensions == {"code": "NOT_FOUND"}


def test_exported_schema_matches_the_code() -> None:
    exported = Path(SCHEMA_FILE).read_text()
    assert exported == schema_text(SCHEMA), (
        f"schema.graphql is stale: run `{sys.executable} main.py export-schema`"
    )


def run_cli(command: str, database: Path, *args: str) -> str:
    """`python main.py <command> [args]` on its own SQLite file, as a user would run it."""
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    env.pop("BROADCAST_URL", None)
    done = subprocess.run(
        [sys.executable, main.__file__, command, *args],
        env=env,
        cwd=database.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def row_counts(database: Path) -> dict[str, int]:
    with closing(sqlite3.connect(database)) as connection:
        return {
            table.name: connection.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
            for table in models.metadata.sorted_tables
        }


def test_cli_demo_loads_once(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    assert run_cli("demo", database).startswith("Loaded the demo: 3 conversations")
    loaded = row_counts(database)
    for table in ("conversations", "messages", "tool_calls", "plans", "spans", "chat_settings"):
        assert loaded[table] > 0, table
    assert run_cli("demo", database).startswith("The demo was already loaded: 3 conversations")
    assert row_counts(database) == loaded
    assert_one_usage_model(database)


# Per conversation: its totals, and what the usage model counts (its traces' spans and
# the messages no span produced), in tokens and nano-dollars.
TOTALS_AND_COUNTED = """
SELECT c.total_tokens, c.cost,
  (SELECT coalesce(sum(s.total_tokens), 0) FROM spans s JOIN traces t ON t.id = s.trace_id
    WHERE t.conversation_id = c.id)
  + (SELECT coalesce(sum(m.total_tokens), 0) FROM messages m
    WHERE m.conversation_id = c.id AND m.span_id IS NULL),
  (SELECT coalesce(sum(s.cost), 0) FROM spans s JOIN traces t ON t.id = s.trace_id
    WHERE t.conversation_id = c.id)
  + (SELECT coalesce(sum(m.cost), 0) FROM messages m
    WHERE m.conversation_id = c.id AND m.span_id IS NULL),
  (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.span_id IS NOT NULL)
FROM conversations c"""


def assert_one_usage_model(database: Path) -> None:
    """The demo counts each model call once: an answer a span wrote is the span's."""
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute(TOTALS_AND_COUNTED).fetchall()
    assert rows
    for tokens, cost, counted_tokens, counted_cost, _ in rows:
        assert (tokens, cost) == (counted_tokens, counted_cost)
    assert sum(row[-1] for row in rows) >= 2  # the research answers are their spans'


def test_cli_migrate_brings_a_new_database_to_head(tmp_path: Path) -> None:
    database = tmp_path / "new.db"
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    for _ in range(2):  # and running it again is harmless
        assert run_cli("migrate", database).strip() == "database is at the latest migration"
        with closing(sqlite3.connect(database)) as connection:
            assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
                (head,)
            ]
        counts = row_counts(database)
        # Nothing but the installation's secret, made once (resolvers.ingest.namespace).
        assert counts.pop("installation_secrets") == 1
        assert set(counts.values()) == {0}


async def test_cli_creates_an_api_key_that_authenticates(tmp_path: Path) -> None:
    database = tmp_path / "keys.db"
    printed = run_cli(
        "create-api-key", database, "--owner", "alice", "--name", "ci", "--scopes", "read"
    )
    secret = printed.splitlines()[0]
    assert secret.startswith("tl_")
    with closing(sqlite3.connect(database)) as connection:
        stored = connection.execute("SELECT owner_id, scopes, secret_hash FROM api_keys").fetchall()
    # Only the hash of the secret is kept.
    assert stored == [("alice", '["READ"]', hashlib.sha256(secret.encode()).hexdigest())]
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{database}", jwt_secret="s" * 32))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            viewer = await GraphQLClient(client, {"X-API-Key": secret}).data(
                "{ viewer { userId } }"
            )
    assert viewer == {"viewer": {"userId": "alice"}}


async def test_cli_verbs_open_the_database_as_serve_does(settings: Settings) -> None:
    """Every verb that opens the database (migrate, demo, export, sweep, create-api-key)
    runs on run_migrated's: with the settings' statement timeout and PostgreSQL pool."""
    configured = replace(
        settings, statement_timeout_ms=100, database_pool_size=3, database_pool_timeout_seconds=1.5
    )

    async def work(database: Database) -> tuple[float, int, float]:
        async with database.engine.connect() as connection:
            stopped_after = await timed_out(connection, slow(settings.database_url, 10))
        pool = database.engine.sync_engine.pool
        return stopped_after, pool.size(), pool.timeout()  # type: ignore[attr-defined]

    stopped_after, size, timeout = await main.run_migrated(configured, work)
    assert stopped_after < 2  # ten seconds of work, stopped after about 0.1 s
    if not is_sqlite(settings.database_url):  # SQLite keeps SQLAlchemy's own pool
        assert (size, timeout) == (3, 1.5)


def test_without_authentication_the_server_stays_on_loopback() -> None:
    with pytest.raises(
        StartupError, match=r"refusing to serve without authentication on 0\.0\.0\.0"
    ):
        main.check_exposure(Settings(host="0.0.0.0"))
    main.check_exposure(Settings())
    main.check_exposure(Settings(host="0.0.0.0", jwt_secret="s" * 32))


def serve(tmp_path: Path, **settings: str) -> subprocess.Popen[str]:
    """`python main.py serve` in `tmp_path`, on SQLite and a free port unless `settings`
    say otherwise; stdout and stderr in one pipe, unbuffered, so that lines keep order."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AUTH_")}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'served.db'}",
        BROADCAST_URL="memory://",
        HOST="127.0.0.1",
        PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return subprocess.Popen(
        [sys.executable, main.__file__, "serve", "--demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


CLOSED = free_port()  # nothing listens here (taken and let go)
POSTGRES = os.environ.get("TEST_DATABASE_URL")
# The test server with a database name nobody created.
MISSING = make_url(POSTGRES or "postgresql+asyncpg://localhost/postgres").set(
    database=f"threadline_missing_{uuid.uuid4().hex[:8]}"
)
STARTUP_FAILURES = [
    pytest.param(
        {"DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{CLOSED}/threadline"},
        f"cannot reach the database at 127.0.0.1:{CLOSED} ",
        "start PostgreSQL there, or fix DATABASE_URL",
        id="database-unreachable",
    ),
    pytest.param(
        {"DATABASE_URL": MISSING.render_as_string(hide_password=False)},
        f'database "{MISSING.database}" does not exist on {MISSING.host}:{MISSING.port or 5432}',
        f"create it (createdb -h {MISSING.host} -U <user> {MISSING.database})",
        id="database-missing",
        marks=pytest.mark.skipif(POSTGRES is None, reason="needs TEST_DATABASE_URL"),
    ),
    pytest.param(
        {"DATABASE_URL": "sqlite+aiosqlite:////nonexistent/threadline.db"},
        "cannot open the SQLite database /nonexistent/threadline.db ",
        "its directory must exist and be writable; fix DATABASE_URL",
        id="sqlite-directory-missing",
    ),
    pytest.param(
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/threadline"},
        "DATABASE_URL starts with postgres://, which has no async driver",
        "write postgresql+asyncpg://user:pass@host:5432/db",
        id="postgres-scheme",
    ),
    pytest.param(
        {"DATABASE_URL": "mysql+nosuchdriver://u@127.0.0.1/threadline"},
        "DATABASE_URL's driver 'mysql+nosuchdriver' is not an async driver installed here",
        "use postgresql+asyncpg://",
        id="unknown-driver",
    ),
    pytest.param(
        {"BROADCAST_URL": f"redis://127.0.0.1:{CLOSED}/0"},
        f"cannot reach the broadcast backend at 127.0.0.1:{CLOSED} ",
        "start it, or set BROADCAST_URL (memory:// for a single process)",
        id="broadcast-unreachable",
    ),
    pytest.param(
        {"METRICS": "on", "AUTH_JWT_SECRET": "s" * 32},
        "METRICS=on with authentication on would serve /metrics to anyone",
        "set METRICS_TOKEN (sent as a bearer token), or METRICS=off",
        id="public-metrics-with-authentication",
    ),
    pytest.param(
        {"PORT": "eighty"},
        "invalid literal for int() with base 10: 'eighty'",
        "in PORT",
        id="port-not-a-number",
    ),
]


@pytest.mark.parametrize(("settings", "cause", "remedy"), STARTUP_FAILURES)
def test_a_setting_that_cannot_work_ends_serve_in_one_line(
    tmp_path: Path, settings: dict[str, str], cause: str, remedy: str
) -> None:
    server = serve(tmp_path, **settings)
    output, _ = server.communicate(timeout=120)
    assert server.returncode == 1, output
    assert len(output.splitlines()) == 1, output
    [line] = output.splitlines()
    assert cause in line, line
    assert remedy in line, line


def test_a_module_the_driver_needs_is_named(tmp_path: Path) -> None:
    # As if aiosqlite were not installed (an import of a module set to None fails).
    (tmp_path / "sitecustomize.py").write_text("import sys; sys.modules['aiosqlite'] = None\n")
    server = serve(tmp_path, PYTHONPATH=str(tmp_path))
    output, _ = server.communicate(timeout=120)
    assert server.returncode == 1, output
    assert output.splitlines() == [
        "DATABASE_URL's driver 'sqlite+aiosqlite' cannot be loaded: module 'aiosqlite' "
        "is not installed here (pip install it)"
    ]


def test_log_level_debug_shows_why_a_check_failed(tmp_path: Path) -> None:
    server = serve(tmp_path, BROADCAST_URL=f"redis://127.0.0.1:{CLOSED}/0", LOG_LEVEL="debug")
    output, _ = server.communicate(timeout=120)
    assert server.returncode == 1, output
    assert "Traceback (most recent call last)" in output
    assert "ConnectionRefusedError" in output
    assert output.splitlines()[-1].startswith("cannot reach the broadcast backend")


def test_a_port_in_use_ends_serve_in_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = serve(tmp_path, PORT=str(port))
        output, _ = server.communicate(timeout=120)
    assert server.returncode == 1, output
    assert output.splitlines() == [
        f"port {port} on 127.0.0.1 is in use (another server is running?): "
        "stop it, or set PORT to a free port"
    ]


def test_serve_prints_its_urls_last_once_it_accepts(tmp_path: Path) -> None:
    port = free_port()
    lines: list[str] = []
    with serve(tmp_path, PORT=str(port), LOG_LEVEL="info") as server:
        try:
            assert server.stdout is not None
            for line in server.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith("Threadline on "):
                    break
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        finally:
            server.terminate()
            server.wait(timeout=30)
    url = f"http://127.0.0.1:{port}/"
    assert lines[-1].endswith(f"live viewer at {url}, GraphiQL at {url}graphql"), lines
    # After uvicorn's own lines: it listens; the demo said what it loaded in one short line.
    assert any("Application startup complete" in line for line in lines[:-1]), lines
    [demo] = [line for line in lines if "the demo" in line]
    assert demo.startswith("Loaded the demo: 3 conversations"), demo
    assert len(demo) < 120, demo
    assert not [line for line in lines if "Warning" in line or "Traceback" in line], lines
