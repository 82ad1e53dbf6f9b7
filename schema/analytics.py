"""`usage`: the cost, tokens, latency and errors of spans, per group."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from models.enums import SpanKind, SpanStatus
from resolvers.analytics import usage as usage_reads
from resolvers.analytics import usage_query
from resolvers.analytics.sketch import RELATIVE_ERROR
from resolvers.analytics.usage import EXACT_LIMIT
from resolvers.analytics.usage import UsageGroupBy as By
from resolvers.context import Context
from resolvers.ids import parse_id
from schema.enums import OrderDirection
from schema.node import related
from schema.scalars import Long
from schema.selections import asks_for

if TYPE_CHECKING:
    from schema.component import ComponentVersion
    from schema.conversation import Conversation

# The fields read from latencies: the costliest part of an answer, left out when not asked.
LATENCIES = ("latencyP50Ms", "latencyP95Ms", "latencyP99Ms", "latencyMaxMs")
ComponentVersionT = Annotated["ComponentVersion", strawberry.lazy("schema.component")]
ConversationT = Annotated["Conversation", strawberry.lazy("schema.conversation")]

strawberry.enum(
    usage_reads.UsageGroupBy,
    description="DAY and HOUR are UTC; a span with several component versions counts "
    "under each of them. STATUS is a span's; a model-call message's is OK when complete, "
    "ERROR when failed, UNSET while streaming. SPAN_NAME and TOOL (a TOOL span's tool) are "
    "null for model-call messages; AGENT is the agent participant a trace ran for, or the "
    "agent that sent a model-call message.",
)
strawberry.enum(
    usage_query.UsageMeasure,
    description="A UsageGroup field to order groups by: COUNT is count, LATENCY_P50 "
    "latencyP50Ms, and so on.",
)


@strawberry.input(
    description="Ties go by group key order; groups without a latency come last in "
    "either direction."
)
class UsageOrder:
    measure: usage_query.UsageMeasure
    direction: OrderDirection = OrderDirection.DESC

    def query(self) -> usage_query.UsageOrder:
        return usage_query.UsageOrder(self.measure, self.direction == OrderDirection.DESC)


@strawberry.input
class UsageFilter:
    conversation_id: strawberry.ID | None = strawberry.field(
        default=None, description="One conversation (as `conversationIds` with one id)."
    )
    conversation_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="These conversations: a conversation's totals are exactly its usage.",
    )
    kinds: list[SpanKind] | None = None
    models: list[str] | None = None
    providers: list[str] | None = None
    user_id: str | None = strawberry.field(
        default=None, description="The trace's user (messages counted alone have none)."
    )

    def conversations(self) -> list[uuid.UUID] | None:
        """Both conversation filters, as one list (they must both hold)."""
        if self.conversation_ids is None and self.conversation_id is None:
            return None
        ids = [parse_id(i, "Conversation") for i in self.conversation_ids or []]
        if self.conversation_id is None:
            return ids
        one = parse_id(self.conversation_id, "Conversation")
        return [one] if self.conversation_ids is None or one in ids else []


@strawberry.type(
    description="One group's spans and model-call messages. Latency percentiles are "
    "nearest-rank (the smallest duration that at least p% of the durations do not exceed), "
    "over ended spans and messages that reported a latency."
)
class UsageGroup:
    model: str | None
    provider: str | None
    span_kind: SpanKind | None
    user_id: str | None
    status: SpanStatus | None = strawberry.field(description="Set when grouped by STATUS.")
    span_name: str | None = strawberry.field(description="Set when grouped by SPAN_NAME.")
    tool: str | None = strawberry.field(description="Set when grouped by TOOL.")
    agent_id: str | None = strawberry.field(description="Set when grouped by AGENT.")
    period: datetime | None = strawberry.field(description="The UTC day or hour's start.")
    count: Long
    input_tokens: Long
    output_tokens: Long
    total_tokens: Long
    cost: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    error_count: Long
    error_rate: float = strawberry.field(description="errorCount / count (0 with no spans).")
    approximate: bool = strawberry.field(
        description="True when the latencies were read from a latency sketch, each within "
        f"{RELATIVE_ERROR:.0%} of the exact value (nearest-rank on the rows): so they are "
        f"when the request covers more than {EXACT_LIMIT:,} calls. The sketch is a "
        "stored one for a caller who sees everything with no conversation filter, "
        "grouped by nothing but MODEL, PROVIDER, SPAN_KIND, DAY and COMPONENT_VERSION "
        "with no user filter, or by nothing but USER and DAY with no model, provider or "
        "span kind filter, or by STATUS, SPAN_NAME, TOOL or AGENT with nothing but those, "
        "SPAN_KIND and DAY and no model, provider or user filter; otherwise the "
        "caller's own calls, bucketed the same way. Up to that many calls they are "
        "exact. Counts, tokens and costs are always exact."
    )
    conversation_id: strawberry.Private[uuid.UUID | None]
    version_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="Set when grouped by CONVERSATION.")
    async def conversation(self, info: Info[Context, None]) -> ConversationT | None:
        from schema.conversation import Conversation

        return await related(info, Conversation, self.conversation_id)

    @strawberry.field(description="Set when grouped by COMPONENT_VERSION and one was used.")
    async def component_version(self, info: Info[Context, None]) -> ComponentVersionT | None:
        from schema.component import ComponentVersion

        return await related(info, ComponentVersion, self.version_id)

    @classmethod
    def of(cls, group: usage_reads.UsageGroup) -> UsageGroup:
        key = group.key
        period = key.get(By.DAY) or key.get(By.HOUR)
        return cls(
            model=key.get(By.MODEL),
            provider=key.get(By.PROVIDER),
            span_kind=key.get(By.SPAN_KIND),
            user_id=key.get(By.USER),
            status=key.get(By.STATUS),
            span_name=key.get(By.SPAN_NAME),
            tool=key.get(By.TOOL),
            agent_id=key.get(By.AGENT),
            period=datetime.fromisoformat(period) if period else None,
            count=group.count,
            input_tokens=group.input_tokens,
            output_tokens=group.output_tokens,
            total_tokens=group.total_tokens,
            cost=float(group.cost),
            latency_p50_ms=group.latency_p50,
            latency_p95_ms=group.latency_p95,
            latency_p99_ms=group.latency_p99,
            latency_max_ms=group.latency_max,
            error_count=group.error_count,
            error_rate=group.error_rate,
            approximate=group.approximate,
            conversation_id=key.get(By.CONVERSATION),
            version_id=key.get(By.COMPONENT_VERSION),
        )


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(
        description="Model calls and other spans you can see, started in [from, to), "
        "aggregated per group (one group of everything without `groupBy`), groups in key "
        "order. Counted: every span, and every message that carries usage and was not "
        "produced by a span (a message an LLM span produced shows the span's usage, counted "
        "once, by the span); such messages group as LLM, with no user or component version. "
        "Conversation and trace totals and Conversation.metrics read this same model. "
        "With `orderBy`, groups in that order instead; with `first`, only the first that "
        f"many (1 to {usage_query.MAX_FIRST}). Ordered by a summed measure (not a "
        "latency) or by key, only the kept groups' latencies are read, so a top-N of many "
        "groups (by CONVERSATION) costs the sums and N groups' latencies; ordered by a "
        "latency, every group's."
    )
    async def usage(
        self,
        info: Info[Context, None],
        filter: UsageFilter | None = None,
        group_by: list[By] | None = None,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        order_by: UsageOrder | None = None,
        first: int | None = None,
    ) -> list[UsageGroup]:
        f = filter or UsageFilter()
        q = usage_reads.UsageQuery(
            group_by=list(group_by or []),
            started_from=from_,
            started_to=to,
            conversation_ids=f.conversations(),
            kinds=f.kinds,
            models=f.models,
            providers=f.providers,
            user_id=f.user_id,
            latencies=any(asks_for(f.selections, *LATENCIES) for f in info.selected_fields),
            order=order_by.query() if order_by else None,
            first=first,
        )
        return [UsageGroup.of(group) for group in await usage_reads.usage(info.context, q)]
