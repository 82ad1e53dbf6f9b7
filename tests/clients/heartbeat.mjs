// The server's graphql-transport-ws heartbeat as the real graphql-ws client sees it,
// driven by tests/web/test_heartbeat.py. Connects (no subscription needed), then prints
// one JSON line: {pings, code, reason}.
//   node heartbeat.mjs <ws url> <pings to wait for> <"pong" | "silent">
// "silent" is a client that never answers a ping (disablePong): the server must close
// its socket; "pong" answers, and the socket stays open for as many pings as asked.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, wanted, mode] = process.argv.slice(2);
let pings = 0;
let finished = false;
const done = (code, reason) => {
  if (finished) return; // disposing closes the socket too
  finished = true;
  console.log(JSON.stringify({ pings, code, reason }));
  client.dispose();
};
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  lazy: false,
  retryAttempts: 0,
  disablePong: mode === "silent",
  onNonLazyError: () => {},
  on: {
    ping: (received) => {
      if (!received) return;
      pings += 1;
      if (mode === "pong" && pings >= Number(wanted)) done(null, null);
    },
    closed: (event) => done(event.code, event.reason),
  },
});
