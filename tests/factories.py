"""Builders that create graph objects through the public mutations."""

from __future__ import annotations

from typing import Any

from tests.graphql_client import GraphQLClient

INPUT_TYPES = {
    "createConversation": "CreateConversationInput",
    "sendMessage": "SendMessageInput",
    "editMessage": "EditMessageInput",
    "createPlan": "CreatePlanInput",
    "updateStepStatus": "UpdateStepStatusInput",
    "startTrace": "StartTraceInput",
    "endTrace": "EndTraceInput",
    "startSpan": "StartSpanInput",
    "endSpan": "EndSpanInput",
    "registerComponentVersion": "RegisterComponentVersionInput",
}


def mutation_document(name: str, fields: str) -> str:
    return f"mutation($input: {INPUT_TYPES[name]}!) {{ {name}(input: $input) {{ {fields} }} }}"


async def mutate(gql: GraphQLClient, name: str, input: dict[str, Any], fields: str = "id") -> Any:
    return (await gql.data(mutation_document(name, fields), {"input": input}))[name]


# The title conversations get unless a test gives one.
TITLE = "a conversation"


async def conversation(gql: GraphQLClient, fields: str = "id", **input: Any) -> Any:
    input.setdefault("owner", {"participantId": "user-1"})
    input.setdefault("participants", [{"participantId": "agent-1", "participantType": "AGENT"}])
    # Titled: an untitled one takes its first prompt's line, with an event of its own.
    input.setdefault("title", TITLE)
    return await mutate(gql, "createConversation", input, fields)


async def message(
    gql: GraphQLClient, conversation_id: str, fields: str = "id", **input: Any
) -> Any:
    input.setdefault("senderId", "user-1")
    input.setdefault("content", "hello")
    return await mutate(gql, "sendMessage", {"conversationId": conversation_id, **input}, fields)


async def plan(
    gql: GraphQLClient,
    conversation_id: str,
    depends_on: list[list[int]],
    fields: str = "id",
    **input: Any,
) -> Any:
    steps = [{"description": f"step {i}", "dependsOn": deps} for i, deps in enumerate(depends_on)]
    input.setdefault("title", "a plan")
    payload = {"conversationId": conversation_id, "steps": steps, **input}
    return await mutate(gql, "createPlan", payload, fields)


async def trace(gql: GraphQLClient, conversation_id: str, fields: str = "id", **input: Any) -> Any:
    return await mutate(gql, "startTrace", {"conversationId": conversation_id, **input}, fields)


async def span(gql: GraphQLClient, trace_id: str, fields: str = "id", **input: Any) -> Any:
    input.setdefault("name", "span")
    return await mutate(gql, "startSpan", {"traceId": trace_id, **input}, fields)


async def end_span(gql: GraphQLClient, span_id: str, fields: str = "id", **input: Any) -> Any:
    return await mutate(gql, "endSpan", {"spanId": span_id, **input}, fields)


async def component_version(
    gql: GraphQLClient, key: str, definition: Any, type: str = "PROMPT", fields: str = "id"
) -> Any:
    payload = {"componentKey": key, "type": type, "definition": definition}
    return await mutate(gql, "registerComponentVersion", payload, fields)
