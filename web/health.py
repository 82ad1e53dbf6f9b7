"""Probes for load balancers and Kubernetes: /healthz (liveness), /readyz (readiness).

/healthz answers while the process serves requests and asks nothing else: a liveness
probe that failed during a database outage would restart every replica for nothing.
/readyz answers 200 while the database answers a read and takes a write and the
broadcast backend is connected, else 503 naming each check that failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from resolvers.db import Database
from resolvers.errors import RETRY_AFTER_SECONDS
from resolvers.health import NotReady, check_read, check_write
from subscriptions.bus import EventBus

log = logging.getLogger(__name__)
# A check that has not answered by then fails: a hung database must not hang the probe.
CHECK_TIMEOUT_S = 2.0
# A probe within this long of the last one gets its answer again.
FRESH_FOR_S = 1.0
OK = "ok"

Check = Callable[[], Awaitable[None]]


def health_routes(database: Database, bus: EventBus) -> list[Route]:
    readiness = Readiness(database, bus)
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readiness.respond, methods=["GET"]),
    ]


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": OK})


class Readiness:
    """The readiness checks, and whether the last probe found the process ready."""

    def __init__(self, database: Database, bus: EventBus) -> None:
        self.bus = bus
        self.checks: dict[str, Check] = {
            "database": partial(check_read, database),
            "writable": partial(check_write, database),
        }
        # A check still running from an earlier probe (a hung database) is waited on
        # again rather than started once more per probe.
        self._running: dict[str, asyncio.Task[NotReady | None]] = {}
        # When the checks last ran, and what failed then.
        self._checked: tuple[float, dict[str, NotReady]] | None = None
        self.ready = True

    async def respond(self, request: Request) -> Response:
        failures = await self.failures()
        self._note(failures)
        names = [*self.checks, "broadcast"]
        checks = {name: failures[name].reason if name in failures else OK for name in names}
        if failures:
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            body = {"status": "unavailable", "checks": checks}
            return JSONResponse(body, status_code=503, headers=headers)
        return JSONResponse({"status": OK, "checks": checks})

    async def failures(self) -> dict[str, NotReady]:
        """What failed, checked at most once per FRESH_FOR_S: the write check commits,
        and anybody may ask as often as they like."""
        now = time.monotonic()
        if self._checked is None or now - self._checked[0] >= FRESH_FOR_S:
            self._checked = (now, await self._check())
        return self._checked[1]

    async def _check(self) -> dict[str, NotReady]:
        tasks = {name: self._started(name, check) for name, check in self.checks.items()}
        await asyncio.wait(tasks.values(), timeout=CHECK_TIMEOUT_S)
        late = NotReady("timed out", f"no answer within {CHECK_TIMEOUT_S} s")
        outcomes = {name: task.result() if task.done() else late for name, task in tasks.items()}
        if not self.bus.connected:
            outcomes["broadcast"] = NotReady("disconnected", "its listening connection is down")
        return {name: failure for name, failure in outcomes.items() if failure is not None}

    def _started(self, name: str, check: Check) -> asyncio.Task[NotReady | None]:
        task = self._running.get(name)
        if task is None or task.done():
            task = self._running[name] = asyncio.create_task(_outcome(check))
        return task

    def _note(self, failures: dict[str, NotReady]) -> None:
        """Log a change of readiness once, not every probe."""
        ready = not failures
        if ready == self.ready:
            return
        self.ready = ready
        if ready:
            log.info("ready again: the database takes writes and the broadcast is connected")
        else:
            failed = "; ".join(f"{name}: {failure}" for name, failure in failures.items())
            log.warning("not ready: %s", failed)


async def _outcome(check: Check) -> NotReady | None:
    # Returned, not raised: a check nobody waits for any more must not log its exception
    # as never retrieved.
    try:
        await check()
    except NotReady as failure:
        # Kept for later probes: without what it came from, whose traceback holds the
        # failed connection (on SQLite, left open it keeps new ones read-only).
        return NotReady(failure.reason, failure.detail)
    return None
