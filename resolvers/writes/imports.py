"""Importing a conversation document (resolvers.export) into this Threadline.

Every row is validated by its model, and every reference must stay inside the
document, so a document cannot write into another conversation. Ids are kept, or
with `remap_ids` replaced by new ones (to import a copy next to the original).
Component versions are shared: each is registered by its content, as
registerComponentVersion would, and the links follow the version found or made.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Table, inspect
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import (
    Component,
    ComponentVersion,
    Conversation,
    Message,
    MessageReference,
    Participant,
    Span,
    Trace,
)
from models.base import utcnow
from models.enums import EventKind, SpanKind
from resolvers import events
from resolvers.context import Context
from resolvers.errors import BadInput, Conflict
from resolvers.export import FORMAT, VERSION, exported_tables, model_of
from resolvers.ids import to_global_id
from resolvers.ownership import ROOT, owned_tables
from resolvers.principal import Identity
from resolvers.writes.commands import RegisterComponentVersion
from resolvers.writes.components import content_hash, register_in
from resolvers.writes.totals import USAGE, Usage
from resolvers.writes.transaction import existing_client_row, transaction

Rows = dict[Table, list[SQLModel]]
SHARED: list[Table] = [ComponentVersion.__table__, Component.__table__]  # type: ignore[attr-defined]
SPANS: Table = Span.__table__  # type: ignore[attr-defined]
TRACES: Table = Trace.__table__  # type: ignore[attr-defined]
MESSAGES: Table = Message.__table__  # type: ignore[attr-defined]
REFERENCES: Table = MessageReference.__table__  # type: ignore[attr-defined]
# References that are no foreign keys (models.conversation.Message.span_id says why),
# held to the same rule: inside the document, and remapped with the rows they point at.
SOFT_REFERENCES = {
    MESSAGES.c.span_id: SPANS,
    MESSAGES.c.turn_message_id: MESSAGES,
    REFERENCES.c.target_message_id: MESSAGES,
    REFERENCES.c.target_span_id: SPANS,
}
# Of those, the ones whose target may be gone from the source (a cited message or span
# deleted, or swept with its trace; a turn's opening message deleted): pointing outside
# the document, they are cleared rather than refused, so the row reads as it did there
# (no node; a turn of its own) and still reaches nothing outside.
CLEARED_WHEN_OUTSIDE = {
    MESSAGES.c.turn_message_id,
    REFERENCES.c.target_message_id,
    REFERENCES.c.target_span_id,
}


def _attribute(table: Table, column: Any) -> str:
    return str(inspect(model_of(table)).get_property_by_column(column).key)


def _parse(document: Any) -> Rows:
    """The document's rows as models, or BAD_USER_INPUT saying what is wrong where."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BadInput(f"not a conversation document (its `format` must be '{FORMAT}')")
    if document.get("version") != VERSION:
        raise BadInput(f"this Threadline reads documents of version {VERSION}")
    given = document.get("tables")
    known = [*exported_tables(), *SHARED]
    if not isinstance(given, dict) or set(given) - {t.name for t in known}:
        names = ", ".join(t.name for t in known)
        raise BadInput(f"`tables` must map table names ({names}) to lists of rows")
    parsed: Rows = {}
    for table in known:
        rows = given.get(table.name, [])
        if not isinstance(rows, list):
            raise BadInput(f"tables.{table.name} must be a list of rows")
        parsed[table] = [_row(table, index, row) for index, row in enumerate(rows)]
    if len(parsed[ROOT]) != 1:
        raise BadInput("the document must hold exactly one conversation")
    return parsed


