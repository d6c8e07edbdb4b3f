"""Training recipes (`configs/train/*.yaml`), validated before any process starts.

Three backends: `llamafactory` (the reference design's `llamafactory-cli train` command, key for key),
`peft` (transformers Trainer + peft, the DeepSeek-Coder branch) and `grpo` (TRL's GRPOTrainer after
fine-tuning, rewarded by execution; `grpo_recipe.py`). The base model path comes
from the recipe or from the environment variable the recipe names, never from code.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from nl2sql_pipeline.core.config import REPO_ROOT
from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.training.grpo_recipe import GrpoRecipe

RECIPES_DIR = REPO_ROOT / "configs" / "train"
# Every key of the reference design's command (case study, "Stage 1 · LLaMA-Factory CLI").
REFERENCE_COMMAND_KEYS = (
    "stage", "model_name_or_path", "finetuning_type", "template", "dataset_dir", "dataset", "cutoff_len",
    "learning_rate", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps",
    "lr_scheduler_type", "bf16", "lora_rank", "lora_alpha", "lora_target",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Generation(_Strict):
    """Decoding for prediction. Greedy by default (deterministic scores); `do_sample: true` gives the
    reference design's before/after settings (top_p 0.7, temperature 0.95)."""

    max_new_tokens: int = Field(512, ge=1)
    do_sample: bool = False
    top_p: float = Field(0.7, gt=0, le=1)
    temperature: float = Field(0.95, gt=0)
    per_device_eval_batch_size: int = Field(8, ge=1)


