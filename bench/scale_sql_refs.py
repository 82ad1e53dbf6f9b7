"""The SQL of the scale dataset's rows that refer to the core ones (bench/scale_sql.py):
tool calls, component versions and their links to LLM spans, scores, the event log, and
the stored totals of conversations and traces."""

from __future__ import annotations

from bench.scale_sql import Everywhere
from resolvers.event_rows import ROW_KIND, SPANS, SPANS_PER_ROW

# Three assistant messages in ten call a tool (one in ten calls two), one call in twenty fails.
TOOL_CALLS = [
    """INSERT INTO tool_calls (id, message_id, position, call_id, tool_name, arguments, result,
        status, error, started_at, ended_at)
    SELECT gen_random_uuid(), m.id, g, 'call_' || g,
           (ARRAY['web_search', 'lookup_order', 'calculator', 'send_email'])
               [1 + floor(m.r_tool * 4)::int],
           jsonb_build_object('query', left(m.content, 60)),
           CASE WHEN m.r_fail >= 0.05 THEN jsonb_build_object('answer', right(m.content, 80)) END,
           CASE WHEN m.r_fail < 0.05 THEN 'FAILED' ELSE 'COMPLETED' END,
           CASE WHEN m.r_fail < 0.05 THEN 'tool timed out' END,
           m.created_at - interval '3 s', m.created_at - interval '1 s'
    FROM (SELECT id, content, created_at, random() AS r, random() AS r_tool,
                 random() AS r_fail
          FROM messages WHERE role = 'ASSISTANT' OFFSET 0) m,
         generate_series(0, CASE WHEN m.r < 0.1 THEN 1 ELSE 0 END) g
    WHERE m.r < 0.3""",
]

VERSIONS = [
    # Four prompts and two model configs, six versions each, with their hashes.
    """INSERT INTO components (id, key, type, name, owner_id, private, created_at, version_count)
    SELECT scale.uid('component', n), key, type, replace(key, '-', ' '), 'user-' || n, false,
           p.start, 6
    FROM scale.params p, unnest(ARRAY['answer-prompt', 'plan-prompt', 'route-prompt',
                               'summarize-prompt', 'answer-model', 'plan-model'],
                         ARRAY['PROMPT', 'PROMPT', 'PROMPT', 'PROMPT', 'MODEL_CONFIG',
                               'MODEL_CONFIG']) WITH ORDINALITY AS c(key, type, n)""",
    # Slots 0-23 are the prompts' versions, 24-35 the model configs'.
    """CREATE UNLOGGED TABLE scale.versions AS
    SELECT scale.uid('version', n * 10 + v) AS id, scale.uid('component', n) AS component_id,
           (n - 1) * 6 + v - 1 AS slot, v,
           jsonb_build_object('template', 'version ' || v || ' of component ' || n) AS definition
    FROM generate_series(1, 6) n, generate_series(1, 6) v""",
    """INSERT INTO component_versions (id, component_id, content_hash, version_number,
        definition, created_at)
    SELECT id, component_id, encode(sha256(convert_to(definition::text, 'UTF8')), 'hex'), v,
           definition, p.start + v * interval '12 days'
    FROM scale.params p, scale.versions""",
    # Every LLM span used a prompt version; half of them a model config too.
    Everywhere(
        """INSERT INTO span_component_versions (span_id, component_version_id)
    SELECT s.id, v.id
    FROM (SELECT id, floor(random() * 24)::int AS prompt, 24 + floor(random() * 24)::int AS config
          FROM spans WHERE kind = 'LLM' AND scale.mine(hashtext(id::text) & 1023) OFFSET 0) s,
         LATERAL (VALUES (s.prompt), (s.config)) u(slot)
    JOIN scale.versions v ON v.slot = u.slot"""
    ),
]

# People rate answers (1-5, and thumbs up or down); a judge model rates LLM spans.
SCORES = [
    """INSERT INTO scores (id, conversation_id, target, message_id, name, kind, value, source,
        author_id, author_type, created_at, updated_at)
    SELECT gen_random_uuid(), m.conversation_id, 'MESSAGE', m.id,
           CASE WHEN m.r < 0.2 THEN 'helpfulness' ELSE 'thumbs' END,
           CASE WHEN m.r < 0.2 THEN 'NUMERIC' ELSE 'BOOLEAN' END,
           CASE WHEN m.r < 0.2 THEN 1 + floor(m.r_value * 5) ELSE floor(m.r_value * 1.3) END,
           'HUMAN', c.owner_id, 'USER', m.created_at + interval '1 min',
           m.created_at + interval '1 min'
    FROM (SELECT id, conversation_id, created_at, random() AS r, random() AS r_value
          FROM messages WHERE role = 'ASSISTANT' OFFSET 0) m
    JOIN conversations c ON c.id = m.conversation_id
    WHERE m.r < 0.25""",
    """INSERT INTO scores (id, conversation_id, target, span_id, name, kind, value, label, source,
        author_id, author_type, created_at, updated_at)
    SELECT gen_random_uuid(), t.conversation_id, 'SPAN', s.id,
           CASE WHEN s.r < 0.05 THEN 'faithfulness' ELSE 'topic' END,
           CASE WHEN s.r < 0.05 THEN 'NUMERIC' ELSE 'CATEGORICAL' END,
           CASE WHEN s.r < 0.05 THEN round(s.r_value::numeric, 2) END,
           CASE WHEN s.r >= 0.05 THEN (ARRAY['billing', 'shipping', 'account'])
               [1 + floor(s.r_value * 3)::int] END,
           'LLM', 'judge', 'AGENT', s.ended_at, s.ended_at
    FROM (SELECT id, trace_id, ended_at, random() AS r, random() AS r_value
          FROM spans WHERE kind = 'LLM' OFFSET 0) s
    JOIN traces t ON t.id = s.trace_id
    WHERE s.r < 0.07""",
]

