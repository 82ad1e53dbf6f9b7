"""Live events (graphql-transport-ws subscriptions) arrive with the live-events issue."""
