"""The sample `python main.py demo` loads, as tables; resolvers/demo.py writes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.enums import (
    ComponentType,
    ConversationKind,
    MessageRole,
    MessageType,
    ParticipantRole,
    ParticipantType,
    SpanKind,
    StepStatus,
)
from resolvers.writes.commands import SpanError

JSONObject = dict[str, Any]
Version = tuple[str, int]  # (component key, index into its definitions)
# Who serves each model (the built-in price table prices their calls).
EMBEDDER = "text-embedding-3-small"
PROVIDERS = {"gpt-4o": "openai", "claude-sonnet-4": "anthropic", EMBEDDER: "openai"}
AGENT, USER = ParticipantType.AGENT, ParticipantType.USER


@dataclass(frozen=True)
class ComponentSpec:
    key: str
    type: ComponentType
    definitions: tuple[JSONObject, ...]


@dataclass(frozen=True)
class ToolCallSpec:
    call_id: str
    tool: str
    arguments: JSONObject
    result: Any
    span: str  # the TOOL span that ran it
    error: str | None = None


@dataclass(frozen=True)
class Ref:
    """What a message relies on: exactly one of a demo message's or span's key, or a
    document's URL."""

    message: str | None = None
    span: str | None = None
    document: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Send:
    """A message; with `edits`, an edit of that message: a sibling starting a new branch."""

    key: str
    sender: str
    content: str
    parent: str | None = None
    edits: str | None = None
    sender_type: ParticipantType = USER
    role: MessageRole = MessageRole.USER
    model: str | None = None
    tokens: tuple[int, int] = (0, 0)
    latency_ms: int | None = None
    reasoning: str | None = None
    tool_calls: tuple[ToolCallSpec, ...] = ()
    attachments: tuple[JSONObject, ...] = ()
    # None: from the role and tool calls (resolvers.message_kinds), as sendMessage does.
    message_type: MessageType | None = None
    confidence: float | None = None
    references: tuple[Ref, ...] = ()


def reply(key: str, sender: str, parent: str, content: str, model: str, **more: Any) -> Send:
    """An agent's answer."""
    return Send(key, sender, content, parent, None, AGENT, MessageRole.ASSISTANT, model, **more)


@dataclass(frozen=True)
class SpanSpec:
    key: str
    kind: SpanKind
    name: str
    start_ms: int  # after the trace starts
    end_ms: int | None  # None: still running
    parent: str | None = None
    model: str | None = None
    tokens: tuple[int, int] = (0, 0)
    versions: tuple[Version, ...] = ()
    step: tuple[str, int] | None = None  # (plan key, step position)
    inputs: JSONObject = field(default_factory=dict)
    outputs: JSONObject = field(default_factory=dict)
    error: SpanError | None = None
    # The model call that wrote the trace's answer: the answer shows its usage.
    writes_answer: bool = False


@dataclass(frozen=True)
class TraceSpec:
    """An agent run: its spans start, `answer` is sent, then the spans that finished end,
    and the trace ends (linked to the answer) once its root span (the first) has."""

    key: str
    name: str
    user_id: str
    user_input: str
    minutes_ago: float
    spans: tuple[SpanSpec, ...]
    answer: Send | None = None
    # What the run started from (Trace.initialMemoryState, initialConversationState,
    # systemConfig): `Trace.compare` sets two runs apart by them.
    memory: JSONObject | None = None
    conversation_state: JSONObject | None = None
    config: JSONObject | None = None


@dataclass(frozen=True)
class PlanSpec:
    key: str
    title: str
    description: str
    message: str
    steps: tuple[tuple[str, tuple[int, ...]], ...]  # (description, positions it depends on)
    moves: tuple[tuple[int, StepStatus, JSONObject | None], ...]  # (position, status, result)


@dataclass(frozen=True)
class Join:
    participant_id: str
    participant_type: ParticipantType = USER
    role: ParticipantRole = ParticipantRole.MEMBER


@dataclass(frozen=True)
class ConversationSpec:
    key: str
    title: str
    kind: ConversationKind
    owner: tuple[str, ParticipantType]
    others: tuple[tuple[str, ParticipantType], ...]
    tags: tuple[str, ...]
    model_name: str
    ops: tuple[Send | TraceSpec | PlanSpec | Join, ...]


def tool(description: str, **properties: JSONObject) -> JSONObject:
    schema = {"type": "object", "properties": properties, "required": [next(iter(properties))]}
    return {"description": description, "parameters": schema}


