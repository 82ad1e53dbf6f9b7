"""The two pages of bench/peer.py as each server is asked for them, and what must match.

Threadline is asked bench.deep_read's documents. PostGraphile v4 (default inflection,
its schema `public`) is asked for the same rows: the list page's 50 conversations in
the same order with their total and latest message (the first message by `seq`
descending: the one at `last_message_seq`), and the conversation page's messages, tool
calls, plan and steps, trace, spans, parents and component versions, ordered as
Threadline orders them. Both servers read as a caller who sees every row: Threadline in
development mode (the `dev` user, as bench.deep_read), PostGraphile as the database's
superuser, so no permission restricts either; both lists hold the ACTIVE conversations
(Threadline's default list).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.deep_read import CONVERSATION_PAGE, LIST_PAGE

PEER_LIST_PAGE = """query List {
  allConversations(
    first: 50, orderBy: [LAST_ACTIVITY_AT_DESC, ID_DESC], condition: {status: "ACTIVE"}
  ) {
    totalCount
    nodes { id title status messageCount totalTokens cost lastActivityAt
      messagesByConversationId(first: 1, orderBy: [SEQ_DESC]) {
        nodes { id role content createdAt } } }
  }
}"""
PEER_CONVERSATION_PAGE = """query Page($id: UUID!) {
  conversationById(id: $id) {
    id title status messageCount totalTokens cost
    messagesByConversationId(first: 50, orderBy: [SEQ_ASC, ID_ASC]) { nodes {
      id seq role senderId content createdAt totalTokens
      toolCallsByMessageId(orderBy: [POSITION_ASC, ID_ASC]) {
        nodes { id toolName status arguments } } } }
    plansByConversationId(first: 1, orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes {
      id title status
      planStepsByPlanId(orderBy: [POSITION_ASC, ID_ASC]) {
        nodes { id position description status } } } }
    tracesByConversationId(first: 1, orderBy: [STARTED_AT_ASC, ID_ASC]) { nodes {
      id name status durationMs totalTokens
      spansByTraceId(first: 250, orderBy: [STARTED_AT_ASC, ID_ASC]) { nodes {
        id name kind status startedAt durationMs totalTokens
        spanByParentSpanId { id }
        spanComponentVersionsBySpanId { nodes {
          componentVersionByComponentVersionId { id versionNumber contentHash } } } } } } }
  }
}"""


def raw_id(global_id: str) -> str:
    """The UUID in a Threadline global id (base64 of "Type:uuid")."""
    return base64.b64decode(global_id).decode().split(":", 1)[1]


def threadline_list(data: dict[str, Any]) -> dict[str, Any]:
    """What the list page must carry on both servers: the total, the conversations in
    order, and each one's latest message."""
    page = data["conversations"]
    return {
        "total": page["totalCount"],
        "conversations": [raw_id(n["id"]) for n in page["nodes"]],
        "latest": [n["lastMessage"] and raw_id(n["lastMessage"]["id"]) for n in page["nodes"]],
    }


def peer_list(data: dict[str, Any]) -> dict[str, Any]:
    page = data["allConversations"]
    return {
        "total": page["totalCount"],
        "conversations": [n["id"] for n in page["nodes"]],
        "latest": [
            next((m["id"] for m in n["messagesByConversationId"]["nodes"]), None)
            for n in page["nodes"]
        ],
    }


def threadline_page(data: dict[str, Any]) -> dict[str, Any]:
    """What the conversation page must carry on both servers: messages and spans in
    order, their tool calls, steps and parents, each span's component versions (a set)."""
    c = data["conversation"]
    return {
        "conversation": raw_id(c["id"]),
        "messages": [
            (raw_id(m["id"]), [raw_id(t["id"]) for t in m["toolCalls"]])
            for m in c["messages"]["nodes"]
        ],
        "plans": [
            (raw_id(p["id"]), [raw_id(s["id"]) for s in p["steps"]]) for p in c["plans"]["nodes"]
        ],
        "spans": [
            (
                raw_id(s["id"]),
                s["parent"] and raw_id(s["parent"]["id"]),
                sorted(raw_id(v["id"]) for v in s["componentVersions"]),
            )
            for t in c["traces"]["nodes"]
            for s in t["spans"]["nodes"]
        ],
    }


def peer_page(data: dict[str, Any]) -> dict[str, Any]:
    c = data["conversationById"]
    return {
        "conversation": c["id"],
        "messages": [
            (m["id"], [t["id"] for t in m["toolCallsByMessageId"]["nodes"]])
            for m in c["messagesByConversationId"]["nodes"]
        ],
        "plans": [
            (p["id"], [s["id"] for s in p["planStepsByPlanId"]["nodes"]])
            for p in c["plansByConversationId"]["nodes"]
        ],
        "spans": [
            (
                s["id"],
                s["spanByParentSpanId"] and s["spanByParentSpanId"]["id"],
                sorted(
                    link["componentVersionByComponentVersionId"]["id"]
                    for link in s["spanComponentVersionsBySpanId"]["nodes"]
                ),
            )
            for t in c["tracesByConversationId"]["nodes"]
            for s in t["spansByTraceId"]["nodes"]
        ],
    }


@dataclass(frozen=True)
class Page:
    """One page: each server's request body, and the ids each one's data carries."""

    threadline: dict[str, Any]
    peer: dict[str, Any]
    threadline_ids: Callable[[dict[str, Any]], dict[str, Any]]
    peer_ids: Callable[[dict[str, Any]], dict[str, Any]]


def pages(page_id: str) -> dict[str, Page]:
    """The two pages; `page_id` is the global id of the conversation page's conversation."""
    return {
        "list page": Page(
            {"query": LIST_PAGE}, {"query": PEER_LIST_PAGE}, threadline_list, peer_list
        ),
        "conversation page": Page(
            {"query": CONVERSATION_PAGE, "variables": {"id": page_id}},
            {"query": PEER_CONVERSATION_PAGE, "variables": {"id": raw_id(page_id)}},
            threadline_page,
            peer_page,
        ),
    }
