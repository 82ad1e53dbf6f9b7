"""What the data layer counts for operators: plain numbers, which web.metrics reads when
scraped (the layers below web import no metrics library).

One per app, shared by every Context it makes; a Context made elsewhere (the command
line) counts into a fresh one that nobody reads. Routes are the client's text: the first
MAX_ROUTES distinct routes of a process are kept apart, later ones counted as "other".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from models import Event
from models.enums import EventKind

if TYPE_CHECKING:
    from resolvers.events import Published

MAX_ROUTES = 50
OTHER = "other"
# Where a MESSAGE_ROUTED event's data holds the decision (resolvers.writes.routing writes
# it, with the key from here: routing imports the transaction, which counts through us).
DECISION = "routingDecision"


class Counters:
    def __init__(self) -> None:
        # Context windows read, by whether they were truncated.
        self.windows: Counter[bool] = Counter()
        # Committed messages with a routing decision, by route.
        self.routes: Counter[str] = Counter()
        # Items received for ingestion, by (signal, outcome).
        self.ingested_items: Counter[tuple[str, str]] = Counter()

    def context_window(self, truncated: bool) -> None:
        self.windows[truncated] += 1

    def routed(self, route: str) -> None:
        if route not in self.routes and len(self.routes) >= MAX_ROUTES:
            route = OTHER
        self.routes[route] += 1

    def committed(self, events: Iterable[Published]) -> None:
        """Counts what a transaction recorded, once it committed: its routed messages."""
        for event in events:
            # Routing decisions are recorded one by one, as Event rows holding their data.
            if event.kind is EventKind.MESSAGE_ROUTED and isinstance(event, Event):
                self.routed(event.data[DECISION]["route"])

    def ingested(self, signal: str, accepted: int, rejected: int) -> None:
        self.ingested_items[signal, "accepted"] += accepted
        self.ingested_items[signal, "rejected"] += rejected