def _row(table: Table, index: int, row: Any) -> SQLModel:
    if not isinstance(row, dict):
        raise BadInput(f"tables.{table.name}[{index}] must be an object")
    try:
        return model_of(table).model_validate(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadInput(f"tables.{table.name}[{index}].{where}: {first['msg']}") from None


def _references(table: Table) -> list[tuple[Any, Table]]:
    """The table's columns that point at rows, with the table each points into."""
    found = [(key.parent, key.column.table) for key in table.foreign_keys]
    return found + [(c, target) for c, target in SOFT_REFERENCES.items() if c.table is table]


def _check_references(parsed: Rows) -> None:
    """Every key must point at a row of the document: nothing outside it is touched
    (those CLEARED_WHEN_OUTSIDE are cleared)."""
    present = {table: {getattr(row, "id", None) for row in rows} for table, rows in parsed.items()}
    for table, rows in parsed.items():
        for column, target in _references(table):
            attribute = _attribute(table, column)
            targets = present.get(target, set())
            for index, row in enumerate(rows):
                value = getattr(row, attribute)
                if value is None or value in targets:
                    continue
                if column in CLEARED_WHEN_OUTSIDE:
                    setattr(row, attribute, None)
                else:
                    raise BadInput(
                        f"tables.{table.name}[{index}].{attribute} points outside the document"
                    )


def _referenced_first(tables: list[Table]) -> list[Table]:
    """The tables in an order that writes every row after the rows its foreign keys
    point at: ownership's order (nearest the conversation first) is not enough, as a
    score, owned by the conversation, may point at a span, owned by a trace."""
    order = {table: n for n, table in enumerate(SQLModel.metadata.sorted_tables)}
    return sorted(tables, key=order.__getitem__)


def _parents_first(rows: list[SQLModel], attribute: str) -> list[SQLModel]:
    """Rows ordered so that each comes after the row its `attribute` points at."""
    pending = {getattr(row, "id"): row for row in rows}  # noqa: B009
    ordered: list[SQLModel] = []
    for row in rows:
        chain = []
        current: SQLModel | None = pending.pop(getattr(row, "id"), None)  # noqa: B009
        while current is not None:
            chain.append(current)
            current = pending.pop(getattr(current, attribute), None)
        ordered.extend(reversed(chain))
    return ordered


async def _register_versions(session: Any, parsed: Rows) -> dict[uuid.UUID, uuid.UUID]:
    """The version each of the document's component versions is here, by its id there."""
    components = {row.id: row for row in parsed[Component.__table__]}  # type: ignore[attr-defined]
    found: dict[uuid.UUID, uuid.UUID] = {}
    for version in parsed[ComponentVersion.__table__]:  # type: ignore[attr-defined]
        assert isinstance(version, ComponentVersion)
        component = components.get(version.component_id)
        if not isinstance(component, Component):
            raise BadInput(f"component version '{version.id}' has no component in the document")
        data = RegisterComponentVersion(
            component_key=component.key,
            type=component.type,
            definition=version.definition,
            name=component.name,
        )
        registered = await register_in(session, data, content_hash(version.definition))
        found[version.id] = registered.id
    return found


def _remap(table: Table, rows: list[SQLModel], mapping: dict[uuid.UUID, uuid.UUID]) -> None:
    """Replace the ids in each row's key and references by those `mapping` gives."""
    keys = [c for c in table.columns if c.primary_key or c.foreign_keys or c in SOFT_REFERENCES]
    attributes = [_attribute(table, column) for column in keys]
    for row in rows:
        for attribute in attributes:
            value = getattr(row, attribute)
            if value in mapping:
                setattr(row, attribute, mapping[value])


async def _require_free_ids(session: AsyncSession, parsed: Rows) -> None:
    """Kept ids must be free: CONFLICT for an id the importer can see in use, NOT_FOUND for
    one taken by a row they cannot see (which must not tell them it exists)."""
    for table in exported_tables():
        ids = [row.id for row in parsed[table] if hasattr(row, "id")]
        if not ids or "id" not in table.c:
            continue
        model = model_of(table)
        for row_id in await session.exec(select(table.c.id).where(table.c.id.in_(ids))):
            if await existing_client_row(session, model, row_id) is not None:
                raise Conflict(
                    f"{model.__name__} '{to_global_id(model.__name__, row_id)}' exists here "
                    "already; import with remapIds: true for a copy"
                )


def _keep_only_importer(ctx: Context, parsed: Rows) -> None:
    """An import is the importer's record: the other participants it names come in as
    having left, so it shows in nobody else's list and grants nobody access (nor an
    agent id that somebody could register later) until its owner invites them."""
    now = utcnow()
    for participant in parsed[Participant.__table__]:  # type: ignore[attr-defined]
        assert isinstance(participant, Participant)
        identity = Identity(participant.participant_type, participant.participant_id)
        if not ctx.principal.is_one_of_mine(identity):
            participant.active, participant.left_at = False, participant.left_at or now


def _recount(parsed: Rows, conversation: Conversation) -> None:
    """The roll-ups as the rows make them, not as the document says: each trace its
    spans' usage; the conversation that, and that of the messages no span produced."""
    traces: dict[uuid.UUID, Usage] = defaultdict(Usage)
    for span in parsed[SPANS]:
        assert isinstance(span, Span)
        traces[span.trace_id] += Usage.of(span)
    counted = sum(traces.values(), Usage())
    for message in parsed[MESSAGES]:
        assert isinstance(message, Message)
        if message.span_id is None:
            counted += Usage.of(message)
    for trace in parsed[TRACES]:
        assert isinstance(trace, Trace)
        used = traces[trace.id]
        trace.total_tokens, trace.cost = used.total_tokens, used.cost
    for name in USAGE:
        setattr(conversation, name, getattr(counted, name))


def _tool_names(parsed: Rows) -> None:
    """Tools as the API writes them, whatever the document says: a TOOL span's tool (its
    name where the document names none, as for documents exported before spans kept
    one), no tool on other kinds, which `usage` by TOOL would otherwise count."""
    for span in parsed[SPANS]:
        assert isinstance(span, Span)
        span.tool_name = (span.tool_name or span.name) if span.kind == SpanKind.TOOL else None


async def import_conversation(ctx: Context, document: Any, remap_ids: bool) -> Conversation:
    parsed = _parse(document)
    conversation = parsed[ROOT][0]
    assert isinstance(conversation, Conversation)
    owner = Identity(conversation.owner_type, conversation.owner_id)
    ctx.principal.require_identity(owner, "owner")
    _check_references(parsed)
    _recount(parsed, conversation)
    _tool_names(parsed)
    source_id = conversation.id
    mapping: dict[uuid.UUID, uuid.UUID] = {}
    if remap_ids:
        tables = exported_tables()
        mapping = {row.id: uuid.uuid4() for t in tables for row in parsed[t] if hasattr(row, "id")}
    async with transaction(ctx) as session:
        if not remap_ids:
            await _require_free_ids(session, parsed)
        _keep_only_importer(ctx, parsed)
        mapping.update(await _register_versions(session, parsed))
        self_keys = {o.table: o.self_key for o in owned_tables()}
        # Nothing of the source's event log comes along: the copy's log starts here.
        conversation.last_event_seq = 0
        for table in _referenced_first(exported_tables()):
            rows = parsed[table]
            _remap(table, rows, mapping)
            self_key = self_keys.get(table)
            if self_key is not None:
                rows = _parents_first(rows, _attribute(table, self_key))
            session.add_all(rows)
            await session.flush()
        data = {"importedFrom": to_global_id("Conversation", source_id)}
        await events.record(session, conversation.id, EventKind.CONVERSATION_CREATED, data)
    return conversation
