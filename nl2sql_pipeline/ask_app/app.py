"""`POST /api/ask`, `WS /api/ask/stream`, `POST /api/feedback` and the page at `/`.

Bound to anything but loopback, the app refuses to start without a bearer token (from the
environment variable `NL2SQL_ASK_TOKEN`); with a token set, every API call must carry it
(`Authorization: Bearer ...`, or `?token=` on the WebSocket, which browsers cannot give headers).
Answers carry SQL, columns and capped rows, never a URL or a credential.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError

from nl2sql_pipeline.core.ask.answer import Answer, AskConfig, ChatModel, answer_question
from nl2sql_pipeline.core.ask.feedback import FeedbackEvent, record_feedback
from nl2sql_pipeline.core.ask.schema import AskSchema, schema_for
from nl2sql_pipeline.core.config import DatabasesFile
from nl2sql_pipeline.core.errors import ConfigError, Nl2SqlError

TOKEN_ENV = "NL2SQL_ASK_TOKEN"
STATIC = Path(__file__).parent / "static"


class AskRequest(BaseModel):
    database: str
    question: str = Field(min_length=1, max_length=2000)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def required_token(host: str) -> str | None:
    """The token API calls must carry; an error when the app would be open to a network."""
    token = os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"Refusing to serve the ask API on {host} without authentication: {TOKEN_ENV} is not set.",
            f"export {TOKEN_ENV}=<a long random string> (askers send it as a bearer token), or bind to 127.0.0.1.",
        )
    return token


class Schemas:
    """Each database's AskSchema, reflected on first use and kept (a lock per process)."""

    def __init__(self, databases: DatabasesFile) -> None:
        self.databases = databases
        self._built: dict[str, AskSchema] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> AskSchema:
        with self._lock:
            if name not in self._built:
                self._built[name] = schema_for(self.databases.get(name))
            return self._built[name]


def create_app(databases: DatabasesFile, model: ChatModel, *, token: str | None = None,
               config: AskConfig | None = None) -> FastAPI:
    app = FastAPI(title="nl2sql ask", docs_url=None, redoc_url=None)
    schemas = Schemas(databases)
    config = config or AskConfig()

    def authorize(given: str | None) -> None:
        if token is not None and not (given and hmac.compare_digest(given, token)):
            raise HTTPException(status_code=401, detail=f"missing or wrong bearer token (the server's {TOKEN_ENV})")

    def bearer(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header[7:] if header.lower().startswith("bearer ") else None

    def answer(req: AskRequest, on_event: Any = None) -> Answer:
        try:
            schema = schemas.get(req.database)
        except Nl2SqlError as err:
            raise HTTPException(status_code=404 if "No database named" in str(err) else 503, detail=str(err)) from None
        return answer_question(req.question, schema, model, config, on_event)

    @app.get("/")
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/api/databases")
    def list_databases(request: Request) -> dict[str, Any]:
        authorize(bearer(request))
        return {"databases": [d.name for d in databases.databases], "token_required": token is not None}

    @app.get("/api/auth")
    def auth_mode() -> dict[str, bool]:
        return {"token_required": token is not None}

    @app.post("/api/ask")
    def ask(req: AskRequest, request: Request) -> Answer:
        authorize(bearer(request))
        return answer(req)

    @app.post("/api/feedback")
    def feedback(event: FeedbackEvent, request: Request) -> dict[str, str]:
        authorize(bearer(request))
        if event.database not in {d.name for d in databases.databases}:
            raise HTTPException(status_code=404, detail=f"no database named {event.database!r} is configured")
        record_feedback(event)
        return {"recorded": event.verdict}

    @app.websocket("/api/ask/stream")
    async def stream(ws: WebSocket) -> None:
        given = ws.query_params.get("token")
        await ws.accept()  # then close with a code the page can read (a refused handshake is a bare 403)
        if token is not None and not (given and hmac.compare_digest(given, token)):
            await ws.close(code=4401, reason="missing or wrong token")
            return
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    req = AskRequest.model_validate(await ws.receive_json())
                except ValidationError as err:
                    await ws.send_json({"error": str(err).splitlines()[0]})
                    continue
                events: asyncio.Queue = asyncio.Queue()

                def on_event(stage: str, payload: dict[str, Any]) -> None:
                    loop.call_soon_threadsafe(events.put_nowait, {"stage": stage, **payload})

                job = loop.run_in_executor(None, answer, req, on_event)
                while not (job.done() and events.empty()):
                    try:
                        await ws.send_json(await asyncio.wait_for(events.get(), timeout=0.1))
                    except asyncio.TimeoutError:
                        continue
                try:
                    await ws.send_json({"answer": (await job).model_dump(mode="json")})
                except HTTPException as err:
                    await ws.send_json({"error": err.detail})
        except WebSocketDisconnect:
            return

    return app