PROMPT = "You are research-agent. Search before answering and cite every source."
COMPONENTS = (
    ComponentSpec(
        "research-system-prompt",
        ComponentType.PROMPT,
        (
            {"template": PROMPT, "variables": []},
            {
                "template": PROMPT
                + " Prefer primary sources (PEPs, specs). At most {max_words} words.",
                "variables": ["max_words"],
            },
        ),
    ),
    ComponentSpec(
        "web_search",
        ComponentType.TOOL,
        (
            tool(
                "Search the web; returns titles and URLs.",
                query={"type": "string"},
                max_results={"type": "integer", "default": 5},
            ),
        ),
    ),
    ComponentSpec(
        "fetch_page",
        ComponentType.TOOL,
        (
            tool(
                "Fetch a page and return its main text as Markdown.",
                url={"type": "string", "format": "uri"},
                timeout_s={"type": "number", "default": 10},
            ),
        ),
    ),
    ComponentSpec(
        "research-agent-model",
        ComponentType.MODEL_CONFIG,
        (
            {"model": "gpt-4o", "provider": "openai", "temperature": 0.2, "max_tokens": 1024},
            {
                "model": "claude-sonnet-4",
                "provider": "anthropic",
                "temperature": 0.3,
                "max_tokens": 2048,
            },
        ),
    ),
)
P1, P2 = ("research-system-prompt", 0), ("research-system-prompt", 1)
M1, M2 = ("research-agent-model", 0), ("research-agent-model", 1)
SEARCH, FETCH = ("web_search", 0), ("fetch_page", 0)
CHAT_SETTINGS: JSONObject = {
    "enabled_tools": ["web_search", "fetch_page"],
    "enabled_agents": ["research-agent"],
    "model": "claude-sonnet-4",
    "temperature": 0.3,
    "max_tokens": 2048,
}

PEP = "https://peps.python.org/pep-0634/"
WHATS_NEW = "https://docs.python.org/3/whatsnew/3.10.html"
HITS = {
    "results": [
        {"title": "PEP 634 - Structural Pattern Matching", "url": PEP},
        {"title": "What's New In Python 3.10", "url": WHATS_NEW},
    ]
}
Q1 = "Which Python version introduced the match statement, and which PEP defines it?"
Q2 = "Which Python version introduced structural pattern matching, and how is it unlike a C switch?"
A1 = (
    "The `match` statement arrived in **Python 3.10** (October 2021). PEP 634 is the "
    "specification; PEP 635 gives the rationale and PEP 636 is the tutorial."
)
A2 = (
    "Pattern matching (`match`/`case`) came with **Python 3.10** (PEP 634). Unlike a C `switch`, "
    "each `case` is a pattern that can destructure sequences, mappings and objects, bind names "
    "and take an `if` guard, and there is no fall-through: the first match wins."
)
NOTES = {
    "type": "file",
    "name": "pattern-matching-notes.md",
    "mimeType": "text/markdown",
    "sizeBytes": 2317,
    "url": "https://files.example.com/ada/pattern-matching-notes.md",
}
FETCH_TIMEOUT = "GET https://docs.python.org/3/whatsnew/3.10.html timed out after 3.0 s"
FETCH_ERROR = SpanError(type="TimeoutError", message=FETCH_TIMEOUT, retryable=True)


def research_state(t: str, model: str) -> JSONObject:
    """The state each research run starts from: the second knows the first's answer."""
    first = t == "t1"
    memory: JSONObject = {"facts": ["ada prefers primary sources (PEPs) to blog posts"]}
    if not first:
        memory["previous_answer"] = "a1"
    return {
        "memory": memory,
        "conversation_state": {"messages": 1 if first else 3, "attachments": [NOTES["name"]]},
        "config": {
            "model": model,
            "temperature": 0.2,
            "tools": ["web_search", "fetch_page"],
            "fetch_timeout_s": 3,
        },
    }


