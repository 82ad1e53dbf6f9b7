"""The wheel works outside the checkout: built, installed (not editable), and run.

`pip install -e .` hides packaging mistakes: every module and data file resolves from the
checkout, so a subpackage missing from the wheel or an unshipped data file shows only on
a real install. So here:

1. The checkout's sources (no .git, .venv, caches or build leftovers; GraphiQL's
   node_modules linked, not copied) are copied to a temporary directory, and the wheel is
   built from the copy, so the build writes no `build/` or `*.egg-info` into the
   checkout, and nothing stale left there can hide a mistake. pip builds it with the
   venv's setuptools (a dev extra, pinned like [build-system]) and `--no-index`, so it
   needs no network.
2. A fresh venv (`python -m venv --without-pip`, never the project's) gets the wheel
   from `pip --python <venv> install --no-deps --no-index`, which also writes the
   `threadline` console script. Its dependencies come from the project venv's
   site-packages through a `.pth` path line, appended after the new venv's own
   site-packages. A path line does not run that directory's `.pth` files, so the editable
   install's import finder (`__editable__.threadline-*.pth`) never loads. Installing the
   dependencies from PyPI would need the network and take minutes.
3. Everything runs from a directory outside the checkout, with no PYTHONPATH and no user
   site-packages. The test asserts that every project module is loaded from the new
   venv, and that nothing is loaded from the checkout except the shared dependencies.

The smoke: `threadline migrate` on a new SQLite file, `threadline export-schema`, and
`threadline serve` on a free loopback port answering GraphQL over HTTP and serving its
pages. Building and installing take a few seconds; each process has a time limit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import time
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from main import schema_text
from migrations import alembic_config
from schema import build_schema
from web.pages import GRAPHIQL_FILES

SCHEMA = build_schema()

ROOT = Path(__file__).resolve().parents[1]
# The project's top-level packages and modules: exactly what the wheel holds.
PACKAGES = ("agent_sim", "migrations", "models", "resolvers", "schema", "subscriptions", "web")
MODULES = ("config", "main")
# Never copied into the build: version control, environments, caches, build leftovers.
NOT_SOURCES = [".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc"]
NOT_SOURCES += [".mypy_cache", ".ruff_cache", ".pytest_cache", "test-output", "node_modules"]
NOT_SOURCES += ["*.db", "*.db-*"]
NODE_MODULES = Path("web", "graphiql", "node_modules")
LIMIT = 120  # seconds, for any one build, install or command


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    site_packages: Path
    work: Path  # the working directory: outside the checkout
    build_log: str  # what the build printed (pip -v shows setuptools' own output)

    def env(self, **settings: str) -> dict[str, str]:
        """A clean environment: no PYTHONPATH or user site-packages to reach the checkout."""
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
        env = {name: os.environ[name] for name in keep if name in os.environ}
        return {**env, "PYTHONNOUSERSITE": "1", "LOG_LEVEL": "warning", **settings}

    def run(self, *command: str, **settings: str) -> str:
        done = subprocess.run(
            command,
            cwd=self.work,
            env=self.env(**settings),
            capture_output=True,
            text=True,
            timeout=LIMIT,
            check=False,
        )
        assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def threadline(self, *args: str, **settings: str) -> str:
        return self.run(str(self.venv / "bin" / "threadline"), *args, **settings)


def _pip(*args: str) -> str:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    command = [sys.executable, "-m", "pip", *args]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=LIMIT, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _copy_sources(target: Path) -> Path:
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    if (ROOT / NODE_MODULES).is_dir():  # 50 MB: linked; the build only reads it
        (target / NODE_MODULES).symlink_to(ROOT / NODE_MODULES, target_is_directory=True)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("packaging")
    source = _copy_sources(base / "source")
    wheelhouse = base / "wheelhouse"
    build = ["--no-deps", "--no-index", "--no-build-isolation", "--check-build-dependencies"]
    # An absolute path: pip would take a bare name such as `source` for a PyPI project.
    build_log = _pip("wheel", "-v", *build, "--wheel-dir", str(wheelhouse), str(source.resolve()))
    [wheel] = wheelhouse.glob("threadline-*.whl")

    venv = base / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=LIMIT
    )
    python = venv / "bin" / "python"
    _pip("--python", str(python), "install", "--no-deps", "--no-index", str(wheel))
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site_packages = Path(
        subprocess.run(
            [python, "-c", where], capture_output=True, text=True, check=True, timeout=LIMIT
        ).stdout.strip()
    )
    dependencies = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site_packages / "zz_threadline_test_dependencies.pth").write_text(
        "".join(f"{path}\n" for path in dependencies)
    )
    work = base / "work"
    work.mkdir()
    return Installed(wheel, venv, site_packages, work, build_log)


def test_the_build_warns_of_nothing(installed: Installed) -> None:
    """setuptools' warnings (a data directory absent from the packages, a deprecated
    option) run to dozens of lines in the middle of `make serve`'s first run."""
    assert "Successfully built threadline" in installed.build_log
    warned = [line for line in installed.build_log.splitlines() if "Warning" in line]
    assert warned == []


