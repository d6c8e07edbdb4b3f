"""The LLM client against real sockets: a refused port, a server that never answers, the real
`transformers serve` endpoint; retry/downgrade/concurrency logic against a scripted HTTP server."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nl2sql_pipeline.core.llm import LLMClient, LLMError, LLMSettings
from nl2sql_pipeline.core.llm.cache import ResponseCache
from nl2sql_pipeline_tests.llm_servers import refused_url, silent_server

SECRET = "sk-test-SECRET-never-shown"
OTHER_FAKE_KEY = "another-key"
MESSAGES = [{"role": "user", "content": "Say hi"}]


def settings(url: str, **kw: object) -> LLMSettings:
    base = dict(base_url=url, model="m", timeout_s=1.0, connect_timeout_s=1.0, max_retries=2, backoff_s=0.05,
                backoff_max_s=0.2, max_tokens=8)
    return LLMSettings(**{**base, **kw})


def test_refused_port_fails_clearly_with_retries_counted() -> None:
    client = LLMClient(settings(refused_url()), api_key=SECRET)
    with pytest.raises(LLMError) as caught:
        client.complete(MESSAGES)
    message = str(caught.value)
    assert "3 attempt(s) (2 retries)" in message and "connection failed" in message
    assert "start the server or correct llm.base_url" in message and SECRET not in message
    assert (client.stats.requests, client.stats.retries, client.stats.failures) == (3, 2, 1)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_silent_server_times_out_within_the_configured_time(use_async: bool) -> None:
    with silent_server() as url:
        client = LLMClient(settings(url, timeout_s=0.5, max_retries=1), api_key=SECRET)
        started = time.monotonic()
        with pytest.raises(LLMError) as caught:
            if use_async:
                asyncio.run(client.acomplete(MESSAGES))
            else:
                client.complete(MESSAGES)
        elapsed = time.monotonic() - started
    assert "timed out waiting for an answer" in str(caught.value) and "raise llm.timeout_s" in str(caught.value)
    assert "2 attempt(s) (1 retries)" in str(caught.value)
    assert client.stats.retries == 1
    # two attempts of 0.5 s plus one backoff of at most 0.2 s, with generous slack for a busy machine
    assert 1.0 <= elapsed < 10


class Scripted:
    """A loopback HTTP server answering chat completions from a script of (status, headers, body)."""

    def __init__(self, script: list[tuple[int, dict[str, str], dict]], delay: float = 0.0) -> None:
        self.script, self.delay = list(script), delay
        self.bodies: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner.lock:
                    owner.bodies.append(body)
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                    status, headers, payload = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                time.sleep(owner.delay)
                if callable(payload):
                    status, payload = payload(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with owner.lock:
                    owner.in_flight -= 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ok(text: str = "hello") -> dict:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def error(message: str) -> dict:
    return {"error": {"message": message, "type": "error"}}


@pytest.fixture
def scripted() -> Iterator[list[Scripted]]:
    made: list[Scripted] = []
    yield made
    for s in made:
        s.close()


def test_429_and_5xx_are_retried_with_retry_after(scripted: list[Scripted]) -> None:
    server = Scripted([(429, {"Retry-After": "0.1"}, error("slow down")), (503, {}, error("overloaded")),
                       (200, {}, ok("fine"))])
    scripted.append(server)
    client = LLMClient(settings(server.url), api_key=SECRET)
    answer = client.complete(MESSAGES)
    assert answer.text == "fine" and answer.attempts == 3 and not answer.cached
    assert (client.stats.requests, client.stats.retries) == (3, 2)
    assert client.complete(MESSAGES).cached and client.stats.requests == 3


@pytest.mark.parametrize(("status", "fix"), [(401, "NL2SQL_LLM_API_KEY"), (404, "set llm.model"), (400, "too long")])
def test_client_errors_fail_at_once_naming_the_fix(scripted: list[Scripted], status: int, fix: str) -> None:
    server = Scripted([(status, {}, error("nope"))])
    scripted.append(server)
    client = LLMClient(settings(server.url), api_key=SECRET)
    with pytest.raises(LLMError, match=fix):
        client.complete(MESSAGES)
    assert (client.stats.requests, client.stats.retries) == (1, 0)


def test_rejected_response_format_is_downgraded_once(scripted: list[Scripted]) -> None:
    def answer(body: dict) -> tuple[int, dict]:
        if body.get("response_format", {}).get("type") == "json_schema":
            return 400, error("response_format json_schema is not supported")
        return 200, ok('{"a": 1}')

    server = Scripted([(200, {}, answer)])
    scripted.append(server)
    client = LLMClient(settings(server.url), api_key=SECRET)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert client.complete(MESSAGES, schema=schema).text == '{"a": 1}'
    assert [b.get("response_format", {}).get("type") for b in server.bodies] == ["json_schema", "json_object"]
    client.complete([{"role": "user", "content": "again"}], schema=schema)
    assert server.bodies[-1]["response_format"] == {"type": "json_object"}  # remembered
    assert client.stats.retries == 0


def test_concurrency_is_bounded(scripted: list[Scripted]) -> None:
    server = Scripted([(200, {}, ok())], delay=0.2)
    scripted.append(server)
    client = LLMClient(settings(server.url, concurrency=3, timeout_s=5), api_key=SECRET)

    async def many() -> list:
        return await asyncio.gather(*(client.acomplete([{"role": "user", "content": str(i)}]) for i in range(9)))

    assert len(asyncio.run(many())) == 9
    assert server.max_in_flight == 3


def test_api_key_is_never_logged_cached_or_shown(scripted: list[Scripted], caplog: pytest.LogCaptureFixture) -> None:
    server = Scripted([(500, {}, error("boom")), (200, {}, ok())])
    scripted.append(server)
    cache = ResponseCache()
    client = LLMClient(settings(server.url), api_key=SECRET, cache=cache)
    with caplog.at_level(logging.DEBUG):
        client.complete(MESSAGES)
    assert SECRET not in caplog.text and SECRET not in repr(client)
    assert all(SECRET not in p.read_text() for p in cache.folder.rglob("*.json"))
    other = LLMClient(settings(server.url), api_key=OTHER_FAKE_KEY, cache=cache)
    assert other.complete(MESSAGES).cached  # the key is not part of the cache key


def test_real_server_free_text_answers_are_cached(openai_server: str, tiny_model) -> None:
    client = LLMClient(settings(openai_server, model=str(tiny_model), timeout_s=60, max_tokens=12))
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    first = client.complete(MESSAGES, schema=schema)
    assert first.attempts == 1 and not first.cached and first.finish_reason in ("length", "stop")
    again = asyncio.run(client.acomplete(MESSAGES, schema=schema))
    assert again.cached and again.text == first.text
    assert (client.stats.requests, client.stats.cache_hits) == (1, 1)