# The event log, as the writers leave it: per conversation, numbered in time order. A
# trace's spans arrive ended, in one ingestion batch: their starts and ends are rows of up
# to SPANS_PER_ROW spans listed in the order they started, before TRACE_ENDED, each
# taking two numbers per span (its seq the last; resolvers.event_rows).
EVENTS = [
    Everywhere(
        f"""INSERT INTO events (conversation_id, seq, kind, created_at, message_id, tool_call_id,
        trace_id, span_id, data)
    SELECT conversation_id,
           sum(numbers) OVER (PARTITION BY conversation_id ORDER BY created_at, ord, part
                              ROWS UNBOUNDED PRECEDING),
           kind, created_at, message_id, tool_call_id, trace_id, NULL, data
    FROM (SELECT id AS conversation_id, 0 AS ord, 0 AS part, 'CONVERSATION_CREATED' AS kind,
                 created_at, NULL::uuid AS message_id, NULL::uuid AS tool_call_id,
                 NULL::uuid AS trace_id, '{{}}'::jsonb AS data, 1 AS numbers
          FROM conversations
          UNION ALL
          SELECT conversation_id, 1, 0, 'MESSAGE_CREATED', created_at, id, NULL, NULL, '{{}}', 1
          FROM messages
          UNION ALL
          SELECT m.conversation_id, 2, 0, e.kind, e.at, tc.message_id, tc.id, NULL, '{{}}', 1
          FROM tool_calls tc JOIN messages m ON m.id = tc.message_id,
               LATERAL (VALUES ('TOOL_START', tc.started_at), ('TOOL_END', tc.ended_at)) e(kind, at)
          UNION ALL
          SELECT conversation_id, e.ord, 0, e.kind, e.at, NULL, NULL, id, e.data, 1
          FROM traces,
               LATERAL (VALUES (3, 'TRACE_STARTED', started_at, '{{}}'::jsonb),
                               (5, 'TRACE_ENDED', ended_at, jsonb_build_object('status', status)))
                       e(ord, kind, at, data)
          UNION ALL
          SELECT conversation_id, 4, n / {SPANS_PER_ROW}, '{ROW_KIND}', ended_at, NULL, NULL,
                 trace_id, jsonb_build_object('{SPANS}', jsonb_agg(id ORDER BY n)), 2 * count(*)
          FROM (SELECT s.id, s.trace_id, t.conversation_id, t.ended_at,
                       row_number() OVER (PARTITION BY s.trace_id ORDER BY s.started_at, s.id)
                           - 1 AS n
                FROM spans s JOIN traces t ON t.id = s.trace_id
                WHERE scale.mine(hashtext(t.conversation_id::text) & 1023)) s
          GROUP BY trace_id, conversation_id, ended_at, n / {SPANS_PER_ROW}) e
    WHERE scale.mine(hashtext(conversation_id::text) & 1023)"""
    ),
]

# The stored totals, from the rows: a trace's are its spans'; a conversation's are its
# spans' and those of its messages that no span produced (resolvers.analytics.usage).
TOTALS = [
    """UPDATE traces SET total_tokens = s.total_tokens, cost = s.cost
    FROM (SELECT trace_id, sum(total_tokens) AS total_tokens, sum(cost) AS cost
          FROM spans GROUP BY trace_id) s
    WHERE traces.id = s.trace_id""",
    """UPDATE conversations
    SET input_tokens = coalesce(u.input_tokens, 0), output_tokens = coalesce(u.output_tokens, 0),
        total_tokens = coalesce(u.total_tokens, 0), cost = coalesce(u.cost, 0),
        last_event_seq = e.last_seq
    FROM (SELECT conversation_id, sum(input_tokens) AS input_tokens,
                 sum(output_tokens) AS output_tokens, sum(total_tokens) AS total_tokens,
                 sum(cost) AS cost
          FROM (SELECT t.conversation_id, s.input_tokens, s.output_tokens, s.total_tokens, s.cost
                FROM spans s JOIN traces t ON t.id = s.trace_id
                UNION ALL
                SELECT conversation_id, input_tokens, output_tokens, total_tokens, cost
                FROM messages
                WHERE span_id IS NULL AND (total_tokens <> 0 OR input_tokens <> 0 OR cost <> 0)
               ) calls
          GROUP BY conversation_id) u
    RIGHT JOIN (SELECT conversation_id, max(seq) AS last_seq FROM events GROUP BY conversation_id)
        e USING (conversation_id)
    WHERE conversations.id = e.conversation_id""",
]
