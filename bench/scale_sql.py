"""The SQL that builds the scale dataset's plan and core rows: conversations and their
participants, traces, spans, messages (bench/scale_build.py runs it, phase by phase;
bench/scale_sql_refs.py has the rest).

Set-based: every table is filled by INSERT ... SELECT over generate_series. The plan of
the data (which conversation has how many messages, which trace how many spans) is drawn
once into the unlogged tables of the schema `scale`, dropped after the build; ids are
md5-derived UUIDs of a tag and a number (scale.uid), so a phase finds the rows of another
by arithmetic, not lookups. The parameters are the one row of `scale.params`.

The database's own triggers stay on: search documents (and whatever else the schema
keeps by trigger) are written exactly as in production. Per-row triggers make the big
inserts CPU-bound, so those run on every connection at once (Everywhere), each taking
the rows of its part: `scale.mine(n)` is true for one part in `scale.parts`.
"""

from __future__ import annotations

SCHEMA = [
    "CREATE SCHEMA scale",
    # Version nibble 4 and variant 8: ids look like the uuid4s the app writes.
    """CREATE FUNCTION scale.uid(tag text, n bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
    $$ SELECT overlay(overlay(md5(tag || n) placing '4' from 13) placing '8' from 17)::uuid $$""",
    # A lognormal draw (Box-Muller): the long tail that latencies have.
    """CREATE FUNCTION scale.lognormal(mu float8, sigma float8) RETURNS float8
    LANGUAGE sql VOLATILE AS
    $$ SELECT exp(mu + sigma * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) $$""",
    """CREATE FUNCTION scale.mine(n bigint) RETURNS boolean LANGUAGE sql STABLE AS
    $$ SELECT n % current_setting('scale.parts')::int = current_setting('scale.part')::int $$""",
]


class Everywhere(str):
    """A statement that every connection runs at once, each on its part of the rows."""


PLAN = [
    # Phrases of 8-16 words drawn Zipf-like (rank = V^u: the first word is in most
    # phrases, the last in almost none); messages and spans are made of them.
    """CREATE UNLOGGED TABLE scale.phrases AS
    SELECT d.n, string_agg(w.word, ' ' ORDER BY d.i) AS text
    FROM (SELECT n, i, least(floor(exp(random() * ln(p.words + 1)))::int, p.words) AS rank
          FROM scale.params p, generate_series(0, p.phrases - 1) n, generate_series(1, 8 + n % 9) i
          OFFSET 0) d
    JOIN scale.words w USING (rank)
    GROUP BY d.n""",
    # Conversation 0 is the deep one, 1 the huge one (user-0's too); the others have an
    # even number of messages (user, assistant, ...) averaging mean_messages; spread over
    # the 90 days.
    """CREATE UNLOGGED TABLE scale.conversations AS
    SELECT i, scale.uid('c', i) AS id, 'user-' || CASE WHEN i = 1 THEN 0 ELSE i % 100 END AS owner,
           'agent-' || i % 7 AS agent,
           p.start + (i + random()) / p.conversations * interval '88 days' AS created,
           CASE WHEN i = 0 THEN p.big_conversation WHEN i = 1 THEN p.huge
                ELSE 2 + 2 * floor(random() * (p.mean_messages - 1))::int END AS n_msg,
           random() AS r_kind, random() AS r_status, random() AS r_tags
    FROM scale.params p, generate_series(0, p.conversations - 1) i""",
    # Traces spread evenly over the conversations (so over time and owners); trace 0,
    # the big one, is in conversation 0, trace 1, the huge one, in conversation 1. Spans
    # are 40 ms apart; a trace lasts until the latest possible end of its spans (leaves
    # last at most 30 s). A span has `fan_out` children at most. A trace is a run of its
    # conversation's agent (one of 7), one in 8 of none.
    """CREATE UNLOGGED TABLE scale.traces AS
    SELECT t.*, t.started + (t.n_spans * 40 + 30010) * interval '1 ms' AS ends
    FROM (SELECT t, scale.uid('t', t) AS id, c.i AS conversation, c.id AS conversation_id,
                 c.owner, CASE WHEN t % 8 != 7 THEN c.agent END AS agent,
                 c.created + interval '100 s' + (t % 13) * interval '1 min' AS started,
                 CASE WHEN t = 0 THEN p.big_trace WHEN t = 1 THEN p.huge
                      ELSE 20 + floor(random() * 181)::int END AS n_spans,
                 CASE WHEN t = 1 THEN p.huge_fan_out ELSE 4 END AS fan_out,
                 random() AS r_status
          FROM scale.params p CROSS JOIN generate_series(0, p.traces - 1) t
          JOIN scale.conversations c
              ON c.i = CASE WHEN t = 1 THEN 1 ELSE t::bigint * p.conversations / p.traces END
         ) t""",
    "ANALYZE scale.words, scale.phrases, scale.models, scale.conversations, scale.traces",
]

