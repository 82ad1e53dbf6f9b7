"""Hypothesis strategies for fuzzing the GraphQL endpoint (tests/test_fuzz.py).

Two families:

- Schema-aware operations (hypothesis-graphql on our SDL), with strategies for our
  scalars that mix ids, strings and cursors of rows that exist (collected into
  `KNOWN` by the test's seeding) with forged and malformed ones, so that generated
  operations reach resolvers and not only validation.
- Malformed requests: random documents, variables, operation names, request bodies
  and GET query strings.
"""

from __future__ import annotations

import base64
import json
import math
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import graphql
from graphql import (
    ArgumentNode,
    BooleanValueNode,
    ConstListValueNode,
    ConstObjectFieldNode,
    ConstObjectValueNode,
    ConstValueNode,
    DocumentNode,
    FloatValueNode,
    IntValueNode,
    ListValueNode,
    NameNode,
    NullValueNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
)
from hypothesis import strategies as st
from hypothesis_graphql import strategies as gql_st

from schema import build_schema

SCHEMA = build_schema()

T = TypeVar("T")

SDL = SCHEMA.as_str()
GRAPHQL_SCHEMA = graphql.build_schema(SDL)
NODE_TYPES = sorted(
    name
    for name, type_ in GRAPHQL_SCHEMA.type_map.items()
    if isinstance(type_, graphql.GraphQLObjectType)
    and any(interface.name == "Node" for interface in type_.interfaces)
)

# JSON has no NaN or Infinity, but Python's json module reads and writes them.
JSON_NUMBER_WORDS = ["NaN", "Infinity", "-Infinity", "nan", "inf", "-inf", "1e400", "-0"]
# Integers far past 64 bits, and around the 32-bit bounds of GraphQL's Int.
HUGE_INTS = [2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, -(2**63) - 1, 10**40, 10**400]


@dataclass
class Known:
    """Ids, strings and cursors of the rows a test seeded; the strategies draw from them."""

    ids: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.ids.clear()
        self.strings.clear()
        self.cursors.clear()


KNOWN = Known()


def from_known(values: list[str], fallback: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """One of `values`, read when drawn (the list is filled by the test's fixture)."""

    @st.composite
    def pick(draw: st.DrawFn) -> str:
        if not values:
            return draw(fallback)
        return values[draw(st.integers(min_value=0, max_value=len(values) - 1))]

    return pick()


# --- Plain values --------------------------------------------------------------------

# Any code point but lone surrogates, which have strategies of their own.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
# With lone surrogates, which JSON can carry escaped ("\ud800") and Python decodes.
SURROGATE_TEXT = st.text(st.characters() | st.characters(categories=["Cs"]), max_size=40)
SHORT_TEXT = st.text(max_size=12)
NAME_START = string.ascii_letters + "_"
NAMES = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(NAME_START),
    st.text(NAME_START + string.digits, max_size=10),
)


def rarely(
    common: st.SearchStrategy[T], rare: st.SearchStrategy[T], one_in: int = 10
) -> st.SearchStrategy[T]:
    """Mostly `common`: a value that makes the whole request fail, as most of `rare` do,
    must not hide everything else the request holds. (Hypothesis favours the
    smallest choices: the rare branch is the largest one.)"""
    return st.integers(min_value=1, max_value=one_in).flatmap(
        lambda n: rare if n == one_in else common
    )


JSON_SCALARS: st.SearchStrategy[Any] = rarely(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        ANY_TEXT,
    ),
    st.sampled_from([*HUGE_INTS, *JSON_NUMBER_WORDS]) | SURROGATE_TEXT,
    one_in=20,
)


def json_values(keys: st.SearchStrategy[str] = ANY_TEXT) -> st.SearchStrategy[Any]:
    return st.recursive(
        JSON_SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(keys, children, max_size=4),
        ),
        max_leaves=12,
    )


JSON_VALUES = json_values()


def nested_lists(depth: int) -> bytes:
    """JSON lists nested `depth` deep (too deep for Python's json to write)."""
    return b"[" * depth + b"]" * depth


# --- Ids, cursors, date-times --------------------------------------------------------


def b64(raw: bytes, urlsafe: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)
    return encoded.decode()


def global_id(type_name: str, raw: str) -> str:
    return b64(f"{type_name}:{raw}".encode())


