// Threadline's live viewer. It uses the public GraphQL API only: queries and one mutation
// (answerAgent) as JSON POSTs, which the CSRF guard accepts, and subscriptions over
// graphql-transport-ws on the same origin, resumed from the last event cursor after a
// reconnect or after an error that ended them.
"use strict";

const ENDPOINT = new URL("/graphql", window.location.href);
const SOCKET_URL = ENDPOINT.toString().replace(/^http/, "ws");
const CREDENTIAL_KEY = "threadline.credential";
const credential = () => localStorage.getItem(CREDENTIAL_KEY);

const LIST = `query ViewerList {
  conversations(first: 50) {
    totalCount
    nodes { id title status messageCount lastActivityAt agentSession { status } }
  }
}`;
const ACTIVITY = "subscription ViewerActivity { conversationsActivity { kind } }";
const CONVERSATION = `query ViewerConversation($id: ID!) {
  conversation(id: $id) {
    id title status ownerId messageCount totalTokens cost lastEventCursor
    agentSession { status question }
    messages(allBranches: true, first: 200) {
      nodes {
        id seq senderId role status content thinking parent { id }
        toolCalls { id toolName status arguments result error }
      }
    }
    plans(last: 1) { nodes { title status steps { position description status } } }
    traces(last: 1) {
      nodes {
        id name status startedAt endedAt durationMs totalTokens
        spans(first: 300) {
          nodes { id name kind status startedAt endedAt durationMs parent { id } }
        }
      }
    }
  }
}`;
// Chunks carry their message's content so far: setting it (rather than appending the
// chunk) cannot double text when a chunk and a refetch cross.
const EVENTS = `subscription ViewerEvents($id: ID!, $after: String) {
  conversationEvents(conversationId: $id, after: $after) {
    kind cursor
    ... on AnswerChunkEvent { message { id content } }
  }
}`;
const ANSWER = `mutation ViewerAnswer($input: AnswerAgentInput!) {
  answerAgent(input: $input) { id }
}`;

async function graphql(query, variables = {}) {
  const headers = { "content-type": "application/json" };
  if (credential()) headers.authorization = `Bearer ${credential()}`;
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}

// Delays between attempts: 0.5 s doubling up to 15 s, each drawn between half and all of
// that, so that viewers cut off together do not all come back at the same moment.
class Backoff {
  constructor() {
    this.reset();
  }

  reset() {
    this.ceiling = 500;
  }

  next() {
    const delay = this.ceiling * (0.5 + Math.random() / 2);
    this.ceiling = Math.min(this.ceiling * 2, 15000);
    return delay;
  }
}

// Errors that a new attempt would only repeat. Anything else (RESUME_REQUIRED, UNAVAILABLE,
// INTERNAL_SERVER_ERROR, ...) may pass: the subscription is sent again after a backoff.
const FINAL = new Set([
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "NOT_FOUND",
  "BAD_USER_INPUT",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
]);
// The server closed the socket over its credential: the same one would be refused again.
const CREDENTIAL_REFUSED = 4403;
// How long until `time`, as the status shows it.
const seconds = (time) => `${Math.max(1, Math.ceil((time - Date.now()) / 1000))} s`;

// graphql-transport-ws with recovery. A subscription ended by an error is sent again on
// the same socket after a backoff, and every subscription once a new connection is
// acknowledged; each time with variables computed then (the latest cursor) and under a
// new id (the server may not have forgotten the old one yet). Its `onStart` says when
// the page has caught up with what it may have missed meanwhile.
class Live {
  constructor(url, onState) {
    this.url = url;
    this.onState = onState;
    this.subscriptions = new Set();
    this.operations = new Map(); // operation id -> its subscription
    this.ids = 0;
    this.backoff = new Backoff();
    this.reconnectAt = null; // set once a connection was lost
    this.refused = null; // why the server refused the credential, if it did
    this.connect();
  }

  connect() {
    const socket = new WebSocket(this.url, "graphql-transport-ws");
    this.socket = socket;
    this.ready = false;
    socket.onopen = () => {
      const payload = credential() ? { Authorization: `Bearer ${credential()}` } : {};
      socket.send(JSON.stringify({ type: "connection_init", payload }));
    };
    socket.onmessage = (raw) => this.receive(JSON.parse(raw.data));
    socket.onclose = (event) => {
      this.ready = false;
      for (const sub of this.subscriptions) this.wait(sub, null);
      if (event.code === CREDENTIAL_REFUSED) {
        this.refused = event.reason || "the credential was refused";
      } else {
        const delay = this.backoff.next();
        this.reconnectAt = Date.now() + delay;
        setTimeout(() => this.connect(), delay);
      }
      this.report();
    };
  }

