// The README's recipe: Apollo Client given the server's possibleTypes
// (GET /graphql/possible-types.json), so that fields selected through an interface
// survive its cache; driven by tests/web/test_client_recipes.py.
//   node apollo_possible_types.mjs <http url> <conversation id> <cursor> <count> <"with" | "without">
// Prints {"ready": true} once connected, then each event as Apollo delivers it and as
// its cache stored it.
import { ApolloClient, InMemoryCache, gql } from "@apollo/client/core/index.js";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions/index.js";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, conversationId, after, count, mode] = process.argv.slice(2);
const print = (line) => console.log(JSON.stringify(line));

const possibleTypes =
  mode === "with" ? await (await fetch(`${url}/possible-types.json`)).json() : undefined;
const client = new ApolloClient({
  link: new GraphQLWsLink(
    createClient({
      url: url.replace(/^http/, "ws"),
      webSocketImpl: WebSocket,
      on: { connected: () => print({ ready: true }) },
    }),
  ),
  cache: new InMemoryCache({ possibleTypes }),
});

const events = client.subscribe({
  query: gql`
    subscription ($conversationId: ID!, $after: String) {
      conversationEvents(conversationId: $conversationId, after: $after) {
        seq
        kind
        ... on EventWithText {
          text
        }
      }
    }
  `,
  variables: { conversationId, after },
});
let received = 0;
await new Promise((resolve, reject) => {
  const subscription = events.subscribe({
    next: ({ data }) => {
      // What Apollo's cache stored of the event (it writes each before delivering it):
      // what a component reading the cache gets.
      const stored = client.cache.extract().ROOT_SUBSCRIPTION;
      const field = Object.keys(stored).find((key) => key.startsWith("conversationEvents"));
      const { __typename, ...cached } = stored[field];
      print({ delivered: data.conversationEvents, cached });
      received += 1;
      if (received === Number(count)) {
        subscription.unsubscribe();
        resolve();
      }
    },
    error: reject,
  });
});
client.stop();
process.exit(0);
