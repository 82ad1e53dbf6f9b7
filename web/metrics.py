"""Prometheus metrics at GET /metrics: every metric of the app is defined here.

Each app has its own registry (tests build several apps in one process; the global one
refuses a second registration of a name). What the layers below keep as plain counts
(events published and delivered: subscriptions.bus and .hub; context windows, routed
messages and ingested items: resolvers.counters, the app's one Counters, which every
GraphQL context counts into) and the database pool's state are read when scraped.
Operation names are the client's choice: the first MAX_OPERATION_NAMES distinct names
of a process, of at most MAX_NAME_LENGTH characters, are labels, later and longer ones
"other", an anonymous operation "anonymous", a request that names no operation of its
document "unknown". A query or mutation is counted once answered, and a name it brings
takes a label only if it ran: a document refused (as invalid, too deep...) is "other"
unless its name has a label already.

Served as config.Settings.metrics_served says; with METRICS_TOKEN, only to a request
that sends it as `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from graphql import OperationDefinitionNode, OperationType
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.types import ExecutionResult

from config import Settings
from resolvers.counters import MAX_ROUTES, Counters
from subscriptions.bus import EventBus

MAX_OPERATION_NAMES = 100
MAX_NAME_LENGTH = 64
# A GraphQL Name (which a parsed document's already is), bounded.
LABELLED_NAME = re.compile(rf"[_A-Za-z][_0-9A-Za-z]{{0,{MAX_NAME_LENGTH - 1}}}")
OTHER = "other"
OPERATION = ("transport", "type", "operation")


@dataclass
class Outcome:
    """What the caller of Metrics.operation tells of an operation: whether it ran."""

    ran: bool = True


def ran(result: ExecutionResult) -> bool:
    """Whether an operation ran: errors raised before execution (parsing, validation,
    limits) have no path, and leave no data."""
    return result.data is not None or any(error.path for error in result.errors or ())


class Metrics:
    """The app's registry and the metrics the web layer counts into."""

    def __init__(self, engine: AsyncEngine, bus: EventBus) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "threadline_graphql_requests",
            "GraphQL operations received, by transport, operation type and name",
            OPERATION,
            registry=registry,
        )
        self.latency = Histogram(
            "threadline_graphql_request_seconds",
            "Time to answer a query or mutation",
            OPERATION,
            registry=registry,
        )
        self.errors = Counter(
            "threadline_graphql_errors",
            "GraphQL errors sent, by extensions.code",
            ["code"],
            registry=registry,
        )
        self.websockets = Gauge(
            "threadline_websockets_active", "Open WebSockets", registry=registry
        )
        self.subscriptions = Gauge(
            "threadline_subscriptions_active", "Subscriptions running", registry=registry
        )
        self.resumes = Counter(
            "threadline_subscription_resumes",
            "Subscriptions started from a cursor (`after`)",
            registry=registry,
        )
        self.ingest_queue = Gauge(
            "threadline_ingest_requests_in_progress",
            "OTLP requests being written (refused with 503 past INGEST_QUEUE_SIZE)",
            registry=registry,
        )
        self.counters = Counters()
        registry.register(_Polled(engine, bus, self.counters))
        self._names: set[str] = set()

    def label(self, operation: OperationDefinitionNode | None, ran: bool = True) -> tuple[str, str]:
        """The type and name labels of an operation, the names bounded: a name new to
        the process takes a label only from an operation that ran."""
        if operation is None:
            return "unknown", "unknown"
        kind = operation.operation.value
        if operation.name is None:
            return kind, "anonymous"
        name = operation.name.value
        if name not in self._names and (
            not ran or len(self._names) >= MAX_OPERATION_NAMES or not LABELLED_NAME.fullmatch(name)
        ):
            return kind, OTHER
        self._names.add(name)
        return kind, name

    @contextmanager
    def operation(
        self,
        transport: str,
        operation: OperationDefinitionNode | None,
        resumed: bool = False,
        outcome: Outcome | None = None,
    ) -> Iterator[None]:
        """Counts one operation: a subscription as it starts and while active, anything
        else once answered, by its time to answer; `outcome`, which the caller fills in,
        says whether it ran (else it is taken to have run)."""
        outcome = outcome or Outcome()
        if operation is not None and operation.operation is OperationType.SUBSCRIPTION:
            self.requests.labels(transport, *self.label(operation)).inc()
            if resumed:
                self.resumes.inc()
            with self.subscriptions.track_inprogress():
                yield
            return
        started = time.perf_counter()
        try:
            yield
        finally:
            labels = (transport, *self.label(operation, outcome.ran))
            self.requests.labels(*labels).inc()
            self.latency.labels(*labels).observe(time.perf_counter() - started)

    def count_errors(self, codes: Iterable[object]) -> None:
        for code in codes:
            self.errors.labels(str(code) if code else "NONE").inc()

    def count_ingested(self, signal: str, accepted: int, rejected: int) -> None:
        # Beside the `ingest` mutation's items, which the data layer counts.
        self.counters.ingested(signal, accepted, rejected)


