// One subscription through Apollo Client's HttpLink (multipart subscriptions over HTTP),
// driven by tests/web/test_multipart_subscriptions.py. Prints "ready", then each result
// as a JSON line, then {"complete": true} or {"error": ...}.
//   node apollo_multipart.mjs <url> <request JSON: {query, variables}> <headers JSON> <count>
import { ApolloClient, InMemoryCache, HttpLink, gql } from "@apollo/client/core/index.js";

const [url, request, headers, count] = process.argv.slice(2);
const { query, variables } = JSON.parse(request);
const client = new ApolloClient({
  link: new HttpLink({ uri: url, headers: JSON.parse(headers) }),
  cache: new InMemoryCache(),
});
let received = 0;
const subscription = client
  .subscribe({ query: gql(query), variables, fetchPolicy: "no-cache" })
  .subscribe({
    next(result) {
      console.log(JSON.stringify({ data: result.data, errors: result.errors }));
      received += 1;
      if (received >= Number(count)) finish({ complete: true });
    },
    error(error) {
      finish({ error: error.message, graphQLErrors: error.graphQLErrors ?? [] });
    },
    complete() {
      finish({ complete: true });
    },
  });
console.log(JSON.stringify({ ready: true }));

function finish(line) {
  console.log(JSON.stringify(line));
  subscription.unsubscribe();
  client.stop();
  process.exit(0);
}
