"""The model behind an answer: any OpenAI-compatible chat endpoint (the serving check's vLLM
server with the adapter's name, a hosted model, `transformers serve`)."""

from __future__ import annotations

import os

from openai import OpenAI
from pydantic import BaseModel, Field


class ChatEndpoint(BaseModel):
    base_url: str = Field(description="the endpoint's /v1 URL, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(description="the model id to ask: the LoRA adapter's served name for the tuned model")
    api_key_env: str | None = Field(None, description="environment variable holding the API key, if the endpoint wants one")
    timeout_s: float = Field(60.0, gt=0, description="per request")


class OpenAIChatModel:
    """`n` answers per request; an endpoint that ignores `n` (transformers serve) is asked again."""

    def __init__(self, endpoint: ChatEndpoint) -> None:
        key = os.environ.get(endpoint.api_key_env, "") if endpoint.api_key_env else ""
        self.endpoint = endpoint
        self._client = OpenAI(base_url=endpoint.base_url, api_key=key or "not-needed", timeout=endpoint.timeout_s,
                              max_retries=1)

    def chat(self, messages: list[dict[str, str]], *, n: int, temperature: float, max_tokens: int) -> list[str]:
        texts: list[str] = []
        while len(texts) < n:
            response = self._client.chat.completions.create(
                model=self.endpoint.model, messages=messages, n=n - len(texts),  # type: ignore[arg-type]
                temperature=temperature, max_tokens=max_tokens,
            )
            texts += [c.message.content or "" for c in response.choices]
        return texts[:n]