def from_global(value: str) -> tuple[str, str]:
    """The type name and raw id of one of our global ids."""
    type_name, _, raw = base64.b64decode(value).decode().partition(":")
    return type_name, raw


FORGED_IDS = st.one_of(
    # Well formed, of every type (and of none), for rows that do not exist.
    st.builds(
        lambda t, u: global_id(t, str(u)), st.sampled_from([*NODE_TYPES, "Nope"]), st.uuids()
    ),
    # Well-formed base64 of almost right contents.
    st.builds(lambda t, s: global_id(t, s), st.sampled_from(NODE_TYPES), SHORT_TEXT),
    st.builds(lambda u: global_id("", str(u)), st.uuids()),
    st.builds(lambda raw: b64(raw), st.binary(max_size=40)),
    st.builds(lambda raw: b64(raw, urlsafe=True), st.binary(max_size=40)),
    # Not base64 at all; plain UUIDs (a client-chosen id is one).
    st.builds(str, st.uuids()),
    st.sampled_from(["", " ", "=", "====", "garbage", "Q29udmVyc2F0aW9uOg==", "null", "0"]),
    SHORT_TEXT,
)


def cursor_of(*parts: Any) -> str:
    return b64(json.dumps(list(parts)).encode(), urlsafe=True)


FORGED_CURSORS = st.one_of(
    st.builds(cursor_of, JSON_SCALARS, st.builds(str, st.uuids())),
    st.builds(lambda parts: cursor_of(*parts), st.lists(JSON_VALUES, max_size=3)),
    st.builds(lambda value: b64(json.dumps(value).encode(), urlsafe=True), JSON_VALUES),
    st.builds(lambda raw: b64(raw, urlsafe=True), st.binary(max_size=40)),
    st.sampled_from(["garbage", "", "W10=", "WzEsMl0=", b64(b"[" * 5000, urlsafe=True)]),
    SHORT_TEXT,
)

OFFSETS = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-(24 * 60 - 1), 24 * 60 - 1)
)
DATETIMES = st.datetimes(timezones=st.none() | st.just(UTC) | OFFSETS)
BAD_DATETIMES = st.sampled_from(
    [
        "",
        "now",
        "2020-13-01",
        "2020-02-30T00:00:00",
        "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
        "0000-01-01",
        "10000-01-01",
        "2020-01-01T25:00:00",
        "2020-01-01T00:00:00+24:00",
        "1970-01-01T00:00:00Z",
        "NaN",
    ]
)
DATETIME_STRINGS = rarely(
    st.one_of(DATETIMES.map(datetime.isoformat), st.dates().map(lambda d: d.isoformat())),
    st.one_of(BAD_DATETIMES, SHORT_TEXT),
    one_in=4,
)

ANY_IDS = st.one_of(from_known(KNOWN.ids, FORGED_IDS), FORGED_IDS)
ANY_CURSORS = st.one_of(from_known(KNOWN.cursors, FORGED_CURSORS), FORGED_CURSORS)


def long_text(length: int, seed: int) -> str:
    """Text that does not compress (as PostgreSQL would compress a repeated one)."""
    pick = random.Random(seed).choice
    alphabet = string.ascii_letters + string.digits + "\u00e9\u20ac\U0001d4cd"
    return "".join(pick(alphabet) for _ in range(length))


# Past the identifier limit (255), past PostgreSQL's index entries (2704 bytes), and
# past a whole index page (8191 bytes).
LONG_TEXTS = [long_text(256, 1), long_text(3000, 2), long_text(9000, 3)]

ANY_STRINGS = rarely(
    st.one_of(
        ANY_TEXT,
        from_known(KNOWN.strings, ANY_TEXT),
        ANY_CURSORS,
        ANY_IDS,
        DATETIME_STRINGS,
        st.sampled_from(JSON_NUMBER_WORDS),
    ),
    st.sampled_from(LONG_TEXTS),
)


# --- Value nodes for hypothesis-graphql ------------------------------------------------


def string_node(value: str) -> StringValueNode:
    return StringValueNode(value=value)


def float_literal(number: float) -> FloatValueNode | IntValueNode:
    text = repr(number)
    if "." in text or "e" in text:
        return FloatValueNode(value=text)
    return IntValueNode(value=text)