def test_the_wheel_holds_every_package_and_data_file_and_nothing_else(
    installed: Installed,
) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        entry_points = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = "".join(wheel.read(name).decode() for name in entry_points)
    top = {name.split("/")[0] for name in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {*PACKAGES, *(f"{m}.py" for m in MODULES)}

    # Every module on disk (found by a walk, not from a list) is in the wheel.
    for package in PACKAGES:
        for directory, subdirectories, files in os.walk(ROOT / package):
            subdirectories[:] = [d for d in subdirectories if d != "node_modules"]
            for file in files:
                if file.endswith(".py"):
                    relative = (Path(directory) / file).relative_to(ROOT).as_posix()
                    assert relative in names, f"{relative} is not in the wheel"
    assert {
        "resolvers/compiled/__init__.py",
        "resolvers/analytics/__init__.py",
        "migrations/env.py",
        "migrations/versions/0001_initial_graph.py",
        "migrations/script.py.mako",
        "resolvers/pricing/prices.json",
    } <= names
    for path in (ROOT / "web" / "static").iterdir():
        assert f"web/static/{path.name}" in names

    # Of GraphiQL's npm packages, the files web/pages.py serves and their licences.
    shipped = {n for n in names if n.startswith(f"{NODE_MODULES.as_posix()}/")}
    served = {
        path.relative_to(ROOT).as_posix() for path in GRAPHIQL_FILES.values() if path.is_file()
    }
    assert served <= shipped
    assert {n for n in shipped if not n.endswith("/LICENSE")} == served
    assert "threadline = main:main" in scripts, "no `threadline` console script"


def test_installed_modules_load_from_the_wheel_only(installed: Installed) -> None:
    check = """
import importlib, json, pkgutil, sys
import main
for package in ("agent_sim", "models", "resolvers", "schema", "subscriptions", "web"):
    for found in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        importlib.import_module(found.name)
from migrations import alembic_config
from alembic.script import ScriptDirectory
script = ScriptDirectory.from_config(alembic_config())
print(json.dumps({
    "files": {name: getattr(m, "__file__", None) for name, m in sys.modules.items()},
    "script_dir": script.dir,
    "head": script.get_current_head(),
}))
"""
    python = str(installed.venv / "bin" / "python")
    loaded = json.loads(installed.run(python, "-c", check))
    ours = {
        name: file
        for name, file in loaded["files"].items()
        if name.split(".")[0] in {*PACKAGES, *MODULES}
    }
    assert "resolvers.compiled" in ours
    assert "resolvers.analytics" in ours
    for name, file in ours.items():
        assert file is not None, f"{name} is a namespace package: is an __init__.py missing?"
        assert Path(file).is_relative_to(installed.site_packages), (name, file)
    dependencies = Path(sysconfig.get_path("purelib"))
    for name, file in loaded["files"].items():
        if file is not None and Path(file).is_relative_to(ROOT):
            assert Path(file).is_relative_to(dependencies), (name, file)
    assert not any(name.startswith("__editable__") for name in loaded["files"])

    assert Path(loaded["script_dir"]) == installed.site_packages / "migrations"
    assert loaded["head"] == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_cli_migrates_and_exports_the_schema(installed: Installed) -> None:
    database = installed.work / "migrated.db"
    url = f"sqlite+aiosqlite:///{database}"
    printed = installed.threadline("migrate", DATABASE_URL=url)
    assert printed.strip() == "database is at the latest migration"
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]

    # Installed, the schema is written to the working directory, not into site-packages.
    installed.threadline("export-schema", DATABASE_URL=url)
    assert (installed.work / "schema.graphql").read_text() == schema_text(SCHEMA)
    assert not (installed.site_packages / "schema.graphql").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_served_from_the_wheel_it_answers_graphql_and_serves_its_pages(
    installed: Installed,
) -> None:
    port = _free_port()
    settings = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{installed.work / 'served.db'}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    log = installed.work / "serve.log"
    command = [str(installed.venv / "bin" / "threadline"), "serve"]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, cwd=installed.work, env=installed.env(**settings), stdout=out, stderr=out
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, f"serve exited:\n{log.read_text()[-4000:]}"
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"not healthy:\n{log.read_text()[-4000:]}"
                time.sleep(0.05)

            query = "{ __typename conversations { totalCount } }"
            answer = client.post("/graphql", json={"query": query}).json()
            assert answer == {"data": {"__typename": "Query", "conversations": {"totalCount": 0}}}
            page = client.get("/graphql", headers={"accept": "text/html"})
            assert "graphiql" in page.text.lower()
            assert client.get("/").status_code == 200
            assert client.get("/static/viewer.js").status_code == 200
            for name, path in GRAPHIQL_FILES.items():
                if path.is_file():  # GraphiQL's build, when `make assets` installed it
                    assert client.get(f"/graphiql/{name}").content == path.read_bytes()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    # uvicorn shuts down, then re-raises the signal it caught.
    assert server.returncode in (0, -signal.SIGTERM), log.read_text()[-4000:]
    assert "Traceback" not in log.read_text()


def test_alembic_ini_and_the_code_agree() -> None:
    """alembic.ini stays for the `alembic` command line; the app builds its config in code."""
    from_ini = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    from_code = ScriptDirectory.from_config(alembic_config())
    assert Path(from_ini.dir).resolve() == Path(from_code.dir).resolve()
    assert from_ini.get_current_head() == from_code.get_current_head()
