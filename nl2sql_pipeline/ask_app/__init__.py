"""The HTTP face of the answering path: a FastAPI app, a WebSocket of stages, one static page."""
