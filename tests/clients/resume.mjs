// The README's recipe: a graphql-ws subscription that resumes from its last cursor
// after a dropped connection, driven by tests/web/test_client_recipes.py.
//   node resume.mjs <ws url> <conversation id> <cursor to start after> <drop after N> <total>
// Prints {"connected": n} on each connection, {"seq", "cursor"} for each event, and
// {"done": true} after `total` events; after the Nth it drops its socket (terminate:
// no close frame, as a network failure would), and the client reconnects.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, conversationId, after, dropAfter, total] = process.argv.slice(2);
const print = (line) => console.log(JSON.stringify(line));

let socket;
let connections = 0;
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 5,
  retryWait: async () => {}, // at once: the test waits for nothing else
  shouldRetry: () => true, // a dropped socket (1006) is worth retrying
  on: {
    connected: (connected) => {
      socket = connected;
      connections += 1;
      print({ connected: connections });
    },
  },
});

// The recipe: graphql-ws re-sends this same payload when it reconnects, so the cursor
// lives in it and moves with every event; a reconnect asks for what came after it.
const variables = { conversationId, after };
const query = `subscription ($conversationId: ID!, $after: String) {
  conversationEvents(conversationId: $conversationId, after: $after) { seq cursor }
}`;

let received = 0;
await new Promise((resolve, reject) => {
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: ({ data, errors }) => {
        if (errors) return reject(new Error(JSON.stringify(errors)));
        const event = data.conversationEvents;
        variables.after = event.cursor;
        received += 1;
        print({ seq: event.seq, cursor: event.cursor });
        if (received === Number(total)) {
          unsubscribe();
          resolve();
        } else if (received === Number(dropAfter)) {
          socket.terminate();
        }
      },
      error: reject,
      complete: resolve,
    },
  );
});
print({ done: true });
await client.dispose();
