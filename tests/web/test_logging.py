"""Log levels by kind of error, and LOG_FORMAT=json: one object a line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from config import Settings
from resolvers.ids import to_global_id
from tests.graphql_client import GraphQLClient
from tests.web.faults import FAILING_QUERY, unreadable_component
from web.logging_setup import formatter

ROOT = Path(__file__).resolve().parents[2]
MISSING = to_global_id("Conversation", "00000000-0000-4000-8000-000000000000")
CLIENT_ERRORS = {
    "BAD_USER_INPUT": {"query": '{ conversation(id: "Q29udmVyc2F0aW9uOm5vcGU=") { id } }'},
    "NOT_FOUND": {
        "query": "mutation($c: ID!) { sendMessage(input: "
        '{conversationId: $c, senderId: "user-1", content: "hi"}) { id } }',
        "variables": {"c": MISSING},
    },
    "GRAPHQL_VALIDATION_FAILED": {"query": "{ nope }"},
    "GRAPHQL_PARSE_FAILED": {"query": "{ conversations {"},
}


@contextmanager
def json_lines(level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """What every logger writes meanwhile, through LOG_FORMAT=json's formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(Settings(log_format="json")))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def parsed(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("code", CLIENT_ERRORS)
async def test_client_errors_are_one_info_line_without_traceback(
    http: httpx.AsyncClient, code: str
) -> None:
    with json_lines() as stream:
        response = await http.post(
            "/graphql", json=CLIENT_ERRORS[code], headers={"X-Request-ID": f"client-{code}"}
        )
    assert response.json()["errors"][0]["extensions"]["code"] == code
    lines = [line for line in parsed(stream) if line["request_id"] == f"client-{code}"]
    assert [(line["level"], line["logger"]) for line in lines] == [("INFO", "threadline.errors")]
    assert code in lines[0]["message"]
    assert all("exc_info" not in line for line in parsed(stream))
    assert not [line for line in parsed(stream) if line["level"] in ("ERROR", "CRITICAL")]


async def test_an_unexpected_error_is_an_error_line_with_traceback_and_request_id(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    await unreadable_component(app, gql)
    with json_lines() as stream:
        await http.post(
            "/graphql",
            json={"query": FAILING_QUERY},
            headers={"X-Request-ID": "fault-1"},
        )
    [line] = [line for line in parsed(stream) if line["level"] == "ERROR"]
    assert set(line) == {"time", "level", "logger", "message", "request_id", "exc_info"}
    assert line["request_id"] == "fault-1"
    assert "fault-1" in line["message"]
    assert line["exc_info"].startswith("Traceback")
    assert "NOT_A_TYPE" in line["exc_info"]


def stderr_of(logging_calls: str, **env: str) -> str:
    """What a process writes after main's set-up (web.logging_setup.configure_logging)
    and then `logging_calls`, with the environment changed as `env` says ("": unset)."""
    script = (
        "import logging; from config import Settings; "
        "from web.logging_setup import configure_logging; "
        f"configure_logging(Settings.from_env()); {logging_calls}"
    )
    environment = {**os.environ, **env}
    environment = {name: value for name, value in environment.items() if value}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr


def test_log_format_json_configures_the_process() -> None:
    stderr = stderr_of(
        "logging.getLogger('uvicorn.error').info('started'); "
        "logging.getLogger('threadline').error('failed', exc_info=ValueError('why'))",
        LOG_FORMAT="json",
        LOG_LEVEL="info",
    )
    first, second = (json.loads(line) for line in stderr.splitlines())
    assert first["message"] == "started"
    assert (first["level"], first["logger"], first["request_id"]) == ("INFO", "uvicorn.error", "-")
    assert "exc_info" not in first
    assert second["level"] == "ERROR"
    assert "ValueError: why" in second["exc_info"]


def test_text_stays_the_default() -> None:
    stderr = stderr_of("logging.getLogger('threadline').warning('hi')", LOG_FORMAT="")
    assert stderr.rstrip().endswith("WARNING threadline [-] hi")
    with pytest.raises(json.JSONDecodeError):
        json.loads(stderr)