def research_spans(t: str, model: str, prompt: Version, config: Version) -> tuple[SpanSpec, ...]:
    """The research agent's shape of run (t1: first answer, t2: answer to the edit)."""
    first = t == "t1"
    root, llm = f"{t}/agent", (prompt, config)
    fetch_end, answer_tokens = (2580, (3912, 187)) if first else (4640, (4420, 356))
    return (
        SpanSpec(root, SpanKind.AGENT, "research-agent", 0, fetch_end + 1730, versions=(prompt,)),
        SpanSpec(
            f"{t}/memory",
            SpanKind.RETRIEVER,
            "memory.search",
            35,
            240,
            root,
            inputs={"query": Q1 if first else Q2, "top_k": 4},
            outputs={"hits": [{"source": NOTES["name"], "score": 0.82}]},
        ),
        SpanSpec(
            f"{t}/embed",
            SpanKind.EMBEDDING,
            "embed query",
            50,
            170,
            f"{t}/memory",
            EMBEDDER,
            (18, 0),
        ),
        SpanSpec(
            f"{t}/plan",
            SpanKind.LLM,
            "choose tools",
            260,
            1130,
            root,
            model,
            (1184, 61) if first else (1302, 74),
            llm,
        ),
        SpanSpec(
            f"{t}/search",
            SpanKind.TOOL,
            "web_search",
            1150,
            1720,
            root,
            versions=(SEARCH,),
            inputs={"query": "python match statement PEP"},
            outputs=HITS,
        ),
        SpanSpec(
            f"{t}/fetch",
            SpanKind.TOOL,
            "fetch_page",
            1740,
            fetch_end,
            root,
            versions=(FETCH,),
            inputs={"url": PEP if first else WHATS_NEW, "timeout_s": 3},
            error=None if first else FETCH_ERROR,
        ),
        SpanSpec(
            f"{t}/answer",
            SpanKind.LLM,
            "write answer",
            fetch_end + 20,
            fetch_end + 1690,
            root,
            model,
            answer_tokens,
            llm,
            writes_answer=True,
        ),
    )


def research_sources(t: str) -> JSONObject:
    """A research answer is the answer (its tool calls ran on it), rated, and cites what
    it read: the memory search, the web search and the specification."""
    return {
        "message_type": MessageType.ANSWER,
        "confidence": 0.93 if t == "t1" else 0.78,
        "references": (
            Ref(span=f"{t}/memory"),
            Ref(span=f"{t}/search"),
            Ref(document=PEP, title="PEP 634 - Structural Pattern Matching"),
        ),
    }


def research_calls(t: str) -> tuple[ToolCallSpec, ...]:
    first = t == "t1"
    page = {"title": "PEP 634 - Structural Pattern Matching: Specification", "status": 200}
    return (
        ToolCallSpec(
            f"call_{t}_search",
            "web_search",
            {"query": "python match statement PEP"},
            HITS,
            f"{t}/search",
        ),
        ToolCallSpec(
            f"call_{t}_fetch",
            "fetch_page",
            {"url": PEP if first else WHATS_NEW},
            page if first else None,
            f"{t}/fetch",
            None if first else FETCH_TIMEOUT,
        ),
    )


RESEARCH = ConversationSpec(
    "research",
    "When did Python get pattern matching?",
    ConversationKind.USER_AGENT,
    ("ada", USER),
    (("research-agent", AGENT),),
    ("python", "research"),
    "gpt-4o",
    (
        Send("q1", "ada", Q1, attachments=(NOTES,)),
        TraceSpec(
            "t1",
            "research-agent.answer",
            "ada",
            Q1,
            6,
            research_spans("t1", "gpt-4o", P1, M1),
            reply(
                "a1",
                "research-agent",
                "q1",
                A1,
                "gpt-4o",
                tokens=(5096, 248),
                latency_ms=4310,
                reasoning="Search, then confirm in the spec PEP.",
                tool_calls=research_calls("t1"),
                **research_sources("t1"),
            ),
            **research_state("t1", "gpt-4o"),
        ),
        Send("q1-edit", "ada", Q2, edits="q1"),
        TraceSpec(
            "t2",
            "research-agent.answer",
            "ada",
            Q2,
            3,
            research_spans("t2", "claude-sonnet-4", P2, M2),
            reply(
                "a2",
                "research-agent",
                "q1-edit",
                A2,
                "claude-sonnet-4",
                tokens=(5722, 430),
                latency_ms=6370,
                tool_calls=research_calls("t2"),
                reasoning="The release notes timed out; PEP 634 from search is enough.",
                **research_sources("t2"),
            ),
            **research_state("t2", "claude-sonnet-4"),
        ),
    ),
)

