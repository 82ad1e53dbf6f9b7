"""The scale benchmark's dataset: its sizes and what it is made of (users, words,
models and prices, the ids of its landmarks), and the parameters that the build's SQL
(bench/scale_sql*.py, run by bench/scale_build.py) reads from `scale.params`."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

BIG_TRACE_SPANS = 2500
BIG_CONVERSATION_MESSAGES = 2000
# Issue 22: one conversation of 20,000 messages and one trace of 20,000 spans, at every
# size but XS (which only checks that the benchmark runs), on top of the size's rows.
HUGE_ROWS = 20_000
# The huge conversation's every 1000th message is an edit (a sibling of the message
# before it), so its latest branch leaves a message out now and then, as edits do.
HUGE_EDIT_EVERY = 1000
# The huge trace's spans have 10 children each (other traces' have 4): an agent run's
# turns, their steps, and the steps' calls, five levels deep.
HUGE_FAN_OUT = 10
# Row n of a conversation (a message) or of a trace (a span) has the number
# parent * ROWS_PER_PARENT + n in scale.uid: more than the huge objects' rows.
ROWS_PER_PARENT = 100_000
MEAN_TRACE_SPANS = 110  # traces have 20-200 spans
DAYS = 90
USERS = 100  # user-0 ... user-99 own the conversations in turn: each sees 1%
COMMON_WORD = "refund"  # the first word of the vocabulary: in most messages and spans
RARE_WORD = "xylograph"  # in one message out of about RARE_MESSAGES
RARE_MESSAGES = 2000
REAL_WORDS = ["refund", "order", "parcel", "delivery", "invoice", "payment", "account"]
SYLLABLES = ["ba", "de", "fi", "go", "hu", "ka", "le", "mi", "no", "pu"]
SYLLABLES += ["ra", "se", "ti", "vo", "zu", "ne", "ko", "ri", "sa", "tu"]
VOCABULARY_SIZE = 5000
# (model, provider, share of LLM calls in %, USD per million input tokens, per million output)
LLM_MODELS = [
    ("gpt-4o", "openai", 30, 2.5, 10.0),
    ("gpt-4o-mini", "openai", 25, 0.15, 0.6),
    ("claude-3-5-sonnet", "anthropic", 20, 3.0, 15.0),
    ("claude-3-haiku", "anthropic", 10, 0.25, 1.25),
    ("llama-3-70b", "meta", 10, 0.9, 0.9),
    ("gemini-1.5-pro", "google", 5, 1.25, 5.0),
]
EMBEDDING_MODEL = ("text-embedding-3-small", "openai", 0, 0.02, 0.0)


@dataclass(frozen=True)
class Size:
    name: str
    spans: int
    messages: int
    conversations: int
    huge: int = HUGE_ROWS

    @property
    def big_trace(self) -> int:
        return min(BIG_TRACE_SPANS, self.spans // 2)

    @property
    def big_conversation(self) -> int:
        return min(BIG_CONVERSATION_MESSAGES, self.messages // 4 * 2)

    @property
    def traces(self) -> int:
        return 2 + max(1, round((self.spans - self.big_trace) / MEAN_TRACE_SPANS))

    @property
    def mean_messages(self) -> float:
        """Of the conversations but the big and the huge one."""
        return max(2.0, (self.messages - self.big_conversation) / (self.conversations - 2))

    @property
    def phrases(self) -> int:
        """Distinct phrases that messages and spans are made of."""
        return max(2000, min(200_000, (self.messages + self.spans // 10) // 4))


SIZES = {
    size.name: size
    for size in (
        Size("XS", 4_000, 1_000, 100, huge=2_000),
        Size("S", 100_000, 10_000, 1_000),
        Size("M", 1_000_000, 100_000, 10_000),
        Size("L", 5_000_000, 1_000_000, 100_000),
    )
}


def uid(tag: str, n: int) -> uuid.UUID:
    """scale.uid of scale_sql: the id the build gave row `n` of a kind."""
    digest = hashlib.md5(f"{tag}{n}".encode()).hexdigest()
    return uuid.UUID(digest[:12] + "4" + digest[13:16] + "8" + digest[17:])


# The deep conversation (BIG_CONVERSATION_MESSAGES) and the big trace, owned by user-0;
# and the huge ones (HUGE_ROWS), the huge trace in the huge conversation, user-0's too.
BIG_CONVERSATION = uid("c", 0)
BIG_TRACE = uid("t", 0)
HUGE_CONVERSATION = uid("c", 1)
HUGE_TRACE = uid("t", 1)


def huge_message(seq: int) -> uuid.UUID:
    """The id of the huge conversation's message `seq`."""
    return uid("m", 1 * ROWS_PER_PARENT + seq)


def vocabulary() -> list[str]:
    made_up = ("".join(s) for s in itertools.product(SYLLABLES, repeat=3))
    return [*REAL_WORDS, *itertools.islice(made_up, VOCABULARY_SIZE - len(REAL_WORDS))]


def model_slots() -> list[tuple[str, str, int, int]]:
    """100 slots of LLM models in their shares, then the embedding model: (model,
    provider, nano-dollars per input token, per output token)."""
    slots = []
    for model, provider, share, price_in, price_out in [*LLM_MODELS, EMBEDDING_MODEL]:
        nanos = (model, provider, round(price_in * 1000), round(price_out * 1000))
        slots += [nanos] * max(share, 1)
    return slots


async def parameters(connection: asyncpg.Connection, size: Size) -> None:
    """The tables of parameters, words and models, in the schema `scale`."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    await connection.execute(
        """CREATE UNLOGGED TABLE scale.params AS SELECT $1::int AS conversations,
        $2::int AS traces, $3::float8 AS mean_messages, $4::int AS big_conversation,
        $5::int AS big_trace, $6::int AS phrases, $7::int AS words, $8::timestamptz AS start,
        $9::int AS rare_every, $10::text AS rare_word, $11::int AS huge,
        $12::int AS huge_edit_every, $13::int AS huge_fan_out, $14::bigint AS per_parent""",
        size.conversations,
        size.traces,
        size.mean_messages,
        size.big_conversation,
        size.big_trace,
        size.phrases,
        VOCABULARY_SIZE,
        end - timedelta(days=DAYS),
        max(1, round(size.conversations * RARE_MESSAGES / size.messages)),
        RARE_WORD,
        size.huge,
        HUGE_EDIT_EVERY,
        HUGE_FAN_OUT,
        ROWS_PER_PARENT,
    )
    await connection.execute(
        """CREATE UNLOGGED TABLE scale.words AS
        SELECT rank::int, word FROM unnest($1::text[]) WITH ORDINALITY AS w(word, rank)""",
        vocabulary(),
    )
    slots = model_slots()
    await connection.execute(
        """CREATE UNLOGGED TABLE scale.models AS
        SELECT (slot - 1)::int AS slot, model, provider, input_nanos, output_nanos
        FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
            WITH ORDINALITY AS m(model, provider, input_nanos, output_nanos, slot)""",
        *(list(column) for column in zip(*slots, strict=True)),
    )
