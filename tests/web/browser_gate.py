"""Whether the browser tests (test_browser.py) run here: they need Chromium, which a
developer's machine may lack. Without it they are skipped with one line saying how to get
it, unless the run must include them (CI=true, or REQUIRE_BROWSER=1), where that is a
failure. tests/web/conftest.py applies this to every test using the `chromium` fixture,
before any fixture is set up."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

HOW_TO_RUN = "apt-get install chromium (or set CHROMIUM=/path/to/chromium)"


def find_chromium(env: Mapping[str, str]) -> Path | None:
    """CHROMIUM when it is set (None if no such file), else `chromium` on PATH."""
    configured = env.get("CHROMIUM")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    found = shutil.which("chromium", path=env.get("PATH", ""))
    return None if found is None else Path(found)


def browser_required(env: Mapping[str, str]) -> bool:
    return env.get("CI", "").lower() in ("true", "1") or env.get("REQUIRE_BROWSER", "0") != "0"


def missing_browser(env: Mapping[str, str]) -> str | None:
    """Why the browser tests cannot run (None: they can), in one line with the remedy."""
    if find_chromium(env) is not None:
        return None
    configured = env.get("CHROMIUM")
    where = f"CHROMIUM={configured} is no file" if configured else "no chromium on PATH"
    return f"BROWSER TESTS NOT RUN: {where}; to run them: {HOW_TO_RUN}"


def require_browser(env: Mapping[str, str]) -> None:
    """Skip (or, when the run must include them, fail) a browser test that cannot run."""
    reason = missing_browser(env)
    if reason is None:
        return
    if browser_required(env):
        pytest.fail(f"{reason} (CI or REQUIRE_BROWSER asks for them)", pytrace=False)
    pytest.skip(f"{reason}; with CI=true or REQUIRE_BROWSER=1 this is a failure")
