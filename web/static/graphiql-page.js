// GraphiQL on Threadline: queries over HTTP, subscriptions over graphql-transport-ws on the
// same URL, and example operations as the first tabs (kept in the browser once edited).
"use strict";

const DEEP_QUERY = `# The latest conversation in one request: messages of every branch with their
# tool calls and the spans that ran them, the plan and its steps, the trace's span tree.
query ConversationPage {
  conversations(first: 1) {
    nodes {
      id title kind status messageCount totalTokens cost lastEventCursor
      participants { participantId participantType role }
      messages(allBranches: true, first: 50) {
        totalCount
        nodes {
          seq senderId role status content parent { id }
          toolCalls { toolName status arguments result span { name durationMs } }
        }
      }
      plans(first: 5) { nodes { title status steps { position description status } } }
      traces(first: 5) {
        nodes {
          name status durationMs totalTokens
          rootSpans { name kind durationMs children { name kind durationMs } }
        }
      }
    }
  }
}
`;

// Aggregates, computed by the database over what the caller may see: usage by model
// (tokens, cost, latency percentiles, errors), where messages were routed, the costliest
// conversations, and counts.
const AGGREGATE_QUERY = `query Usage {
  usage(groupBy: [MODEL]) {
    model count inputTokens outputTokens totalTokens cost
    latencyP50Ms latencyP95Ms latencyP99Ms errorCount errorRate
  }
  # Messages sent with a routing decision, by route: the share of "agent" is the delegation rate.
  routeStats { route messages share }
  # The 5 most expensive conversations, with their message counts and the models they used.
  mostExpensive: conversations(orderBy: {field: COST}, first: 5) {
    nodes {
      title cost totalTokens messageCount
      modelsUsed { model provider calls totalTokens cost }
    }
  }
  conversations { totalCount }
  traces { totalCount }
}
`;

// Which tool fails most often (all time), then the failed tool calls of the last day,
// newest first (the tab's variable is set when the page loads); add toolNames to the
// filter for one tool's failures.
const FAILED_TOOL_CALLS = `query FailedToolCalls($since: DateTime!) {
  # Which tool fails most often? Tool spans by tool, the 5 with the most errors.
  mostFailing: usage(
    groupBy: [TOOL]
    filter: { kinds: [TOOL] }
    orderBy: { measure: ERROR_COUNT, direction: DESC }
    first: 5
  ) {
    tool count errorCount errorRate latencyP95Ms
  }
  toolCalls(filter: { statuses: [FAILED], startedAfter: $since }, first: 20) {
    totalCount
    nodes {
      toolName error startedAt arguments
      message { conversation { id title } }
      span { name durationMs }
    }
  }
}
`;
const A_DAY_AGO = new Date(Date.now() - 24 * 60 * 60 * 1000).toISOString();

const SUBSCRIPTION = `# Runs until stopped: start a conversation (python main.py simulate, or a
# createConversation mutation) and watch it arrive.
subscription Activity {
  conversationsActivity {
    kind seq createdAt
    conversation { id title messageCount }
  }
}
`;

const url = new URL("/graphql", window.location.href).toString();
const subscriptionUrl = url.replace(/^http/, "ws");

// A WebSocket authenticates in connection_init, not with headers: take the
// Authorization header from GraphiQL's headers editor, as it persists it.
function connectionParams() {
  try {
    const headers = JSON.parse(localStorage.getItem("graphiql:headers") || "{}");
    return headers.Authorization ? { Authorization: headers.Authorization } : {};
  } catch {
    return {};
  }
}

const fetcher = GraphiQL.createFetcher({
  url,
  subscriptionUrl,
  wsConnectionParams: connectionParams,
});

ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultTabs: [
      { query: DEEP_QUERY },
      { query: AGGREGATE_QUERY },
      { query: FAILED_TOOL_CALLS, variables: JSON.stringify({ since: A_DAY_AGO }, null, 2) },
      { query: SUBSCRIPTION },
    ],
    defaultEditorToolsVisibility: true,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
  }),
);
