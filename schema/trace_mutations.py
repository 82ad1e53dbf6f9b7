"""The mutations of traces and their spans."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.writes import traces
from schema.node import from_row
from schema.trace import Span, Trace
from schema.trace_inputs import EndSpanInput, EndTraceInput, StartSpanInput, StartTraceInput

Ctx = Info[Context, None]


@strawberry.type
class TraceMutations:
    @strawberry.mutation
    async def start_trace(self, info: Ctx, input: StartTraceInput) -> Trace:
        return from_row(Trace, await traces.start_trace(info.context, input.to_command()))

    @strawberry.mutation
    async def end_trace(self, info: Ctx, input: EndTraceInput) -> Trace:
        return from_row(Trace, await traces.end_trace(info.context, input.to_command()))

    @strawberry.mutation(
        description="Nested under `parentSpanId`, which must be in the same trace."
    )
    async def start_span(self, info: Ctx, input: StartSpanInput) -> Span:
        return from_row(Span, await traces.start_span(info.context, input.to_command()))

    @strawberry.mutation(description="Records outputs and usage; adds the usage to the trace.")
    async def end_span(self, info: Ctx, input: EndSpanInput) -> Span:
        return from_row(Span, await traces.end_span(info.context, input.to_command()))

    @strawberry.mutation(description="Idempotent: links that exist are kept.")
    async def link_span_component_versions(
        self, info: Ctx, span_id: strawberry.ID, component_version_ids: list[strawberry.ID]
    ) -> Span:
        version_ids = [parse_id(v, "ComponentVersion") for v in component_version_ids]
        row = await traces.link_span_versions(info.context, parse_id(span_id, "Span"), version_ids)
        return from_row(Span, row)