CONVERSATIONS = [
    """INSERT INTO conversations (id, kind, status, title, pinned_facts, tags, metadata,
        owner_id, owner_type, created_at, updated_at, last_activity_at, archived_at,
        last_message_seq, last_event_seq, message_count,
        input_tokens, output_tokens, total_tokens, cost)
    SELECT c.id, c.kind, c.status, 'conversation ' || c.i, '[]', c.tags, '{}', c.owner, 'USER',
           c.created, c.last, c.last, CASE WHEN c.status = 'ARCHIVED' THEN c.last END,
           c.n_msg, 0, c.n_msg, 0, 0, 0, 0
    FROM (SELECT *, created + n_msg * interval '45 s' AS last,
                 CASE WHEN r_kind < 0.95 THEN 'USER_AGENT' ELSE 'MULTI_PARTY' END AS kind,
                 CASE WHEN i = 0 OR r_status < 0.85 THEN 'ACTIVE'
                      WHEN r_status < 0.95 THEN 'ARCHIVED' ELSE 'CLOSED' END AS status,
                 CASE WHEN r_tags < 0.3 THEN '["support"]'
                      WHEN r_tags < 0.4 THEN '["billing", "support"]' ELSE '[]' END::jsonb
                     AS tags
          FROM scale.conversations) c""",
    # The owner, the agent, and in a multi-party conversation another user.
    """INSERT INTO participants (id, conversation_id, participant_id, participant_type, role,
        active, joined_at)
    SELECT gen_random_uuid(), id, owner, 'USER', 'OWNER', true, created
    FROM scale.conversations
    UNION ALL
    SELECT gen_random_uuid(), id, agent, 'AGENT', 'MEMBER', true, created
    FROM scale.conversations
    UNION ALL
    SELECT gen_random_uuid(), id, 'user-' || (i + 1) % 100, 'USER', 'MEMBER', true, created
    FROM scale.conversations WHERE r_kind >= 0.95""",
]

TRACES = [
    """INSERT INTO traces (id, conversation_id, name, status, started_at, ended_at, duration_ms,
        total_tokens, cost, user_id, agent_id)
    SELECT id, conversation_id, 'agent run', CASE WHEN r_status < 0.05 THEN 'ERROR' ELSE 'OK' END,
           started, ends, extract(epoch FROM ends - started) * 1000, 0, 0, owner, agent
    FROM scale.traces""",
]