def json_literal(value: Any) -> ConstValueNode:
    """A JSON value written as a GraphQL literal."""
    if isinstance(value, dict):
        fields = (
            ConstObjectFieldNode(name=NameNode(value=key), value=json_literal(item))
            for key, item in value.items()
        )
        return ConstObjectValueNode(fields=tuple(fields))
    if isinstance(value, list):
        return ConstListValueNode(values=tuple(json_literal(item) for item in value))
    if value is None:
        return NullValueNode()
    if isinstance(value, bool):
        return BooleanValueNode(value=value)
    if isinstance(value, int):
        return IntValueNode(value=str(value))
    if isinstance(value, float):
        return FloatValueNode(value=repr(value))
    return StringValueNode(value=str(value))


# Numbers past what a double holds, as a client may write them in a document.
HUGE_LITERALS: st.SearchStrategy[ValueNode] = st.sampled_from(
    [
        IntValueNode(value="9" * 400),
        IntValueNode(value="-" + "9" * 30),
        FloatValueNode(value="1e400"),
        FloatValueNode(value="-1e400"),
        FloatValueNode(value="1e-400"),
    ]
)

CUSTOM_SCALARS: dict[str, st.SearchStrategy[ValueNode]] = {
    "ID": rarely(
        ANY_IDS.map(string_node),
        st.integers(min_value=-(2**31), max_value=2**31 - 1).map(
            lambda n: IntValueNode(value=str(n))
        ),
    ),
    # Every String argument: cursors (after/before), participant and user ids, keys,
    # hashes... and anything else.
    "String": ANY_STRINGS.map(string_node),
    "DateTime": rarely(
        DATETIME_STRINGS.map(string_node),
        st.integers(min_value=-(10**12), max_value=10**12).map(
            lambda n: IntValueNode(value=str(n))
        ),
    ),
    "JSON": rarely(json_values(NAMES).map(json_literal), HUGE_LITERALS),
    "Int": st.one_of(
        st.integers(min_value=-(2**31), max_value=2**31 - 1).map(
            lambda n: IntValueNode(value=str(n))
        ),
        st.sampled_from([0, 1, 2, 5, 50, 500, 501, -1]).map(lambda n: IntValueNode(value=str(n))),
    ),
    "Float": rarely(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False).map(float_literal),
            st.sampled_from([0.0, 0.5, 2.0, 2.5, -1.0, 1e6, 1e300]).map(float_literal),
        ),
        HUGE_LITERALS,
    ),
}


def queries(mode: gql_st.Mode = gql_st.Mode.POSITIVE) -> st.SearchStrategy[str]:
    return gql_st.queries(SDL, custom_scalars=CUSTOM_SCALARS, mode=mode)


def mutations(mode: gql_st.Mode = gql_st.Mode.POSITIVE) -> st.SearchStrategy[str]:
    return gql_st.mutations(SDL, custom_scalars=CUSTOM_SCALARS, mode=mode)


MUTATION_FIELDS = (
    sorted(GRAPHQL_SCHEMA.mutation_type.fields) if GRAPHQL_SCHEMA.mutation_type else []
)


def single_mutations() -> st.SearchStrategy[str]:
    """One mutation field per document: every root field of a mutation is non-null, so
    one that fails nulls the others' results (they still run, one after the other)."""
    return st.sampled_from(MUTATION_FIELDS).flatmap(
        lambda name: gql_st.mutations(SDL, fields=[name], custom_scalars=CUSTOM_SCALARS)
    )


# --- From literals to variables ------------------------------------------------------


class _Arguments(Visitor):
    """Collects every argument of a document with the input type it expects."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found: list[tuple[ArgumentNode, graphql.GraphQLInputType]] = []

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        input_type = self.type_info.get_input_type()
        if input_type is not None and not isinstance(node.value, VariableNode):
            self.found.append((node, input_type))


class _ToVariables(Visitor):
    """Replaces the collected arguments' values by variables, declared on the operation."""

    def __init__(self, found: list[tuple[ArgumentNode, graphql.GraphQLInputType]]) -> None:
        super().__init__()
        self.names = {id(argument): f"v{index}" for index, (argument, _) in enumerate(found)}
        self.definitions = tuple(
            VariableDefinitionNode(
                variable=VariableNode(name=NameNode(value=f"v{index}")),
                type=graphql.parse_type(str(input_type)),
                directives=(),
            )
            for index, (_, input_type) in enumerate(found)
        )

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> ArgumentNode | None:
        name = self.names.get(id(node))
        if name is None:
            return None
        return ArgumentNode(name=node.name, value=VariableNode(name=NameNode(value=name)))

    def leave_operation_definition(
        self, node: OperationDefinitionNode, *_args: Any
    ) -> OperationDefinitionNode:
        return OperationDefinitionNode(
            operation=node.operation,
            name=node.name,
            variable_definitions=(*(node.variable_definitions or ()), *self.definitions),
            directives=node.directives or (),
            selection_set=node.selection_set,
        )


