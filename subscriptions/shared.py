"""One execution per event for the subscribers of the same live stream.

A thousand people watching one conversation send the same subscription, with the
same variables. Executed once per subscriber, every event would be resolved and its
selection set executed a thousand times over. Here subscribers whose operations are
identical, who act as the same principal (so they may see the same rows), and who
ask only for what happens from now on (no `after` to replay from) share one
execution: each result is computed once and handed to every one of them.

A subscriber that joins a running stream receives what it produces from then on,
as its own subscription from now would. One that falls `queue_size` results behind
is dropped with RESUME_REQUIRED (and, on a conversation's events, the cursor of
the last event it received), as the hub drops a slow feed. The execution ends when
its stream ends or its last subscriber leaves.

The schema says which streams may be shared and how it parses documents and reports
errors (`Sharing`): this module knows no root field by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    NullValueNode,
    OperationType,
    StringValueNode,
    VariableNode,
    get_operation_ast,
)
from strawberry.types import ExecutionResult

from resolvers.context import Context
from resolvers.credentials import ensure_may_listen
from resolvers.errors import NotFound, ResumeRequired, ThreadlineError
from resolvers.ids import parse_id
from resolvers.principal import Principal
from resolvers.reads import may_read_conversation
from subscriptions.streams import encode_cursor

Result = Any  # what Schema.stream yields: ExecutionResult, or a PreExecutionError first
Source = Callable[[], Awaitable[AsyncGenerator[Result, None]]]


@dataclass(frozen=True)
class Sharing:
    """What the schema tells shared streams."""

    # Root fields whose live stream may be shared: the argument that asks for a replay
    # (a stream with it set is the subscriber's own), or None (nothing to replay).
    shareable: Mapping[str, str | None]
    # Of those, the streams that have a cursor to resume from (per conversation).
    resumable: frozenset[str]
    # The document of a query; raises GraphQLError where it does not parse.
    parse: Callable[[str], DocumentNode]
    # An error as the schema reports it (with its `extensions.code`).
    classify: Callable[[GraphQLError], GraphQLError]

    def failed(self, reason: ThreadlineError) -> ExecutionResult:
        error = GraphQLError(reason.message, original_error=reason)
        return ExecutionResult(data=None, errors=[self.classify(error)])

    def fell_behind(self, cursor: str | None) -> ExecutionResult:
        reason = ResumeRequired(
            "live updates stopped (the subscriber fell behind); subscribe again"
            + (" with `after` to continue" if cursor else ""),
            **({"cursor": cursor} if cursor else {}),
        )
        return self.failed(reason)


@dataclass(frozen=True)
class StreamKey:
    query: str
    variables: str
    operation_name: str | None
    principal: Principal
    field: str
    # The conversation the stream follows (its `conversationId` argument), if any.
    conversation: str | None = None


def stream_key(
    sharing: Sharing,
    query: str | None,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    context: object,
) -> StreamKey | None:
    """The key under which this operation may share its execution; None if it may not."""
    if query is None or not isinstance(context, Context):
        return None
    try:
        document = sharing.parse(query)
    except GraphQLError:
        return None  # refused by the normal path, with its own words
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        return None
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    root = selections[0]
    if root.name.value not in sharing.shareable:
        return None
    replay = sharing.shareable[root.name.value]
    for argument in root.arguments or ():
        if argument.name.value != replay or isinstance(argument.value, NullValueNode):
            continue
        value = argument.value
        if not isinstance(value, VariableNode) or (variables or {}).get(value.name.value):
            return None  # replays from its own cursor
    try:
        encoded = json.dumps(variables or {}, sort_keys=True)
    except (TypeError, ValueError):
        return None
    conversation = _argument(root, "conversationId", variables or {})
    if conversation is not None and not isinstance(conversation, str):
        return None  # refused by the normal path, with its own words
    # Two tokens of one user see the same rows, whenever each expires: each socket ends
    # its own operations at its credential's expiry (web.socket_expiry).
    sees_as = dataclasses.replace(context.principal, expires_at=None)
    return StreamKey(query, encoded, operation_name, sees_as, root.name.value, conversation)


def _argument(field: FieldNode, name: str, variables: dict[str, Any]) -> object:
    for argument in field.arguments or ():
        if argument.name.value == name:
            value = argument.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value)
            return value.value if isinstance(value, StringValueNode) else value
    return None


async def admit(key: StreamKey, context: Context) -> None:
    """What starting the stream would check, for a subscriber joining it running: the
    credential still works, and the conversation is visible to it now."""
    await ensure_may_listen(context.principal, context.database)
    if key.conversation is not None:
        conversation_id = parse_id(key.conversation, "Conversation")
        if not await may_read_conversation(context, conversation_id):
            raise NotFound(f"Conversation '{key.conversation}' does not exist")


END = object()


class Member:
    """One subscriber of a shared stream: its own bounded queue of results."""

    def __init__(self, size: int, fell_behind: Callable[[str | None], Result]) -> None:
        self.queue: asyncio.Queue[tuple[Result, str | None] | object] = asyncio.Queue()
        self.size = size
        self.fell_behind = fell_behind
        self.delivered: str | None = None  # the cursor of the last event it was given
        self.dropped = False

    def offer(self, result: Result, cursor: str | None, resumable: bool) -> None:
        if self.dropped:
            return
        if self.queue.qsize() >= self.size:
            self.dropped = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait((self.fell_behind(self.delivered if resumable else None), None))
            self.queue.put_nowait(END)
            return
        self.queue.put_nowait((result, cursor))


@dataclass
class SharedStream:
    key: StreamKey
    context: Context
    streams: SharedStreams
    members: set[Member] = field(default_factory=set)
    task: asyncio.Task[None] | None = None

    def start(self, source: Source) -> None:
        self.task = asyncio.create_task(self._pump(source))

    def _cursor(self) -> str | None:
        """The cursor of the event the last result was made of."""
        position = self.context.stream_position
        if position is None:
            return None
        return encode_cursor(position.event.conversation_id, position.seq)

    async def _pump(self, source: Source) -> None:
        failure: BaseException | None = None
        resumable = self.key.field in self.streams.sharing.resumable
        try:
            results = await source()
            async with contextlib.aclosing(results):
                async for result in results:
                    cursor = self._cursor()
                    for member in list(self.members):
                        member.offer(result, cursor, resumable)
        except Exception as exc:  # handed to the subscribers, whose tasks report it
            failure = exc
        finally:
            self.streams.forget(self)
            for member in self.members:
                member.queue.put_nowait(failure if failure is not None else END)

    def follow(self, size: int) -> AsyncGenerator[Result, None]:
        # A member from now, not from when its generator first runs: nothing produced
        # meanwhile is lost to it.
        member = Member(size, self.streams.sharing.fell_behind)
        self.members.add(member)
        return self._deliver(member)

    async def _deliver(self, member: Member) -> AsyncGenerator[Result, None]:
        try:
            while True:
                item = await member.queue.get()
                if item is END:
                    return
                if isinstance(item, BaseException):
                    raise item
                result, member.delivered = cast("tuple[Result, str | None]", item)
                yield result
        finally:
            self.members.discard(member)
            if not self.members:
                self.streams.forget(self)
                if self.task is not None:
                    self.task.cancel()


class SharedStreams:
    """The shared executions running in this process, by key."""

    def __init__(self, sharing: Sharing) -> None:
        self.sharing = sharing
        self.running: dict[StreamKey, SharedStream] = {}

    def follow(
        self, key: StreamKey, context: Context, source: Source
    ) -> AsyncGenerator[Result, None]:
        stream = self.running.get(key)
        if stream is None:
            # Its own execution checks access as it starts.
            return self._start(key, context, source).follow(context.settings.subscriber_queue_size)
        return self._join(key, context, source)

    def _start(self, key: StreamKey, context: Context, source: Source) -> SharedStream:
        stream = self.running[key] = SharedStream(key, context, self)
        stream.start(source)
        return stream

    async def _join(
        self, key: StreamKey, context: Context, source: Source
    ) -> AsyncGenerator[Result, None]:
        """Follow a running stream once the same checks as starting one have passed; it
        starts anew if it ended meanwhile."""
        try:
            await admit(key, context)
        except ThreadlineError as exc:
            yield self.sharing.failed(exc)
            return
        stream = self.running.get(key) or self._start(key, context, source)
        results = stream.follow(context.settings.subscriber_queue_size)
        async with contextlib.aclosing(results):
            async for result in results:
                yield result

    def forget(self, stream: SharedStream) -> None:
        if self.running.get(stream.key) is stream:
            del self.running[stream.key]
