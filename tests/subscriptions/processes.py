"""Real processes and places for the fault tests: a redis-server and a PostgreSQL cluster
of our own, Threadline servers, and mounts (a small tmpfs, a bind mount made read-only).
Everything started here is stopped by its owner."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def run_command(*command: str, as_user: str | None = None) -> None:
    """Run a command to its end; OSError with its output if it fails."""
    prefix = ["runuser", "-u", as_user, "--"] if as_user is not None else []
    process = await asyncio.create_subprocess_exec(
        *prefix, *command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise OSError(f"{' '.join(command)} failed: {output.decode(errors='replace').strip()}")


async def _stop(process: asyncio.subprocess.Process, sig: int, grace: float = 5.0) -> None:
    """Signal the process and reap it, killing it if it outlives `grace`."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    await process.wait()


class RedisServer:
    """`redis-server --port N` without persistence; kill and start it again on that port."""

    def __init__(self, directory: Path) -> None:
        assert REDIS_SERVER is not None, "redis-server is not installed"
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert REDIS_SERVER is not None
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not await self.ping():
            assert self.process.returncode is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            await asyncio.sleep(0.02)

    async def ping(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            return await asyncio.wait_for(reader.readline(), 1) == b"+PONG\r\n"
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    async def command(self, *args: str) -> bytes:
        """Send one command (RESP) and return the first reply line."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            parts = [f"*{len(args)}\r\n".encode()]
            for arg in args:
                parts.append(f"${len(arg.encode())}\r\n{arg}\r\n".encode())
            writer.write(b"".join(parts))
            return await asyncio.wait_for(reader.readline(), 5)
        finally:
            writer.close()

    async def kill(self) -> None:
        if self.process is not None:
            await _stop(self.process, signal.SIGKILL)
            self.process = None


@asynccontextmanager
async def redis_server(directory: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(directory)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


class ServerProcess:
    """`python main.py serve` on a free port; its output goes to `log`."""

    # What the interpreter runs: a subclass may serve through a wrapper of main.py.
    command: tuple[str, ...] = ("main.py", "serve")

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        self.log = log
        self.env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.env.setdefault("LOG_LEVEL", "warning")
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *self.command, cwd=ROOT, env=self.env, stdout=out, stderr=out
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    async def wait_healthy(self, limit: float = 30.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + limit
        async with httpx.AsyncClient(base_url=self.http_url, timeout=2) as client:
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"server {self.name} exited:\n{self.output()}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"server {self.name} is not healthy:\n{self.output()}")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.process is not None:
            await _stop(self.process, signal.SIGTERM)


@asynccontextmanager
async def serving(log_dir: Path, **envs: dict[str, str]) -> AsyncIterator[dict[str, ServerProcess]]:
    """Healthy server processes by name, started side by side, always stopped afterwards.
    (Starting takes seconds of imports; a server without AUTO_MIGRATE needs no schema
    to start, only to answer.)"""
    servers = {
        name: ServerProcess(name, env, log_dir / f"{name}.log") for name, env in envs.items()
    }
    try:
        for server in servers.values():
            await server.start()
        await asyncio.gather(*(server.wait_healthy() for server in servers.values()))
        yield servers
    finally:
        await asyncio.gather(*(server.stop() for server in servers.values()))


INITDB = shutil.which("initdb")
PG_CTL = shutil.which("pg_ctl")
# PostgreSQL refuses to run as root: as root, its commands run as this user.
POSTGRES_OWNER = "postgres"


class PostgresCluster:
    """A PostgreSQL server of our own: `initdb` into a temporary directory, a free port,
    its socket in that directory, fsync off. Stopped (`fast` or `immediate`) and started
    again on the same port; never the shared server."""

    def __init__(self) -> None:
        assert INITDB is not None, "initdb is not installed"
        assert PG_CTL is not None, "pg_ctl is not installed"
        self.initdb, self.pg_ctl = INITDB, PG_CTL
        # Not pytest's tmp_path: its parents are private to root, where the owner of the
        # cluster could not reach its files.
        self.directory = Path(tempfile.mkdtemp(prefix="threadline-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    async def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, POSTGRES_OWNER, POSTGRES_OWNER)
        options = ["-U", "postgres", "--auth=trust", "--no-sync", "--locale=C.UTF-8"]
        await self._as_owner(self.initdb, "-D", str(self.data), *options)
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.directory}'",
            # Flushing to disk guards against the machine crashing, which these tests do
            # not do. (synchronous_commit stays on: a commit acknowledged must outlive an
            # `immediate` stop.)
            "fsync": "off",
            "full_page_writes": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    async def start(self) -> None:
        await self._pg_ctl("-l", str(self.log), "start")

    async def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended and the server shuts down cleanly; `immediate`: it
        quits at once, as in a crash, and recovers from its WAL when started again."""
        await self._pg_ctl("-m", mode, "stop")

    async def _pg_ctl(self, *args: str) -> None:
        # -w: return once the server accepts connections (or has stopped).
        await self._as_owner(self.pg_ctl, "-D", str(self.data), "-w", "-t", "30", *args)

    async def _as_owner(self, *command: str) -> None:
        await run_command(*command, as_user=POSTGRES_OWNER if os.geteuid() == 0 else None)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    async def remove(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                await self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


@asynccontextmanager
async def postgres_cluster() -> AsyncIterator[PostgresCluster]:
    """A started cluster of our own, always stopped and removed afterwards."""
    cluster = PostgresCluster()
    try:
        await cluster.create()
        await cluster.start()
        yield cluster
    finally:
        await cluster.remove()


# Mounts for the storage faults (a full disk, a read-only database): root only (CI is).


@asynccontextmanager
async def mounted(target: Path, *args: str) -> AsyncIterator[Path]:
    """`mount ARGS TARGET`, always unmounted afterwards (lazily if it is still busy, so
    that nothing stays mounted; the error is raised all the same)."""
    await run_command("mount", *args, str(target))
    try:
        yield target
    finally:
        try:
            await run_command("umount", str(target))
        except OSError:
            await run_command("umount", "--lazy", str(target))
            raise


def tmpfs(target: Path, size: str) -> contextlib.AbstractAsyncContextManager[Path]:
    """A tmpfs of `size` (as mount writes it: 8m) at `target`."""
    return mounted(target, "-t", "tmpfs", "-o", f"size={size}", "tmpfs")


def bind_mount(source: Path, target: Path) -> contextlib.AbstractAsyncContextManager[Path]:
    """`source`'s directory seen at `target` too, where it can be made read-only alone."""
    return mounted(target, "--bind", str(source))


async def remount(target: Path, *, writable: bool) -> None:
    """Make a bind mount read-only or writable again; its files stay open meanwhile."""
    await run_command("mount", "-o", f"remount,bind,{'rw' if writable else 'ro'}", str(target))
