"""Data lifecycle in the API: delete, fork, export and import conversations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import strawberry
from strawberry.types import Info

from resolvers import export, transcript
from resolvers.context import Context
from resolvers.conversation_reader import TooLarge
from resolvers.ids import parse_id, to_global_id
from resolvers.writes import imports, lifecycle
from schema.conversation import Conversation
from schema.node import from_row
from schema.scalars import JSONValue

Ctx = Info[Context, None]
# Rows the two fields below gather in memory at most: past it they answer TOO_LARGE,
# pointing at the endpoint that streams the whole (web/downloads.py).
GRAPHQL_MAX_ROWS = 10_000


@contextmanager
def _streamed_instead(conversation_id: uuid.UUID, name: str) -> Iterator[None]:
    """TOO_LARGE says where to download the whole (`extensions.download`)."""
    try:
        yield
    except TooLarge as exc:
        path = f"/conversations/{conversation_id}/{name}"
        message = f"{exc.message}: GET {path} streams it whole"
        raise TooLarge(message, **exc.extensions, download=path) from None


@strawberry.type(description="What deleteConversation removed.")
class DeleteConversationPayload:
    deleted_id: strawberry.ID = strawberry.field(description="The deleted conversation's id.")
    title: str | None


@strawberry.type(description="What deleteMessage removed, and the conversation after it.")
class DeleteMessagePayload:
    deleted_ids: list[strawberry.ID] = strawberry.field(
        description="The message and every reply below it, on every branch."
    )
    conversation: Conversation


@strawberry.type
class LifecycleQueries:
    @strawberry.field(
        description="The conversation's whole subgraph as one JSON document (messages, tool "
        "calls, plans, traces, spans, scores... and the component versions its spans used), "
        "for importConversation; null when it does not exist or is not yours to see. "
        f"TOO_LARGE past {GRAPHQL_MAX_ROWS:,} rows: GET /conversations/{{id}}/export streams "
        "any size."
    )
    async def conversation_export(self, info: Ctx, id: strawberry.ID) -> JSONValue | None:
        conversation_id = parse_id(id, "Conversation")
        with _streamed_instead(conversation_id, "export"):
            return await export.export_document(info.context, conversation_id, GRAPHQL_MAX_ROWS)

    @strawberry.field(
        description="The conversation as a Markdown transcript: its latest branch with tool "
        "calls, its plans and traces; null when it does not exist or is not yours to see. "
        f"TOO_LARGE past {GRAPHQL_MAX_ROWS:,} rows: GET /conversations/{{id}}/markdown "
        "streams any size."
    )
    async def conversation_markdown(self, info: Ctx, id: strawberry.ID) -> str | None:
        conversation_id = parse_id(id, "Conversation")
        with _streamed_instead(conversation_id, "markdown"):
            return await transcript.markdown(info.context, conversation_id, GRAPHQL_MAX_ROWS)


@strawberry.type
class LifecycleMutations:
    @strawberry.mutation(
        description="Deletes the conversation with everything in it (component versions stay: "
        "they are shared). Its subscribers get CONVERSATION_DELETED, then their subscriptions end."
    )
    async def delete_conversation(self, info: Ctx, id: strawberry.ID) -> DeleteConversationPayload:
        row = await lifecycle.delete_conversation(info.context, parse_id(id, "Conversation"))
        return DeleteConversationPayload(
            deleted_id=strawberry.ID(to_global_id("Conversation", row.id)), title=row.title
        )

    @strawberry.mutation(
        description="Deletes the message and every reply below it (on all branches); the "
        "conversation's messageCount and totals drop by what they held (MESSAGES_DELETED)."
    )
    async def delete_message(self, info: Ctx, id: strawberry.ID) -> DeleteMessagePayload:
        row, ids = await lifecycle.delete_message(info.context, parse_id(id, "Message"))
        return DeleteMessagePayload(
            deleted_ids=[strawberry.ID(to_global_id("Message", i)) for i in ids],
            conversation=from_row(Conversation, row),
        )

    @strawberry.mutation(
        description="A new conversation holding copies of the branch that ends at the message "
        "(new ids; `forkedFrom` and `forkedFromMessage` tell where from). The source is unchanged."
    )
    async def fork_conversation(
        self, info: Ctx, from_message_id: strawberry.ID, title: str | None = None
    ) -> Conversation:
        row = await lifecycle.fork_conversation(
            info.context, parse_id(from_message_id, "Message"), title
        )
        return from_row(Conversation, row)

    @strawberry.mutation(
        description="Writes a document of conversationExport (from any Threadline). Its ids "
        "are kept, or with `remapIds` replaced by new ones; a conversation that exists is a "
        "CONFLICT. You must be its owner."
    )
    async def import_conversation(
        self, info: Ctx, document: JSONValue, remap_ids: bool = False
    ) -> Conversation:
        row = await imports.import_conversation(info.context, document, remap_ids)
        return from_row(Conversation, row)
