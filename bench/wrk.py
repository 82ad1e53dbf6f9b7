"""wrk as the load generator of bench/peer.py: one run POSTing one GraphQL body, with
the CPU the server process and the database's backends spent meanwhile."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
from typing import Any

import asyncpg

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("bench peer needs wrk, the HTTP load generator: apt-get install -y wrk")
    return found


@dataclass
class Run:
    requests: int
    per_second: float
    p99_ms: float
    server_cpu_ms: float  # per request, the server's own process
    postgres_cpu_ms: float  # per request, every backend of the database
    backends_started: int  # connections the server opened during the run


def cpu_ms(pid: int) -> float:
    """User + system CPU of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_MS


async def backends(admin: asyncpg.Connection) -> dict[int, float]:
    """CPU so far of each backend connected to the admin connection's database but it.
    PostgreSQL must run on this machine (its processes readable in /proc)."""
    pids = await admin.fetch(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return {row["pid"]: cpu_ms(row["pid"]) for row in pids}


def script(body: dict[str, Any]) -> str:
    text = json.dumps(body, separators=(",", ":"))
    assert "]==]" not in text
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [==[{text}]==]\n"
    )


def _found(pattern: str, output: str) -> re.Match[str]:
    match = re.search(pattern, output)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in wrk's report:\n{output}")
    return match


def parse(output: str) -> tuple[int, float, float]:
    """Requests, requests/s and p99 ms of wrk --latency's report; a run with errors fails."""
    if re.search(r"Non-2xx or 3xx responses|Socket errors", output):
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    requests = int(_found(r"(\d+) requests in", output)[1])
    per_second = float(_found(r"Requests/sec:\s+([\d.]+)", output)[1])
    value, unit = _found(r"99%\s+([\d.]+)(us|ms|s)", output).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return requests, per_second, p99


async def run(
    url: str,
    body: dict[str, Any],
    server_pid: int,
    admin: asyncpg.Connection,
    seconds: int,
    connections: int,
    threads: int,
) -> Run:
    """`connections` keep-alive connections POSTing `body` to `url` for `seconds`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script(body))
        lua.flush()
        command = [
            require_wrk(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            lua.name,
            url,
        ]
        before_server, before = cpu_ms(server_pid), await backends(admin)
        process = await asyncio.create_subprocess_exec(*command, stdout=PIPE, stderr=PIPE)
        out, err = await process.communicate()
        if process.returncode:
            raise RuntimeError(f"wrk failed: {err.decode()}")
        after_server, after = cpu_ms(server_pid), await backends(admin)
    requests, per_second, p99 = parse(out.decode())
    postgres = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
    return Run(
        requests,
        round(per_second, 1),
        round(p99, 2),
        round((after_server - before_server) / requests, 3),
        round(postgres / requests, 3),
        len(after.keys() - before.keys()),
    )