class _Recipe(_Strict):
    model_name_or_path: str | None = None
    model_env: str = "NL2SQL_BASE_MODEL"
    cutoff_len: int = Field(2048, ge=16)
    learning_rate: float = Field(gt=0)
    num_train_epochs: float = Field(gt=0)
    per_device_train_batch_size: int = Field(ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    lr_scheduler_type: str = "cosine"
    bf16: bool = False
    lora_rank: int = Field(ge=1)
    lora_alpha: int = Field(ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    logging_steps: int = Field(10, ge=1)
    max_steps: int | None = Field(None, ge=1)  # a cap for smoke runs and benchmarks
    seed: int = 42
    template: str | None = None  # LLaMA-Factory chat template (training there; prediction for both backends)
    generation: Generation = Generation()

    @field_validator("template")
    @classmethod
    def _known_template(cls, value: str | None) -> str | None:
        known = llamafactory_templates()
        if value is not None and known and value not in known:
            near = difflib.get_close_matches(value, sorted(known), n=6, cutoff=0.5)
            raise ValueError(f"unknown LLaMA-Factory template {value!r}; similar: {', '.join(near) or 'none'}")
        return value


class LlamaFactoryRecipe(_Recipe):
    """The reference design's `llamafactory-cli train` command as data (plus LLaMA-Factory pass-through keys)."""

    backend: Literal["llamafactory"]
    stage: Literal["sft"] = "sft"
    finetuning_type: Literal["lora"] = "lora"
    template: str  # required here: LLaMA-Factory formats training examples with it
    dataset_format: Literal["alpaca", "sharegpt"] = "alpaca"
    lora_target: str = "all"
    save_steps: int = Field(500, ge=1)
    extra_args: dict[str, Any] = Field(default_factory=dict)  # any other LLaMA-Factory argument

    @field_validator("extra_args")
    @classmethod
    def _no_shadowing(cls, value: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(set(value) & set(cls.model_fields))
        if clash:
            raise ValueError(f"extra_args repeats recipe keys {clash}: set them at the top level instead")
        return value


class PeftRecipe(_Recipe):
    """The DeepSeek-Coder branch: transformers Trainer + peft LoRA with early stopping on eval loss."""

    backend: Literal["peft"]
    target_modules: list[str] = Field(min_length=1)
    dataset_format: Literal["auto", "alpaca", "sharegpt"] = "auto"
    early_stopping_patience: int = Field(3, ge=1)
    eval_steps: int = Field(50, ge=1)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)


AnyRecipe = LlamaFactoryRecipe | PeftRecipe | GrpoRecipe
Recipe = Annotated[AnyRecipe, Field(discriminator="backend")]
_RECIPE = TypeAdapter(Recipe)
_CLASSES: dict[str, type[BaseModel]] = {"llamafactory": LlamaFactoryRecipe, "peft": PeftRecipe, "grpo": GrpoRecipe}


@functools.cache
def llamafactory_templates() -> frozenset[str]:
    """Template names registered in the installed LLaMA-Factory, read from its source (importing it is slow)."""
    spec = importlib.util.find_spec("llamafactory")
    if spec is None or not spec.origin:
        return frozenset()
    source = (Path(spec.origin).parent / "data" / "template.py").read_text(encoding="utf-8")
    return frozenset(re.findall(r'register_template\(\s*name="([^"]+)"', source))


def _known_keys(loc: tuple) -> list[str]:
    """The keys allowed where an unknown key `loc` was found (the recipe's, or a nested section's)."""
    model: Any = _CLASSES.get(str(loc[0])) if loc else None
    for part in loc[1:-1]:
        field = model.model_fields.get(str(part)) if model else None
        model = field.annotation if field and isinstance(field.annotation, type) else None
    return sorted(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(map(str, e["loc"][1:] or e["loc"])) or "(top level)"
        hint = ""
        if e["type"] == "extra_forbidden":
            near = difflib.get_close_matches(str(e["loc"][-1]), _known_keys(e["loc"]), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
        lines.append(f"  - {where}: {e['msg']}{hint}")
    return "\n".join(lines)


def parse_recipe(data: Mapping[str, Any], source: str = "<dict>") -> AnyRecipe:
    try:
        return _RECIPE.validate_python(dict(data))
    except ValidationError as err:
        raise ConfigError(
            f"Invalid training recipe {source}:\n{_describe(err)}\n",
            "correct the keys named above (see configs/train/*.yaml; `backend` is llamafactory, peft or grpo).",
        ) from None


def load_recipe(path_or_name: str | Path, overrides: Mapping[str, Any] | None = None) -> AnyRecipe:
    """A recipe file (or a name under configs/train/) with per-run `overrides` merged over it, validated."""
    path = Path(path_or_name)
    if not path.exists() and (RECIPES_DIR / f"{path_or_name}.yaml").exists():
        path = RECIPES_DIR / f"{path_or_name}.yaml"
    if not path.exists():
        known = ", ".join(p.stem for p in sorted(RECIPES_DIR.glob("*.yaml")))
        raise ConfigError(f"Training recipe {path} does not exist.", f"use one of: {known}, or a path to a YAML file.")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"Training recipe {path} is not a mapping of keys.", "write it as `key: value` lines.")
    merged = _merge(data, dict(overrides or {}))
    return parse_recipe(merged, str(path))


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`; nested sections (generation, reward, reward.weights) merge key by key,
    while `extra_args` is replaced whole, as before."""
    out = dict(base)
    for key, value in over.items():
        nested = isinstance(value, dict) and isinstance(base.get(key), dict) and key != "extra_args"
        out[key] = _merge(base[key], value) if nested else value
    return out


def resolve_model_path(recipe: AnyRecipe, env: Mapping[str, str] | None = None) -> Path:
    """The local base-model folder: the recipe's `model_name_or_path`, else `$<model_env>`."""
    env = os.environ if env is None else env
    value = recipe.model_name_or_path or env.get(recipe.model_env)
    if not value:
        raise ConfigError(
            f"The recipe names no base model: model_name_or_path is unset and ${recipe.model_env} is empty.",
            f"export {recipe.model_env}=/path/to/model (a local folder with config.json), "
            "or set model_name_or_path in the recipe or the trainer's overrides.",
        )
    path = Path(value).expanduser()
    if not (path / "config.json").exists():
        raise ConfigError(
            f"Base model {value!r} is not a local model folder (no config.json there); nothing is downloaded.",
            "download the weights once (e.g. `huggingface-cli download ... --local-dir DIR`) and point "
            f"model_name_or_path or ${recipe.model_env} at that folder.",
        )
    return path.resolve()


def check_runnable(recipe: AnyRecipe, *, cuda: bool | None = None) -> None:
    """Refuse settings that cannot work on this machine, before any training starts."""
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if recipe.bf16 and not cuda:
        raise ConfigError(
            "The recipe asks for bf16 but this machine has no CUDA GPU (torch.cuda.is_available() is False); "
            "a multi-billion-parameter model cannot be trained here in any precision in reasonable time.",
            "run it on a GPU machine, or for a small model set `bf16: false` (trainer resource overrides "
            "`{bf16: false}`, or a copy of the recipe).",
        )
    if isinstance(recipe, GrpoRecipe) and recipe.generation_backend == "vllm":
        if not cuda:
            raise ConfigError(
                "The GRPO recipe asks for generation_backend: vllm, but this machine has no CUDA GPU.",
                "use generation_backend: auto (vLLM on a GPU machine, transformers generation on CPU) or "
                "transformers, or run on a GPU machine.",
            )
        if importlib.util.find_spec("vllm") is None:
            raise ConfigError("The GRPO recipe asks for generation_backend: vllm, but vllm is not installed.",
                              "install the vllm release TRL 0.24 supports (0.10.2) on the GPU machine, or use "
                              "generation_backend: auto.")


def grpo_uses_vllm(recipe: GrpoRecipe, *, cuda: bool) -> bool:
    """Whether rollouts are generated by TRL's colocated vLLM (else transformers' generate)."""
    if recipe.generation_backend == "auto":
        return cuda and importlib.util.find_spec("vllm") is not None
    return recipe.generation_backend == "vllm"