def with_variables(document: str) -> tuple[str, dict[str, Any]]:
    """The same operation with each argument's value sent as a variable instead."""
    ast = graphql.parse(document)
    type_info = TypeInfo(GRAPHQL_SCHEMA)
    collector = _Arguments(type_info)
    graphql.visit(ast, TypeInfoVisitor(type_info, collector))
    variables = {
        f"v{index}": graphql.value_from_ast_untyped(argument.value)
        for index, (argument, _) in enumerate(collector.found)
    }
    edited = graphql.visit(ast, _ToVariables(collector.found))
    return graphql.print_ast(edited), variables


# Arguments and input fields that name a row of one type: pointed at rows that exist,
# they take the operation past the id checks, into the resolvers and writes.
ID_FIELDS = {
    "conversationId": "Conversation",
    "messageId": "Message",
    "parentMessageId": "Message",
    "branch": "Message",
    "traceId": "Trace",
    "spanId": "Span",
    "parentSpanId": "Span",
    "planId": "Plan",
    "stepId": "PlanStep",
    "dependsOnStepId": "PlanStep",
    "planStepId": "PlanStep",
    "toolCallId": "ToolCall",
    "componentId": "Component",
    "componentVersionIds": "ComponentVersion",
}


def known_ids(type_name: str | None) -> list[str]:
    if type_name is None:
        return KNOWN.ids
    return [i for i in KNOWN.ids if from_global(i)[0] == type_name]