  receive(message) {
    const sub = this.operations.get(message.id);
    if (message.type === "connection_ack") {
      this.ready = true;
      this.backoff.reset();
      for (const each of this.subscriptions) if (!each.failure) this.start(each);
      this.report();
    } else if (message.type === "ping") {
      this.socket.send(JSON.stringify({ type: "pong" }));
    } else if (sub) {
      this.follow(sub, message); // else an operation stopped or replaced: nothing is wanted
    }
  }

  follow(sub, message) {
    if (message.type === "next" && !message.payload.errors) {
      sub.backoff.reset();
      sub.onData(message.payload.data);
    } else if (message.type === "next" || message.type === "error") {
      this.failed(sub, message.type === "next" ? message.payload.errors : message.payload);
    } else if (message.type === "complete") {
      // The stream ended by itself (its conversation was deleted): nothing more will come.
      this.operations.delete(message.id);
      this.subscriptions.delete(sub);
      this.report();
    }
  }

  start(sub) {
    const id = String(++this.ids);
    const payload = { query: sub.query, variables: sub.variables() };
    this.operations.set(id, sub);
    Object.assign(sub, { id, catchingUp: true });
    this.socket.send(JSON.stringify({ id, type: "subscribe", payload }));
    this.report();
    Promise.resolve(sub.onStart(sub.starts++ > 0))
      .catch(showError)
      .finally(() => {
        if (sub.id === id) sub.catchingUp = false;
        this.report();
      });
  }

  // Stops the subscription's operation (if the server has not) and any retry waiting;
  // then, unless `delay` is null, sends it again after that long.
  wait(sub, delay) {
    if (sub.id && this.operations.delete(sub.id) && this.ready) {
      this.socket.send(JSON.stringify({ id: sub.id, type: "complete" }));
    }
    clearTimeout(sub.timer);
    Object.assign(sub, { id: null, timer: null, retryAt: null, catchingUp: false });
    if (delay === null) return;
    sub.retryAt = Date.now() + delay;
    sub.timer = setTimeout(() => {
      sub.retryAt = null;
      this.start(sub);
    }, delay);
  }

  failed(sub, errors) {
    const final = errors.find((error) => FINAL.has(error.extensions?.code));
    if (final) {
      this.wait(sub, null);
      sub.failure = final.message;
      sub.onError(final);
    } else {
      // RESUME_REQUIRED says where to resume from; the variables then use it.
      sub.onResume(errors.find((error) => error.extensions?.cursor)?.extensions.cursor);
      this.wait(sub, sub.backoff.next());
    }
    this.report();
  }

  report() {
    this.onState(...this.state());
  }

  // The page's status, [state, text]: the worst of the connection's and every
  // subscription's.
  state() {
    const subs = [...this.subscriptions];
    const failure = this.refused || subs.find((sub) => sub.failure)?.failure;
    const retryAt = Math.min(...subs.map((sub) => sub.retryAt || Infinity));
    if (failure) return ["stopped", `stopped: ${failure}`];
    if (!this.ready) {
      if (!this.reconnectAt) return ["connecting", "connecting…"];
      return ["reconnecting", `reconnecting in ${seconds(this.reconnectAt)}`];
    }
    if (retryAt < Infinity) return ["retrying", `catching up: resuming in ${seconds(retryAt)}`];
    if (subs.some((sub) => sub.catchingUp)) return ["catching-up", "catching up…"];
    return ["live", "live"];
  }

  // Returns a function that ends the subscription. `onStart(again)` runs whenever it is
  // sent (`again` after the first time) and returns once the page has caught up;
  // `onResume(cursor)` hears the cursor an error gave to resume from.
  subscribe(query, options) {
    const sub = {
      query,
      variables: () => ({}),
      onError: showError,
      onStart: () => {},
      onResume: () => {},
      ...options,
      backoff: new Backoff(),
      starts: 0,
    };
    this.subscriptions.add(sub);
    if (this.ready) this.start(sub);
    return () => {
      this.wait(sub, null);
      this.subscriptions.delete(sub);
      this.report();
    };
  }
}

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) element.setAttribute(name, value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

const $ = (id) => document.getElementById(id);
const json = (value) => JSON.stringify(value);

function showError(error) {
  console.error(error);
  $("totals").textContent = `Error: ${error.message || json(error)}`;
}

// Coalesces bursts of events into one refetch.
function debounced(work, wait = 60) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => work().catch(showError), wait);
  };
}

const live = new Live(SOCKET_URL, (state, text) => {
  $("status").dataset.state = state;
  $("status").textContent = text;
});