# A span tree per trace: span k's parent is span (k - 1) / fan_out. Inner spans are AGENT or
# CHAIN and end with their trace (a little earlier the deeper they are); leaves are model
# calls, tools, retrievers... and only LLM and EMBEDDING spans carry usage.
SPANS = [
    Everywhere(
        """INSERT INTO spans (id, trace_id, parent_span_id, kind, name, status, error, started_at,
        ended_at, duration_ms, inputs, outputs, attributes, model, provider, tool_name,
        input_tokens, cached_input_tokens, output_tokens, total_tokens, cost, cost_source)
    SELECT scale.uid('s', s.t * p.per_parent + s.k), s.trace_id,
           CASE WHEN s.k > 0 THEN scale.uid('s', s.t * p.per_parent + (s.k - 1) / s.fan_out) END,
           s.kind,
           CASE s.kind WHEN 'LLM' THEN 'chat ' || m.model WHEN 'EMBEDDING' THEN 'embed query'
                WHEN 'TOOL' THEN s.tool ELSE lower(s.kind) || ' step' END,
           CASE WHEN s.r_status < 0.03 THEN 'ERROR' ELSE 'OK' END,
           CASE WHEN s.r_status < 0.03 THEN 'upstream timed out' END,
           s.started, s.ended, extract(epoch FROM s.ended - s.started) * 1000,
           CASE s.kind
               WHEN 'LLM' THEN jsonb_build_object('messages', jsonb_build_array(
                   jsonb_build_object('role', 'user', 'content', a.text)))
               WHEN 'TOOL' THEN jsonb_build_object('arguments', jsonb_build_object('query', a.text))
               WHEN 'RETRIEVER' THEN jsonb_build_object('query', a.text)
               ELSE jsonb_build_object('input', a.text) END,
           CASE s.kind
               WHEN 'LLM' THEN jsonb_build_object('content', b.text)
               WHEN 'RETRIEVER' THEN jsonb_build_object('documents', jsonb_build_array(b.text))
               WHEN 'EMBEDDING' THEN '{}'
               ELSE jsonb_build_object('output', b.text) END,
           CASE WHEN m.model IS NULL THEN '{}'
                ELSE jsonb_build_object('gen_ai.system', m.provider,
                                        'gen_ai.request.model', m.model) END,
           m.model, m.provider, CASE WHEN s.kind = 'TOOL' THEN s.tool END,
           coalesce(s.input_tokens, 0), 0, coalesce(s.output_tokens, 0),
           coalesce(s.input_tokens + s.output_tokens, 0),
           coalesce(s.input_tokens * m.input_nanos + s.output_tokens * m.output_nanos, 0),
           CASE WHEN m.model IS NULL THEN 'NONE' ELSE 'REPORTED' END
    FROM (SELECT d.*,
                 CASE WHEN d.inner_span THEN d.trace_ends - d.depth * interval '1 ms'
                      ELSE d.started + least(scale.lognormal(5.3, 1.1), 30000)
                           * interval '1 ms' END AS ended,
                 CASE d.kind WHEN 'LLM' THEN 200 + floor(d.r1 * d.r1 * 3800)::int
                             WHEN 'EMBEDDING' THEN 10 + floor(d.r1 * 490)::int END
                     AS input_tokens,
                 CASE d.kind WHEN 'LLM' THEN 20 + floor(d.r2 * 780)::int
                             WHEN 'EMBEDDING' THEN 0 END AS output_tokens
          FROM (SELECT tr.t, tr.id AS trace_id, tr.ends AS trace_ends, tr.fan_out, k,
                       tr.started + k * interval '40 ms' AS started,
                       tr.fan_out * k + 1 < tr.n_spans AS inner_span,
                       floor(ln((tr.fan_out - 1) * k + 1) / ln(tr.fan_out) + 1e-9)::int AS depth,
                       CASE WHEN k = 0 THEN 'AGENT'
                            WHEN tr.fan_out * k + 1 < tr.n_spans THEN
                                CASE WHEN random() < 0.8 THEN 'CHAIN' ELSE 'AGENT' END
                            ELSE (ARRAY['LLM', 'LLM', 'LLM', 'LLM', 'LLM', 'LLM', 'LLM',
                                        'LLM', 'TOOL', 'TOOL', 'TOOL', 'TOOL', 'TOOL',
                                        'RETRIEVER', 'RETRIEVER', 'RETRIEVER', 'EMBEDDING',
                                        'EMBEDDING', 'GUARDRAIL', 'EVALUATOR'])
                                 [1 + floor(random() * 20)::int] END AS kind,
                       (ARRAY['web_search', 'lookup_order', 'calculator', 'send_email'])
                           [1 + floor(random() * 4)::int] AS tool,
                       random() AS r_status, random() AS r_model, random() AS r1,
                       random() AS r2, floor(random() * p.phrases)::int AS a,
                       floor(random() * p.phrases)::int AS b
                FROM scale.params p, scale.traces tr, generate_series(0, tr.n_spans - 1) k
                WHERE scale.mine(tr.t)
                OFFSET 0) d
          OFFSET 0) s
    CROSS JOIN scale.params p
    LEFT JOIN scale.models m ON m.slot = CASE s.kind WHEN 'LLM' THEN floor(s.r_model * 100)::int
                                                   WHEN 'EMBEDDING' THEN 100 END
    JOIN scale.phrases a ON a.n = s.a
    JOIN scale.phrases b ON b.n = s.b"""
    ),
]

