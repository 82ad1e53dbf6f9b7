"""The HTTP and WebSocket face of Threadline: the Starlette app and what guards it."""