const view = { id: null, data: null, cursor: null, stop: null };
const arrivals = new EventTarget(); // "cursor": an event of the open conversation arrived

// The conversation list: refetched whenever the activity subscription says something
// changed, and each time that subscription is sent (after an error or a reconnection),
// since activity has no cursor to resume from.
async function loadList() {
  const { conversations } = await graphql(LIST);
  $("conversation-count").textContent = `(${conversations.totalCount})`;
  $("conversations").replaceChildren(
    ...conversations.nodes.map((c) =>
      h(
        "li",
        {},
        h(
          "a",
          { href: `#/c/${c.id}`, "data-id": c.id, class: c.id === view.id ? "selected" : null },
          c.title || "(untitled)",
          h("small", {}, `${c.messageCount} messages · ${c.agentSession?.status || c.status}`),
        ),
      ),
    ),
  );
}
const refreshList = debounced(loadList);
live.subscribe(ACTIVITY, { onData: refreshList, onStart: loadList });

// The open conversation: one query renders it; its events then keep it current.

async function open(id) {
  if (view.stop) view.stop();
  Object.assign(view, { id, data: null, cursor: null, stop: null });
  $("conversation").hidden = !id;
  $("empty").hidden = Boolean(id);
  refreshList();
  if (!id) return;
  await refetch();
  if (view.id !== id || !view.data) return;
  view.cursor = view.data.lastEventCursor;
  view.stop = live.subscribe(EVENTS, {
    variables: () => ({ id, after: view.cursor }),
    onData: ({ conversationEvents: event }) => onEvent(event),
    onResume: (cursor) => {
      if (cursor) view.cursor = cursor;
    },
    onStart: (again) => again && catchUp(id),
  });
}

// Once the subscription is sent again, the page is catching up until the events up to
// the conversation's latest, as read then, have arrived (the replay may bring some
// before that read answers: their cursors are noted from the start).
async function catchUp(id) {
  const arrived = new Set([view.cursor]);
  const note = ({ detail: cursor }) => arrived.add(cursor);
  arrivals.addEventListener("cursor", note);
  try {
    const latest = (await refetch())?.lastEventCursor;
    while (view.id === id && latest && !arrived.has(latest)) {
      await new Promise((resolve) => arrivals.addEventListener("cursor", resolve, { once: true }));
    }
  } finally {
    arrivals.removeEventListener("cursor", note);
  }
}

// The conversation as read now, rendered; null if it is gone or no longer open.
async function refetch() {
  const id = view.id;
  const { conversation } = await graphql(CONVERSATION, { id });
  if (view.id !== id) return null;
  if (!conversation) {
    $("title").textContent = "No such conversation";
    return null;
  }
  // A chunk may have reached us after this answer was read: keep the longer text.
  const shown = new Map((view.data?.messages.nodes || []).map((m) => [m.id, m.content]));
  for (const message of conversation.messages.nodes) {
    const known = shown.get(message.id) || "";
    if (message.status === "STREAMING" && known.length > message.content.length) {
      message.content = known;
    }
  }
  view.data = conversation;
  render(conversation);
  return conversation;
}
const scheduleRefetch = debounced(refetch);

function onEvent(event) {
  view.cursor = event.cursor;
  arrivals.dispatchEvent(new CustomEvent("cursor", { detail: event.cursor }));
  const message = event.message && view.data?.messages.nodes.find((m) => m.id === event.message.id);
  if (event.kind === "ANSWER_CHUNK" && message) {
    if (event.message.content.length > message.content.length) {
      message.content = event.message.content;
      const node = document.querySelector(`.message[data-id="${message.id}"] .content`);
      if (node) node.textContent = message.content;
    }
    return;
  }
  scheduleRefetch();
}

function render(conversation) {
  $("title").textContent = conversation.title || "(untitled)";
  $("totals").textContent =
    `${conversation.status} · ${conversation.messageCount} messages · ` +
    `${conversation.totalTokens} tokens · $${conversation.cost.toFixed(4)}`;
  renderQuestion(conversation);
  $("messages").replaceChildren(...renderMessages(conversation.messages.nodes));
  $("plan").replaceChildren(...conversation.plans.nodes.map(renderPlan));
  $("trace").replaceChildren(...conversation.traces.nodes.map(renderTrace));
}

function renderQuestion(conversation) {
  const waiting = conversation.agentSession?.status === "AWAITING_USER";
  $("answer-form").hidden = !waiting;
  if (waiting) $("question").textContent = conversation.agentSession.question;
}

