// One subscription through the real graphql-sse client, in distinct connections mode
// or, with "single", single connection mode; driven by tests/web/test_sse*.py. Prints
// "ready" once the client has sent the request, then each result as a JSON line, then
// {"complete": true} or {"error": ...}.
//   node sse_subscribe.mjs <url> <request JSON: {query, variables}> <headers JSON> <count> [single]
import { createClient } from "graphql-sse";

const [url, request, headers, count, mode] = process.argv.slice(2);
const client = createClient({
  url,
  headers: JSON.parse(headers),
  singleConnection: mode === "single",
  retryAttempts: 0,
});
const results = client.iterate(JSON.parse(request));
let received = 0;
try {
  const first = results.next();
  console.log(JSON.stringify({ ready: true }));
  for (let next = await first; !next.done; next = await results.next()) {
    console.log(JSON.stringify(next.value));
    received += 1;
    if (received >= Number(count)) break;
  }
  console.log(JSON.stringify({ complete: true }));
} catch (error) {
  console.log(JSON.stringify({ error: error instanceof Error ? error.message : error }));
} finally {
  await results.return?.();
  client.dispose();
}