PLAN = "rate-limit"
TASK = (
    "/search is being hammered by scrapers. Add per-API-key rate limiting (60 requests/min, "
    "burst 10) answering 429 with Retry-After. Plan attached; start with step 0."
)
CODER = ConversationSpec(
    "handoff",
    "Rate-limit the /search endpoint",
    ConversationKind.AGENT_AGENT,
    ("planner-agent", AGENT),
    (("coder-agent", AGENT),),
    ("engineering",),
    "claude-sonnet-4",
    (
        Send(
            "task",
            "planner-agent",
            TASK,
            None,
            None,
            AGENT,
            MessageRole.ASSISTANT,
            "claude-sonnet-4",
            (820, 140),
            2100,
            message_type=MessageType.PLAN,
        ),
        PlanSpec(
            PLAN,
            "Rate-limit /search",
            "Token bucket per key, 60/min, burst 10.",
            "task",
            (
                ("Read the /search handler, its middleware stack and its tests", ()),
                ("Implement a per-key token-bucket limiter as Starlette middleware", (0,)),
                ("Write tests for the 429 response and the Retry-After header", (0,)),
                ("Wire the limiter into the app and run the full test suite", (1, 2)),
            ),
            (
                (0, StepStatus.RUNNING, None),
                (0, StepStatus.COMPLETED, {"files": ["app/search.py", "tests/test_search.py"]}),
                (1, StepStatus.RUNNING, None),
                (1, StepStatus.COMPLETED, {"file": "app/ratelimit.py", "lines_added": 84}),
                (2, StepStatus.RUNNING, None),
            ),
        ),
        reply(
            "ack",
            "coder-agent",
            "task",
            "On it: reading app/search.py first.",
            "claude-sonnet-4",
            tokens=(910, 22),
            latency_ms=800,
        ),
        TraceSpec(
            "t3",
            "coder-agent.execute-plan",
            "planner-agent",
            "Execute 'Rate-limit /search'",
            2,
            (
                SpanSpec("t3/agent", SpanKind.AGENT, "coder-agent", 0, None),
                SpanSpec(
                    "t3/read",
                    SpanKind.TOOL,
                    "read_file",
                    120,
                    310,
                    "t3/agent",
                    step=(PLAN, 0),
                    inputs={"path": "app/search.py"},
                    outputs={"lines": 142},
                ),
                SpanSpec(
                    "t3/implement",
                    SpanKind.LLM,
                    "implement limiter",
                    400,
                    9800,
                    "t3/agent",
                    "claude-sonnet-4",
                    (6230, 1180),
                    step=(PLAN, 1),
                ),
                SpanSpec(
                    "t3/tests",
                    SpanKind.LLM,
                    "write 429 tests",
                    9900,
                    None,
                    "t3/agent",
                    "claude-sonnet-4",
                    step=(PLAN, 2),
                ),
            ),
            memory={"plan": PLAN, "repository": "search-service"},
            conversation_state={"messages": 2, "plan_steps": 4},
            config={"model": "claude-sonnet-4", "temperature": 0.0, "max_steps": 20},
        ),
        reply(
            "progress",
            "coder-agent",
            "ack",
            "Steps 0 and 1 done: app/ratelimit.py has the token bucket. Writing the 429 tests now.",
            "claude-sonnet-4",
            tokens=(7140, 96),
        ),
    ),
)

GROUP = ConversationSpec(
    "reading-group",
    "Reading group: FlashAttention-2",
    ConversationKind.USER_AGENT,
    ("ada", USER),
    (("research-agent", AGENT),),
    ("reading-group",),
    "claude-sonnet-4",
    (
        Send("rg1", "ada", "@research-agent 3 bullets on FlashAttention-2 for Thursday, please."),
        reply(
            "rg2",
            "research-agent",
            "rg1",
            "- Fewer non-matmul FLOPs\n- Parallelism over the "
            "sequence length\n- Better warp partitioning: ~2x over FlashAttention",
            "claude-sonnet-4",
            tokens=(2100, 190),
            latency_ms=3900,
        ),
        Join("grace"),
        Send("rg3", "grace", "Thanks! Does it help inference too, or only training?", "rg2"),
        reply(
            "rg4",
            "research-agent",
            "rg3",
            "Both: any long-sequence attention gets faster; for "
            "decoding with a KV cache, FlashDecoding builds on it.",
            "claude-sonnet-4",
            tokens=(2410, 61),
            latency_ms=2200,
            references=(Ref(message="rg2"),),  # the bullets it builds on
        ),
    ),
)
CONVERSATIONS = (RESEARCH, CODER, GROUP)
MARKER = "rg4"  # the last row the demo writes: once it exists, the demo is fully loaded
