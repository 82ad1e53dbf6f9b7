"""README.md's examples: its GraphQL is valid against the schema, and its commands run as
written from a fresh clone once `make` has set it up."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from graphql import parse, validate

import main
from schema import build_schema

SCHEMA = build_schema()

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLES = re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_a_query_a_mutation_and_a_subscription() -> None:
    kinds = {example.lstrip().split()[0] for example in EXAMPLES}
    assert {"query", "mutation", "subscription"} <= kinds


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.split("{")[0].strip())
def test_readme_example_is_valid(example: str) -> None:
    errors = validate(SCHEMA._schema, parse(example))
    assert errors == [], errors


ROOT = README.parent
SHELL_BLOCKS = re.findall(r"^ *```sh\n(.*?)^ *```", README.read_text(), flags=re.S | re.M)


def shell_commands(block: str) -> list[str]:
    """The block's commands, a line each: comments dropped, continued lines and quoted
    arguments that span lines joined."""
    commands, pending = [], ""
    for line in block.replace("\\\n", " ").splitlines():
        pending += f"{line}\n"
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote still open: the command goes on
            continue
        if words:
            commands.append(shlex.join(words))
        pending = ""
    return commands


COMMANDS = [command for block in SHELL_BLOCKS for command in shell_commands(block)]
ENV_ASSIGNMENT = re.compile(r"^[A-Z_]+=\S*$")
PREREQUISITES = re.search(r"^## Prerequisites\n(.*?)^## ", README.read_text(), flags=re.S | re.M)
MAKE_TARGETS = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
# Wherever the README runs main.py (with its verb, if it names one).
MAIN_PY = re.compile(r"\S*python\S* main\.py")


def program(command: str) -> list[str]:
    """The command's words, its leading environment assignments dropped."""
    words = shlex.split(command)
    while words and ENV_ASSIGNMENT.match(words[0]):
        words.pop(0)
    return words


def test_the_prerequisites_say_which_python() -> None:
    assert PREREQUISITES is not None, "README.md has no ## Prerequisites section"
    pyproject = (ROOT / "pyproject.toml").read_text()
    [minimum] = re.findall(r'^requires-python = ">=(\S+)"', pyproject, flags=re.M)
    assert f"Python >= {minimum}" in PREREQUISITES.group(1)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_shell_command_names_a_program_that_exists(command: str) -> None:
    """A make target, a file of the checkout (`.venv/` as make creates it), or a program
    the Prerequisites list."""
    assert PREREQUISITES is not None
    name, *args = program(command)
    if name == "make":
        assert args[0] in MAKE_TARGETS, f"no `make {args[0]}`"
    elif "/" in name:
        assert (ROOT / name).is_file(), f"{name} is not in the checkout"
        if args[:1] == ["-m"]:
            assert importlib.util.find_spec(args[1]) is not None, f"no module {args[1]}"
    else:
        assert f"`{name}`" in PREREQUISITES.group(1), f"{name} is not a prerequisite"


CODE_SPANS = re.findall(r"`([^`\n]+(?:\n[^`\n]+)?)`", README.read_text())
MAIN_PY_COMMANDS = [span for span in [*CODE_SPANS, *COMMANDS] if MAIN_PY.search(span)]


@pytest.mark.parametrize("command", MAIN_PY_COMMANDS)
def test_main_py_runs_through_the_venv_with_a_verb_it_has(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    words = program(command)
    assert words[:2] == [".venv/bin/python", "main.py"], "outside the venv it fails"
    if len(words) > 2:  # else the program alone is meant
        with pytest.raises(SystemExit) as exited:
            main.main([words[2], "--help"])
        assert exited.value.code == 0, capsys.readouterr().err
