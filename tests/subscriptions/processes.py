"""Real processes for the broadcast tests: a redis-server of our own, Threadline servers,
and a fresh PostgreSQL database. Everything started here is stopped by its owner."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
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
                sys.executable, "main.py", "serve", cwd=ROOT, env=self.env, stdout=out, stderr=out
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
