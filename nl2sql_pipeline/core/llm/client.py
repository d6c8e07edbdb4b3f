"""One client for any OpenAI-compatible endpoint: sync and async, cached, bounded, retried.

Retries are ours (the openai client's own are switched off) so that each one is counted and
logged: connection errors, timeouts, 429 and 5xx wait `backoff_s * 2**n` (jittered, or the
server's Retry-After) up to `max_retries` times; anything else fails at once with a sentence
naming the fix. JSON output is requested with `response_format` where the endpoint accepts it
(an endpoint that rejects the parameter is asked again without it); callers parse every answer
defensively anyway, because many endpoints ignore it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import openai

from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.llm.cache import ResponseCache, cache_key
from nl2sql_pipeline.core.llm.settings import JsonMode, LLMSettings

if TYPE_CHECKING:
    from nl2sql_pipeline.core.llm.pii import PiiMasker

log = logging.getLogger("nl2sql_pipeline.llm")
_DOWNGRADE: dict[JsonMode, JsonMode] = {"json_schema": "json_object", "json_object": "off", "off": "off"}


class LLMError(Nl2SqlError):
    """The endpoint could not give an answer (unreachable, timing out, rejecting the request)."""


@dataclass
class Completion:
    text: str
    finish_reason: str | None = None
    cached: bool = False
    attempts: int = 0
    seconds: float = 0.0
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass
class LLMStats:
    """Counters over the client's life; safe to update from threads."""

    requests: int = 0  # HTTP attempts sent
    answered: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def _retryable(err: Exception) -> bool:
    if isinstance(err, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(err, openai.APIStatusError) and (err.status_code == 429 or err.status_code >= 500)


def _rejects_response_format(err: Exception) -> bool:
    return isinstance(err, openai.APIStatusError) and err.status_code in (400, 422) and any(
        w in str(err).lower() for w in ("response_format", "json_schema", "json_object", "guided", "structured")
    )


def _describe(err: Exception) -> str:
    if isinstance(err, openai.APITimeoutError):
        return "timed out waiting for an answer"
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err.__context__
        return f"connection failed ({type(cause).__name__ if cause else 'connection error'}: {cause or err})"
    if isinstance(err, openai.APIStatusError):
        return f"HTTP {err.status_code}: {str(err.message)[:300]}"
    return f"{type(err).__name__}: {err}"


def _fix(err: Exception, settings: LLMSettings) -> str:
    if isinstance(err, openai.APITimeoutError):
        return (f"check that the server at {settings.base_url} is healthy, or raise llm.timeout_s "
                f"(now {settings.timeout_s} s) for slow models")
    if isinstance(err, openai.APIConnectionError):
        return f"start the server or correct llm.base_url (now {settings.base_url}) in configs/llm.yaml"
    code = getattr(err, "status_code", None)
    if code in (401, 403):
        return "set NL2SQL_LLM_API_KEY to a key this endpoint accepts"
    if code == 404:
        return f"set llm.model (now {settings.model!r}) to a model the endpoint serves (GET {settings.base_url}/models)"
    if code == 429:
        return "lower llm.concurrency or raise llm.max_retries / llm.backoff_s for this rate limit"
    if code == 400:
        return "the request was rejected: lower llm.max_tokens or the context budgets if the prompt is too long"
    return "check the server's log; raise llm.max_retries if the failures are transient"


@dataclass
class _Request:
    messages: list[dict[str, str]]
    schema: dict[str, Any] | None
    schema_name: str
    max_tokens: int | None
    temperature: float | None
    params: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    attempts: int = 0
    retries: int = 0
    started: float = field(default_factory=time.monotonic)


class LLMClient:
    """`complete(messages)` / `await acomplete(messages)` -> Completion, through the cache."""

    def __init__(self, settings: LLMSettings, api_key: str | None = None, cache: ResponseCache | None = None,
                 masker: PiiMasker | None = None) -> None:
        self.settings = settings
        # Every message is masked before it is keyed or sent; callers restore what they parse.
        self.masker = masker
        self._api_key = api_key or "EMPTY"  # local servers (vLLM, Ollama) accept any key
        self.cache = cache if cache is not None else (ResponseCache() if settings.cache else None)
        self.stats = LLMStats()
        self._json_mode: JsonMode = settings.json_mode
        self._sync: openai.OpenAI | None = None
        self._sync_bound = threading.BoundedSemaphore(settings.concurrency)
        self._async: dict[int, tuple[openai.AsyncOpenAI, asyncio.Semaphore]] = {}

    def __repr__(self) -> str:  # never shows the key
        return f"LLMClient(base_url={self.settings.base_url!r}, model={self.settings.model!r})"

    def _kwargs(self) -> dict[str, Any]:
        s = self.settings
        return dict(base_url=s.base_url, api_key=self._api_key, max_retries=0,
                    timeout=openai.Timeout(s.timeout_s, connect=s.connect_timeout_s))

    def _sync_client(self) -> openai.OpenAI:
        if self._sync is None:
            self._sync = openai.OpenAI(**self._kwargs())
        return self._sync

    def _async_client(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        # httpx connection pools and semaphores belong to one event loop; a new loop gets new ones.
        loop = id(asyncio.get_running_loop())
        if loop not in self._async:
            self._async = {loop: (openai.AsyncOpenAI(**self._kwargs()), asyncio.Semaphore(self.settings.concurrency))}
        return self._async[loop]

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        """Close this loop's connections (before the loop ends, or its transports leak)."""
        entry = self._async.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            await entry[0].close()

    # -- request building --------------------------------------------------------------------

    def _params(self, req: _Request) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {
            "temperature": s.temperature if req.temperature is None else req.temperature,
            "max_tokens": req.max_tokens or s.max_tokens,
        }
        if s.top_p is not None:
            params["top_p"] = s.top_p
        if s.seed is not None:
            params["seed"] = s.seed
        if req.schema is not None and self._json_mode == "json_schema":
            params["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": req.schema_name, "schema": req.schema, "strict": True}}
        elif req.schema is not None and self._json_mode == "json_object":
            params["response_format"] = {"type": "json_object"}
        return params

    def _prepare(self, messages: list[dict[str, str]], schema: dict[str, Any] | None, schema_name: str,
                 max_tokens: int | None, temperature: float | None, variant: str) -> _Request:
        if self.masker is not None:
            messages = [{**m, "content": self.masker.mask_content(m.get("content"))} for m in messages]
        req = _Request(messages, schema, schema_name, max_tokens, temperature)
        req.params = self._params(req)
        # The key holds what was asked for, not what a downgraded endpoint was sent, so a cached
        # answer is found whatever the endpoint turned out to support.
        keyed = {k: v for k, v in req.params.items() if k != "response_format"}
        keyed.update(schema=schema, json_mode=self.settings.json_mode, variant=variant)
        req.key = cache_key(self.settings.base_url, self.settings.model, messages, keyed)
        return req

    def _cached(self, req: _Request) -> Completion | None:
        record = self.cache.get(req.key) if self.cache is not None else None
        if record is None:
            return None
        self.stats.add(cache_hits=1)
        return Completion(record.get("text", ""), record.get("finish_reason"), True, 0, 0.0, record.get("usage") or {})

    def _finish(self, req: _Request, resp: Any) -> Completion:
        choices = getattr(resp, "choices", None) or []
        message = choices[0].message if choices else None
        usage = getattr(resp, "usage", None)
        record = {
            "text": (getattr(message, "content", None) or "") if message else "",
            "finish_reason": choices[0].finish_reason if choices else "empty",
            "usage": {"prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
                      "completion_tokens": getattr(usage, "completion_tokens", 0) or 0} if usage else {},
        }
        self.stats.add(answered=1, **record["usage"])
        if self.cache is not None:
            self.cache.put(req.key, record)
        return Completion(record["text"], record["finish_reason"], False, req.attempts,
                          time.monotonic() - req.started, record["usage"])

    def _after_error(self, err: Exception, req: _Request) -> float:
        """Seconds to wait before asking again (0 and no retry counted after a response_format
        downgrade); raises LLMError when the error is final or the retries are spent."""
        if "response_format" in req.params and _rejects_response_format(err):
            before, self._json_mode = self._json_mode, _DOWNGRADE[self._json_mode]
            log.warning("endpoint rejects response_format %s; asking with %s from now on", before, self._json_mode)
            req.params = self._params(req)
            return 0.0
        if not _retryable(err) or req.retries >= self.settings.max_retries:
            self.stats.add(failures=1)
            raise LLMError(
                f"LLM endpoint {self.settings.base_url} (model {self.settings.model!r}) gave no answer after "
                f"{req.attempts} attempt(s) ({req.retries} retries) in {time.monotonic() - req.started:.1f} s: "
                f"{_describe(err)}.",
                _fix(err, self.settings),
            ) from err
        after = None
        if isinstance(err, openai.APIStatusError):
            try:
                after = float(err.response.headers.get("retry-after", ""))
            except (TypeError, ValueError):
                after = None
        wait = after if after is not None else self.settings.backoff_s * (2 ** req.retries) * (0.5 + random.random())
        wait = min(wait, self.settings.backoff_max_s)
        req.retries += 1
        self.stats.add(retries=1)
        log.warning("LLM request failed (%s); retry %d/%d in %.1f s", _describe(err), req.retries,
                    self.settings.max_retries, wait)
        return wait

    # -- public API --------------------------------------------------------------------------

    def complete(self, messages: list[dict[str, str]], *, schema: dict[str, Any] | None = None,
                 schema_name: str = "response", max_tokens: int | None = None,
                 temperature: float | None = None, variant: str = "") -> Completion:
        """One chat completion (from the cache when this exact request was answered before).

        `variant` separates requests that must not share a cached answer despite equal prompts.
        """
        req = self._prepare(messages, schema, schema_name, max_tokens, temperature, variant)
        if (hit := self._cached(req)) is not None:
            return hit
        with self._sync_bound:
            while True:
                req.attempts += 1
                self.stats.add(requests=1)
                try:
                    resp = self._sync_client().chat.completions.create(
                        model=self.settings.model, messages=req.messages, **req.params)  # type: ignore[arg-type]
                    return self._finish(req, resp)
                except openai.OpenAIError as err:
                    time.sleep(self._after_error(err, req))

    async def acomplete(self, messages: list[dict[str, str]], *, schema: dict[str, Any] | None = None,
                        schema_name: str = "response", max_tokens: int | None = None,
                        temperature: float | None = None, variant: str = "") -> Completion:
        """`complete` for asyncio; at most `concurrency` requests of this loop are in flight."""
        req = self._prepare(messages, schema, schema_name, max_tokens, temperature, variant)
        if (hit := self._cached(req)) is not None:
            return hit
        client, bound = self._async_client()
        async with bound:
            while True:
                req.attempts += 1
                self.stats.add(requests=1)
                try:
                    resp = await client.chat.completions.create(
                        model=self.settings.model, messages=req.messages, **req.params)  # type: ignore[arg-type]
                    return self._finish(req, resp)
                except openai.OpenAIError as err:
                    await asyncio.sleep(self._after_error(err, req))