class _IdTargets(Visitor):
    """Finds id values and the type of row each names: by argument or input field name,
    or for an `id` argument, by the type of its field (any row for `node`)."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        # id(value node) -> (type name or None for any, whether a list is expected)
        self.found: dict[int, tuple[str | None, bool]] = {}

    def target(self, value: ValueNode, type_name: str | None) -> None:
        expected = graphql.get_nullable_type(self.type_info.get_input_type())
        self.found[id(value)] = (type_name, isinstance(expected, graphql.GraphQLList))

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        name = node.name.value
        if name in ID_FIELDS:
            self.target(node.value, ID_FIELDS[name])
        elif name in ("id", "ids"):
            named = graphql.get_named_type(self.type_info.get_type())
            type_name = named.name if named is not None else None
            self.target(node.value, type_name if type_name in NODE_TYPES else None)

    def enter_object_field(self, node: ObjectFieldNode, *_args: Any) -> None:
        if node.name.value in ID_FIELDS:
            self.target(node.value, ID_FIELDS[node.name.value])


class _Replace(Visitor):
    def __init__(self, replacements: dict[int, ValueNode]) -> None:
        super().__init__()
        self.replacements = replacements

    def enter(self, node: Any, *_args: Any) -> Any:
        return self.replacements.get(id(node))


@st.composite
def retargeted(draw: st.DrawFn, document: str) -> str:
    """The document with most of its ids replaced by those of seeded rows of the type
    each argument expects."""
    ast = graphql.parse(document)
    type_info = TypeInfo(GRAPHQL_SCHEMA)
    targets = _IdTargets(type_info)
    graphql.visit(ast, TypeInfoVisitor(type_info, targets))
    replacements: dict[int, ValueNode] = {}
    for node_id, (type_name, is_list) in targets.found.items():
        pool = known_ids(type_name)
        if not pool or draw(st.integers(min_value=0, max_value=3)) == 0:
            continue
        picks = st.sampled_from(pool).map(string_node)
        replacements[node_id] = (
            ListValueNode(values=tuple(draw(st.lists(picks, min_size=1, max_size=3))))
            if is_list
            else draw(picks)
        )
    if not replacements:
        return document
    return graphql.print_ast(graphql.visit(ast, _Replace(replacements)))


def operation_names(document: str) -> list[str]:
    try:
        ast: DocumentNode = graphql.parse(document)
    except graphql.GraphQLError:
        return []
    return [
        d.name.value
        for d in ast.definitions
        if isinstance(d, OperationDefinitionNode) and d.name is not None
    ]


@st.composite
def mangled_variables(draw: st.DrawFn, variables: dict[str, Any]) -> dict[str, Any]:
    """Variables with some values replaced by anything, some dropped, some added."""
    mangled = dict(variables)
    for name in list(mangled):
        choice = draw(st.integers(min_value=0, max_value=5))
        if choice == 0:
            mangled[name] = draw(JSON_VALUES)
        elif choice == 1:
            del mangled[name]
        elif choice == 2:
            mangled[name] = draw(st.sampled_from([*HUGE_INTS, *JSON_NUMBER_WORDS, None, [], {}]))
    mangled.update(draw(st.dictionaries(NAMES, JSON_VALUES, max_size=2)))
    return mangled


# --- Malformed documents -------------------------------------------------------------

TOKENS = [
    "{", "}", "(", ")", "[", "]", ":", "$", "!", "=", "@", "|", "&", "...", ",", "\n",
    "query", "mutation", "subscription", "fragment", "on", "null", "true", "false",
    "__typename", "__schema", "__type", "node", "nodes", "conversation", "conversations",
    "messages", "id", "first", "last", "after", "before", "edges", "cursor", "totalCount",
    "createConversation", "sendMessage", "input", "owner", "participantId", "Int", "ID",
    "String", "JSON", "DateTime", '"garbage"', '"\\u0000"', '"\\ud800"', '"""block"""',
    "1e400", "99999999999999999999", "-0", "0.5", "$v", "@include(if: true)", "@skip",
    "#comment", "\ufeff", "\u2028", "\\", '"', "ñ", "\U0001d4cd",
]  # fmt: skip

TOKEN_SOUP = st.lists(st.sampled_from(TOKENS) | NAMES, max_size=40).map(" ".join)


def deep_selection(depth: int) -> str:
    return "{ " + "conversations { nodes { messages { nodes { conversation { " * depth + "id"


QUERY_TEXTS = st.one_of(
    ANY_TEXT,
    SURROGATE_TEXT,
    TOKEN_SOUP,
    queries().map(lambda q: q[: len(q) // 2]),  # a valid query cut short
    st.sampled_from(
        [
            "",
            " ",
            "{",
            "}",
            "{ }",
            "query",
            "{ __typename }",
            "{ __typename } { __typename }",
            "query A { __typename } query A { __typename }",
            "subscription { conversationsActivity { seq } }",
            '{ conversations(after: "garbage") { nodes { id } } }',
            "{ conversations(first: 99999999999999999999) { nodes { id } } }",
            "{ conversations(first: 1e400) { nodes { id } } }",
            '{ node(id: "\\u0000") { id } }',
            '{ node(id: "\\ud800") { id } }',
            '{ node(id: "\\udc00\\ud800") { id } }',
            "{ " + "a: __typename " * 1000 + "}",
            "{" * 2000,
            "[" * 2000,
            "query($x: [[[[[[[[[[Int]]]]]]]]]]) { __typename }",
            "query($x: " + "[" * 2000 + "Int" + "]" * 2000 + ") { __typename }",
            "{ node(id: " + "[" * 2000 + "]" * 2000 + ") { id } }",
            "fragment F on Query { ...F } { ...F }",
            deep_selection(40),
        ]
    ),
)


# --- Whole requests ------------------------------------------------------------------


@dataclass(frozen=True)
class RawRequest:
    """One HTTP request to /graphql, as built by a strategy."""

    method: str
    body: bytes = b""
    params: Sequence[tuple[str, str]] = ()
    headers: dict[str, str] = field(default_factory=dict)
    # A request without the JSON content type or the preflight header may be refused (4xx).
    may_be_refused: bool = False


JSON_CONTENT = {"content-type": "application/json"}
CSRF = {"x-threadline-csrf": "1"}


def encode(payload: Any) -> bytes:
    """JSON as Python writes it: NaN and Infinity as words, lone surrogates escaped."""
    return json.dumps(payload).encode()


def post(payload: Any, **headers: str) -> RawRequest:
    return RawRequest("POST", encode(payload), headers={**JSON_CONTENT, **CSRF, **headers})


def post_raw_variable(query: str, name: str, raw: bytes) -> RawRequest:
    """A request whose one variable is written as given (JSON Python cannot write)."""
    body = encode({"query": query})[:-1] + b', "variables": {' + encode(name) + b": " + raw + b"}}"
    return RawRequest("POST", body, headers={**JSON_CONTENT, **CSRF})


PAYLOAD_KEYS = ["query", "variables", "operationName", "extensions"]


@st.composite
def odd_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A request body object whose fields may have any JSON type."""
    payload: dict[str, Any] = {}
    for key in PAYLOAD_KEYS:
        choice = draw(st.integers(min_value=0, max_value=3))
        if choice == 0:
            continue
        if key == "query" and choice < 3:
            payload[key] = draw(QUERY_TEXTS | queries())
        else:
            payload[key] = draw(JSON_VALUES)
    payload.update(draw(st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=2)))
    return payload