function renderMessages(messages) {
  const siblings = new Map();
  for (const m of messages) {
    const parent = m.parent?.id || "";
    siblings.set(parent, [...(siblings.get(parent) || []), m.id]);
  }
  return messages.map((m) => {
    const branches = siblings.get(m.parent?.id || "");
    const branch =
      branches.length > 1
        ? h("span", { class: "branch" }, `branch ${branches.indexOf(m.id) + 1} of ${branches.length}`)
        : null;
    return h(
      "div",
      { class: "message", "data-id": m.id, "data-role": m.role, "data-status": m.status },
      h("div", { class: "meta" }, `#${m.seq} ${m.senderId} · ${m.role} · ${m.status}`, branch),
      m.thinking ? h("div", { class: "thinking" }, m.thinking) : null,
      h("div", { class: "content" }, m.content),
      m.toolCalls.length ? h("ul", { class: "tool-calls" }, ...m.toolCalls.map(renderToolCall)) : null,
    );
  });
}

function renderToolCall(call) {
  const outcome = call.error ? ` ✗ ${call.error}` : call.result ? ` → ${json(call.result)}` : " …";
  return h(
    "li",
    { class: "tool-call", "data-status": call.status, "data-tool": call.toolName },
    `${call.toolName}(${json(call.arguments)})${outcome}`,
  );
}

function renderPlan(plan) {
  return h(
    "div",
    { class: "plan", "data-status": plan.status },
    h("div", { class: "plan-title" }, `${plan.title} · ${plan.status}`),
    h(
      "ol",
      {},
      ...plan.steps.map((step) =>
        h(
          "li",
          { class: "step", "data-status": step.status },
          step.description,
          h("small", {}, step.status),
        ),
      ),
    ),
  );
}

// The span tree as a waterfall: one row a span, depth-first, its bar placed by start time
// and sized by duration on the trace's time axis (a running span reaches "now").
function renderTrace(trace) {
  const spans = trace.spans.nodes;
  const now = Date.now();
  const start = Date.parse(trace.startedAt);
  const endOf = (s) => (s.endedAt ? Date.parse(s.endedAt) : now);
  const end = Math.max(trace.endedAt ? Date.parse(trace.endedAt) : now, ...spans.map(endOf));
  const total = Math.max(end - start, 1);
  const ids = new Set(spans.map((s) => s.id));
  const children = new Map();
  for (const s of spans) {
    const parent = s.parent && ids.has(s.parent.id) ? s.parent.id : "";
    children.set(parent, [...(children.get(parent) || []), s]);
  }
  const rows = [];
  const visit = (parent, depth) => {
    const kids = (children.get(parent) || []).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    for (const s of kids) {
      rows.push(spanRow(s, depth, (Date.parse(s.startedAt) - start) / total, (endOf(s) - Date.parse(s.startedAt)) / total));
      visit(s.id, depth + 1);
    }
  };
  visit("", 0);
  const duration = trace.durationMs == null ? "running" : `${Math.round(trace.durationMs)} ms`;
  return h(
    "div",
    { class: "waterfall", "data-trace": trace.id, "data-status": trace.status },
    h(
      "div",
      { class: "trace-meta" },
      `${trace.name || "trace"} · ${trace.status} · ${duration} · ${trace.totalTokens} tokens`,
    ),
    ...rows,
  );
}

function spanRow(span, depth, offset, width) {
  const percent = (x) => `${(Math.max(0, Math.min(1, x)) * 100).toFixed(2)}%`;
  const duration = span.durationMs == null ? "running" : `${Math.round(span.durationMs)} ms`;
  return h(
    "div",
    { class: "span-row", "data-span": span.name, "data-status": span.status },
    h("div", { class: "span-name", style: `padding-left: ${depth * 14}px` }, span.name, " ", h("small", {}, span.kind)),
    h(
      "div",
      { class: "track" },
      h("div", {
        class: "bar",
        "data-kind": span.kind,
        "data-status": span.status,
        "data-running": String(!span.endedAt),
        title: `${span.name}: ${duration}`,
        style: `left: ${percent(offset)}; width: ${percent(width)}`,
      }),
    ),
  );
}

$("answer-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = { conversationId: view.id, answer: $("answer").value, senderId: view.data.ownerId };
  await graphql(ANSWER, { input }).catch(showError);
  $("answer").value = "";
});

$("credential-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("credential").value.trim();
  if (value) localStorage.setItem(CREDENTIAL_KEY, value);
  else localStorage.removeItem(CREDENTIAL_KEY);
  window.location.reload();
});

const route = () => open(decodeURIComponent(window.location.hash.match(/^#\/c\/(.+)$/)?.[1] || ""));
window.addEventListener("hashchange", () => route().catch(showError));
route().catch(showError);
