"""The serving check: the adapter is listed, the adapter (not the base) answers, and dev probes.

A server can enable LoRA and still serve only the base model (a public implementation of the
reference design did exactly that), and an engine can pass /health and die on its first
request. So the check sends real completions to both names and compares them, token log
probabilities included: a loaded adapter moves them even where the greedy text agrees.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openai import OpenAI
from pydantic import BaseModel, Field

from nl2sql_pipeline.core.predictions import PredictionItem, PredictionSet
from nl2sql_pipeline.core.serving.config import CheckConfig
from nl2sql_pipeline.core.serving.server import Endpoint

LOGPROB_TOLERANCE = 1e-3  # numeric noise between two requests of the same model is far below this


class ProbeItem(BaseModel):
    index: int
    database: str
    question: str
    gold_sql: str
    messages: list[dict[str, str]]  # the chat prompt, as in the exported ShareGPT dev file
    hardness: str | None = None
    topic: str | None = None


class Answer(BaseModel):
    model: str
    text: str
    logprobs: list[float] = Field(default_factory=list)


class AnswerComparison(BaseModel):
    prompt: str
    base: Answer
    adapter: Answer
    text_differs: bool
    max_logprob_delta: float  # over the common prefix of generated tokens, or inf if the texts differ

    @property
    def differs(self) -> bool:
        return self.text_differs or self.max_logprob_delta > LOGPROB_TOLERANCE


class ProbeRun(BaseModel):
    """Latency and throughput of one model over the probed items (quality is scored separately)."""

    label: str
    model: str
    items: int
    failed_requests: int
    concurrency: int
    wall_s: float
    samples_per_s: float
    latency_p50_s: float | None
    latency_p95_s: float | None
    first_error: str | None = None


def client_for(endpoint: Endpoint, timeout_s: float, api_key: str | None = None) -> OpenAI:
    return OpenAI(base_url=endpoint.base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0)


def _chat(client: OpenAI, model: str, messages: list[dict[str, str]], max_tokens: int, logprobs: bool,
          ignore_eos: bool = False) -> Answer:
    response = client.chat.completions.create(
        model=model, messages=messages, max_tokens=max_tokens, temperature=0.0, logprobs=logprobs,  # type: ignore[arg-type]
        extra_body={"ignore_eos": True} if ignore_eos else None,
    )
    choice = response.choices[0]
    content = choice.logprobs.content if logprobs and choice.logprobs and choice.logprobs.content else []
    return Answer(model=model, text=choice.message.content or "", logprobs=[t.logprob for t in content])


def compare_answers(client: OpenAI, endpoint: Endpoint, check: CheckConfig) -> AnswerComparison:
    messages = [{"role": "user", "content": check.prompt}]
    base = _chat(client, endpoint.base_model, messages, check.max_tokens, logprobs=True)
    adapter = _chat(client, endpoint.adapter_name, messages, check.max_tokens, logprobs=True)
    text_differs = base.text != adapter.text
    pairs = list(zip(base.logprobs, adapter.logprobs))
    delta = float("inf") if text_differs else max((abs(a - b) for a, b in pairs), default=0.0)
    return AnswerComparison(prompt=check.prompt, base=base, adapter=adapter, text_differs=text_differs,
                            max_logprob_delta=delta)


def _percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def probe(client: OpenAI, model: str, label: str, items: list[ProbeItem], check: CheckConfig,
          source: str) -> tuple[PredictionSet, ProbeRun]:
    """Ask `model` every item with at most `check.concurrency` requests in flight."""

    def ask(item: ProbeItem) -> tuple[str, float, str | None]:
        started = time.perf_counter()
        try:
            text = _chat(client, model, item.messages, check.probe_max_tokens, logprobs=False,
                         ignore_eos=check.ignore_eos).text
            return text, time.perf_counter() - started, None
        except Exception as err:  # noqa: BLE001 (one failed request is a result to report, not a crash)
            return "", time.perf_counter() - started, f"{type(err).__name__}: {err}"

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=check.concurrency) as pool:
        answers = list(pool.map(ask, items))
    wall = time.perf_counter() - started
    errors = [e for _, _, e in answers if e]
    latencies = sorted(t for _, t, e in answers if not e)
    predictions = PredictionSet(
        label=label, model=model, source=source,
        items=[PredictionItem(index=i.index, database=i.database, question=i.question, gold_sql=i.gold_sql,
                              output=text, hardness=i.hardness, topic=i.topic, latency_s=round(t, 4))
               for i, (text, t, _) in zip(items, answers)],
        notes=[f"{len(errors)} requests failed; first: {errors[0]}"] if errors else [],
    )
    run = ProbeRun(label=label, model=model, items=len(items), failed_requests=len(errors),
                   concurrency=check.concurrency, wall_s=round(wall, 3),
                   samples_per_s=round(len(items) / wall, 3) if wall > 0 else 0.0,
                   latency_p50_s=_percentile(latencies, 50), latency_p95_s=_percentile(latencies, 95),
                   first_error=errors[0] if errors else None)
    return predictions, run


def listed_models(client: OpenAI) -> list[dict[str, Any]]:
    return [m.model_dump() for m in client.models.list().data]
