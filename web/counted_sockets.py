"""The WebSocket handler that counts into the app's metrics (web.metrics): open sockets,
operations (subscriptions while they run, resumes among them) and the errors sent."""

from __future__ import annotations

from typing import Any

from graphql import OperationDefinitionNode, ValueNode, VariableNode
from graphql.language import NullValueNode
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message

from resolvers.context import Context
from web.limits import operation_of
from web.socket_expiry import ExpiringSocketHandler

# The argument of a subscription that asks for a replay from a cursor (also web.sse's).
RESUME_ARGUMENT = "after"


class CountedSocketHandler(ExpiringSocketHandler):
    async def handle(self) -> None:
        with self.view.metrics.websockets.track_inprogress():  # type: ignore[attr-defined]
            await super().handle()

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        view: Any = self.view
        node = operation_of(operation.query, operation.operation_name, view.settings)
        resumed = node is not None and resumes(node, operation.variables or {})
        with view.metrics.operation("websocket", node, resumed):
            await super().run_operation(operation)

    async def send_message(self, message: Message) -> None:
        # "next" carries a result's errors, "error" the errors that ended an operation.
        payload: Any = message.get("payload")
        errors = payload.get("errors") if isinstance(payload, dict) else payload
        if message["type"] in ("next", "error") and isinstance(errors, list):
            codes = (error.get("extensions", {}).get("code") for error in errors)
            self.view.metrics.count_errors(codes)  # type: ignore[attr-defined]
        await super().send_message(message)


def resumes(operation: OperationDefinitionNode, variables: dict[str, Any]) -> bool:
    """Whether a root field of the operation is given a cursor to resume from."""
    for selection in operation.selection_set.selections:
        for argument in getattr(selection, "arguments", None) or ():
            if argument.name.value == RESUME_ARGUMENT and given(argument.value, variables):
                return True
    return False


def given(value: ValueNode, variables: dict[str, Any]) -> bool:
    if isinstance(value, VariableNode):
        return variables.get(value.name.value) is not None
    return not isinstance(value, NullValueNode)