def cut(data: bytes, at: float) -> bytes:
    return data[: math.floor(len(data) * at)]


VALID_BODY = encode({"query": "{ __typename }"})
BODIES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
    # Valid JSON of the wrong type for a request.
    st.one_of(JSON_SCALARS, st.lists(JSON_VALUES, max_size=3)).map(encode),
    # A valid request cut short, or with a byte changed.
    st.floats(min_value=0, max_value=0.99).map(lambda at: cut(VALID_BODY, at)),
    st.builds(
        lambda at, byte: VALID_BODY[:at] + bytes([byte]) + VALID_BODY[at + 1 :],
        st.integers(min_value=0, max_value=len(VALID_BODY) - 1),
        st.integers(min_value=0, max_value=255),
    ),
    st.sampled_from(
        [
            b"",
            b"\xff\xfe\x00",
            b"\xef\xbb\xbf{}",
            b'{"query": "{ __typename }"',
            b'{"query": NaN}',
            b'{"query": "{ __typename }", "variables": {"x": NaN}}',
            b'{"query": "query($x: Float) { __typename }", "variables": {"x": Infinity}}',
            b'{"query": "{ __typename }", "variables": [1, 2]}',
            b'{"query": "\xff"}',
            b'{"query": "\\ud800"}',
            b"[" * 100_000 + b"]" * 100_000,
            b'{"query": "{ __typename }", "variables": {"x": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}",
            b'{"query": ' + b"1" * 5000 + b"}",
            b"[]",
            b'[{"query": "{ __typename }"}]',
            b"null",
            b"0",
            b"true",
            b'"{ __typename }"',
        ]
    ),
)

CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "application/graphql",
        "application/graphql-response+json",
        "text/plain",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "",
        "*/*",
        "application/json\x7f",
    ]
)


@st.composite
def raw_posts(draw: st.DrawFn) -> RawRequest:
    body = draw(BODIES)
    content_type = draw(st.sampled_from(["application/json"]) | CONTENT_TYPES)
    headers = {"content-type": content_type} if content_type else {}
    preflight = draw(st.booleans())
    if preflight:
        headers.update(CSRF)
    json_content = content_type.startswith("application/json")
    return RawRequest("POST", body, headers=headers, may_be_refused=not json_content)


def url_text(text: str) -> str:
    """The text with its lone surrogates replaced: a URL is UTF-8, it cannot hold them."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


PARAM_VALUES = st.one_of(
    QUERY_TEXTS,
    queries(),
    mutations(),  # a mutation via GET is refused
    JSON_VALUES.map(json.dumps),
    st.text(max_size=30),
).map(url_text)


@st.composite
def get_requests(draw: st.DrawFn) -> RawRequest:
    params = []
    for key in ["query", "variables", "operationName", "extensions"]:
        if draw(st.booleans()):
            params.append((key, draw(PARAM_VALUES)))
    params.extend(draw(st.lists(st.tuples(ANY_TEXT, ANY_TEXT), max_size=2)))
    params = draw(st.permutations(params))
    headers = dict(CSRF) if draw(st.integers(0, 3)) else {}
    return RawRequest(
        "GET",
        params=tuple(params),
        headers=headers,
        may_be_refused="x-threadline-csrf" not in headers,
    )
