"""`main.py` with a fault for tests: a writer that dies between its commit and its publish.

    python -m tests.subscriptions.dying_server serve

While the file named by THREADLINE_DIE_AFTER_COMMIT exists, the next publish of committed
events writes the time (time.time()) into that file and kills the process with SIGKILL
instead: the events are in the log, and no notice will ever announce them.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import main
from resolvers.events import Published
from subscriptions.bus import EventBus

TRIGGER = "THREADLINE_DIE_AFTER_COMMIT"
publish_after_commit = EventBus.publish


def die_if_triggered() -> None:
    trigger = os.environ.get(TRIGGER)
    if trigger and Path(trigger).exists():
        Path(trigger).write_text(repr(time.time()))
        os.kill(os.getpid(), signal.SIGKILL)


async def publish_unless_triggered(self: EventBus, events: Sequence[Published]) -> None:
    die_if_triggered()
    await publish_after_commit(self, events)


if __name__ == "__main__":
    EventBus.publish = publish_unless_triggered  # type: ignore[method-assign]
    main.main(sys.argv[1:])
