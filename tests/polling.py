"""Waiting in tests for something that happens on its own time (a server's task)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], tries: int = 500, every: float = 0.01) -> None:
    """Return once `condition()` holds; fail after `tries` looks `every` seconds apart."""
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(every)
    raise AssertionError("the condition never held")