class _Polled(Collector):
    """What is read at each scrape: the event counts of the layers below (which import
    no metrics library) and the database pool."""

    def __init__(self, engine: AsyncEngine, bus: EventBus, counters: Counters) -> None:
        self.engine = engine
        self.bus = bus
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "threadline_events_published",
            "Committed events this process announced",
            value=self.bus.published,
        )
        yield CounterMetricFamily(
            "threadline_events_delivered",
            "Events handed to this process's live subscriber feeds (one per feed)",
            value=self.bus.hub.delivered,
        )
        yield from self._counted()
        # SQLite's file databases use a queue pool too; another pool (an in-memory
        # database's single connection) reports nothing rather than a made-up figure.
        pool = self.engine.pool
        if isinstance(pool, QueuePool):
            size = GaugeMetricFamily(
                "threadline_db_pool_size", "Connections the pool keeps", value=pool.size()
            )
            used = GaugeMetricFamily(
                "threadline_db_pool_connections", "Pooled connections by state", labels=["state"]
            )
            used.add_metric(["checked_out"], pool.checkedout())
            used.add_metric(["idle"], pool.checkedin())
            yield size
            yield used

    def _counted(self) -> Iterator[Metric]:
        counters = self.counters
        windows = CounterMetricFamily(
            "threadline_context_windows",
            "Context windows read, by whether the limits truncated them",
            labels=["truncated"],
        )
        # Both series from the start: a rate of truncation needs its zero.
        for truncated in (False, True):
            windows.add_metric([str(truncated).lower()], counters.windows[truncated])
        routed = CounterMetricFamily(
            "threadline_messages_routed",
            "Committed messages with a routing decision, by route (the first "
            f"{MAX_ROUTES} distinct routes of the process, later ones as other)",
            labels=["route"],
        )
        for route, count in counters.routes.items():
            routed.add_metric([route], count)
        ingested = CounterMetricFamily(
            "threadline_ingested_items",
            "Items received for ingestion, by signal (OTLP spans and logs, the `ingest` "
            "mutation's items) and outcome",
            labels=["signal", "outcome"],
        )
        for (signal, outcome), count in counters.ingested_items.items():
            ingested.add_metric([signal, outcome], count)
        yield from (windows, routed, ingested)


def metrics_routes(settings: Settings, metrics: Metrics) -> list[Route]:
    """GET /metrics, when served (Settings.metrics_served)."""
    if not settings.metrics_served:
        return []
    expected = None if settings.metrics_token is None else f"Bearer {settings.metrics_token}"

    async def scrape(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        if expected is not None and not hmac.compare_digest(given.encode(), expected.encode()):
            return Response("a bearer token is required\n", 401, {"WWW-Authenticate": "Bearer"})
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", scrape, methods=["GET"])]