# Each conversation's first assistant answer (seq 2) of a conversation with traces was
# produced by the first LLM span of its first trace: it shows that span's usage and
# points at it. Every other assistant message is a model call of its own.
PRODUCED = [
    """CREATE UNLOGGED TABLE scale.produced AS
    SELECT DISTINCT ON (tr.conversation_id) tr.conversation_id, s.id AS span_id, s.model,
           s.provider, s.input_tokens, s.output_tokens, s.total_tokens, s.cost, s.duration_ms
    FROM scale.traces tr JOIN spans s ON s.trace_id = tr.id AND s.kind = 'LLM'
    ORDER BY tr.conversation_id, tr.t, s.started_at""",
    "ANALYZE scale.produced",
]

# Users ask in one phrase, assistants answer in three. The rare word is in the first
# message of about one conversation in `rare_every`, spread over owners by a hash. Each
# message replies to the one before, but for the huge conversation's edits (every
# huge_edit_every-th message), which reply to the one before that.
MESSAGES = [
    Everywhere(
        """INSERT INTO messages (id, conversation_id, seq, parent_message_id, sender_id,
        sender_type, role, content, parts, status, model, provider, input_tokens,
        cached_input_tokens, output_tokens, total_tokens, cost, cost_source, latency_ms,
        attachments, metadata, created_at, updated_at, span_id)
    SELECT scale.uid('m', m.i * p.per_parent + m.seq), m.id, m.seq,
           CASE WHEN m.seq > 1 THEN scale.uid('m', m.i * p.per_parent + m.seq
               - CASE WHEN m.i = 1 AND m.seq % p.huge_edit_every = 0 THEN 2 ELSE 1 END) END,
           CASE WHEN m.assistant THEN m.agent ELSE m.owner END,
           CASE WHEN m.assistant THEN 'AGENT' ELSE 'USER' END,
           CASE WHEN m.assistant THEN 'ASSISTANT' ELSE 'USER' END,
           CASE WHEN m.assistant THEN a.text || ' ' || b.text || ' ' || c.text
                WHEN m.seq = 1 AND (hashint4(m.i) & 2147483647) % p.rare_every = 0
                    THEN a.text || ' ' || p.rare_word
                ELSE a.text END,
           '[]', 'COMPLETE',
           CASE WHEN pr.span_id IS NOT NULL THEN pr.model WHEN m.assistant THEN mo.model END,
           CASE WHEN pr.span_id IS NOT NULL THEN pr.provider WHEN m.assistant THEN mo.provider END,
           coalesce(pr.input_tokens, m.input_tokens), 0,
           coalesce(pr.output_tokens, m.output_tokens),
           coalesce(pr.total_tokens, m.input_tokens + m.output_tokens),
           coalesce(pr.cost, m.input_tokens * mo.input_nanos + m.output_tokens * mo.output_nanos),
           CASE WHEN m.assistant THEN 'REPORTED' ELSE 'NONE' END,
           CASE WHEN pr.span_id IS NOT NULL THEN round(pr.duration_ms)::int
                WHEN m.assistant THEN round(scale.lognormal(7, 0.6))::int END,
           '[]', '{}', m.at, m.at, pr.span_id
    FROM (SELECT c.i, c.id, c.owner, c.agent, seq, seq % 2 = 0 AS assistant,
                 c.created + seq * interval '45 s' AS at,
                 CASE WHEN seq % 2 = 0 THEN 200 + floor(random() * 2800)::int ELSE 0 END
                     AS input_tokens,
                 CASE WHEN seq % 2 = 0 THEN 20 + floor(random() * 580)::int ELSE 0 END
                     AS output_tokens,
                 floor(random() * 100)::int AS slot, floor(random() * p.phrases)::int AS a,
                 floor(random() * p.phrases)::int AS b, floor(random() * p.phrases)::int AS c
          FROM scale.params p, scale.conversations c, generate_series(1, c.n_msg) seq
          WHERE scale.mine(c.i)
          OFFSET 0) m
    CROSS JOIN scale.params p
    JOIN scale.models mo ON mo.slot = m.slot
    JOIN scale.phrases a ON a.n = m.a
    JOIN scale.phrases b ON b.n = m.b
    JOIN scale.phrases c ON c.n = m.c
    LEFT JOIN scale.produced pr ON pr.conversation_id = m.id AND m.seq = 2"""
    ),
]
ANSWERS = [
    # The trace produced its conversation's first answer.
    """UPDATE traces SET message_id = scale.uid('m', tr.conversation * p.per_parent + 2)
    FROM scale.traces tr, scale.params p WHERE traces.id = tr.id""",
]
