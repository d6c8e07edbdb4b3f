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

from pydantic import Field, field_validator

from nl2sql_pipeline.core.config_loader import REPO_ROOT, StrictModel, read_mapping, validate
from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.training.grpo_recipe import GrpoRecipe

RECIPES_DIR = REPO_ROOT / "configs" / "train"
# Every key of the reference design's command (case study, "Stage 1 · LLaMA-Factory CLI").
REFERENCE_COMMAND_KEYS = (
    "stage", "model_name_or_path", "finetuning_type", "template", "dataset_dir", "dataset", "cutoff_len",
    "learning_rate", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps",
    "lr_scheduler_type", "bf16", "lora_rank", "lora_alpha", "lora_target",
)


RECIPE_WHAT = "training recipe"
RECIPE_SEE = "configs/train/*.yaml; `backend` is llamafactory, peft or grpo"


class Generation(StrictModel):
    """Decoding for prediction. Greedy by default (deterministic scores); `do_sample: true` gives the
    reference design's before/after settings (top_p 0.7, temperature 0.95)."""

    max_new_tokens: int = Field(512, ge=1, description="answer token limit of a prediction")
    do_sample: bool = Field(False, description="sample instead of greedy decoding (then top_p and temperature apply)")
    top_p: float = Field(0.7, gt=0, le=1, description="nucleus sampling, when do_sample")
    temperature: float = Field(0.95, gt=0, description="sampling temperature, when do_sample")
    per_device_eval_batch_size: int = Field(8, ge=1, description="prompts predicted at once per device")


class _Recipe(StrictModel):
    model_name_or_path: str | None = Field(None, description="the local base-model folder; default: $<model_env>")
    model_env: str = Field("NL2SQL_BASE_MODEL", description="environment variable naming the base-model folder")
    cutoff_len: int = Field(2048, ge=16, description="tokens per training example; longer ones are cut")
    learning_rate: float = Field(gt=0, description="peak learning rate")
    num_train_epochs: float = Field(gt=0, description="passes over the training split")
    per_device_train_batch_size: int = Field(ge=1, description="examples per device and step")
    gradient_accumulation_steps: int = Field(1, ge=1, description="steps accumulated into one optimizer update")
    lr_scheduler_type: str = Field("cosine", description="transformers learning-rate schedule, e.g. cosine or constant")
    bf16: bool = Field(False, description="train in bfloat16 (needs a CUDA GPU)")
    lora_rank: int = Field(ge=1, description="rank of the LoRA matrices")
    lora_alpha: int = Field(ge=1, description="LoRA scaling numerator (the update is scaled by alpha / rank)")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the LoRA input")
    logging_steps: int = Field(10, ge=1, description="steps between logged losses")
    max_steps: int | None = Field(None, ge=1, description="a cap on optimizer steps, for smoke runs and benchmarks")
    seed: int = Field(42, description="seed of data order and initialisation")
    template: str | None = Field(
        None, description="LLaMA-Factory chat template (training there; prediction for both backends)"
    )
    generation: Generation = Field(Generation(), description="decoding for the before/after predictions")

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

    backend: Literal["llamafactory"] = Field(description="which trainer runs the recipe")
    stage: Literal["sft"] = Field("sft", description="LLaMA-Factory stage (supervised fine-tuning)")
    finetuning_type: Literal["lora"] = Field("lora", description="LLaMA-Factory fine-tuning type")
    template: str = Field(description="LLaMA-Factory chat template; required here: it formats the training examples")
    dataset_format: Literal["alpaca", "sharegpt"] = Field("alpaca", description="which exported dataset is trained on")
    lora_target: str = Field("all", description="modules LoRA adapts (LLaMA-Factory's lora_target)")
    save_steps: int = Field(500, ge=1, description="steps between checkpoints")
    extra_args: dict[str, Any] = Field(default_factory=dict, description="any other LLaMA-Factory argument")

    @field_validator("extra_args")
    @classmethod
    def _no_shadowing(cls, value: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(set(value) & set(cls.model_fields))
        if clash:
            raise ValueError(f"extra_args repeats recipe keys {clash}: set them at the top level instead")
        return value


class PeftRecipe(_Recipe):
    """The DeepSeek-Coder branch: transformers Trainer + peft LoRA with early stopping on eval loss."""

    backend: Literal["peft"] = Field(description="which trainer runs the recipe")
    target_modules: list[str] = Field(min_length=1, description="module names LoRA adapts, e.g. [q_proj, v_proj]")
    dataset_format: Literal["auto", "alpaca", "sharegpt"] = Field(
        "auto", description="which exported dataset is trained on; auto: whichever the export holds"
    )
    early_stopping_patience: int = Field(3, ge=1, description="evaluations without a better eval loss before stopping")
    eval_steps: int = Field(50, ge=1, description="steps between evaluations of the dev loss")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="share of the steps spent warming up the learning rate")


AnyRecipe = LlamaFactoryRecipe | PeftRecipe | GrpoRecipe
Recipe = Annotated[AnyRecipe, Field(discriminator="backend")]


@functools.cache
def llamafactory_templates() -> frozenset[str]:
    """Template names registered in the installed LLaMA-Factory, read from its source (importing it is slow)."""
    spec = importlib.util.find_spec("llamafactory")
    if spec is None or not spec.origin:
        return frozenset()
    source = (Path(spec.origin).parent / "data" / "template.py").read_text(encoding="utf-8")
    return frozenset(re.findall(r'register_template\(\s*name="([^"]+)"', source))


def parse_recipe(data: Mapping[str, Any], source: str = "<dict>") -> AnyRecipe:
    return validate(Recipe, dict(data), source, what=RECIPE_WHAT, see=RECIPE_SEE)


def load_recipe(path_or_name: str | Path, overrides: Mapping[str, Any] | None = None) -> AnyRecipe:
    """A recipe file (or a name under configs/train/) with per-run `overrides` merged over it, validated."""
    path = Path(path_or_name)
    if not path.exists() and (RECIPES_DIR / f"{path_or_name}.yaml").exists():
        path = RECIPES_DIR / f"{path_or_name}.yaml"
    if not path.exists():
        known = ", ".join(p.stem for p in sorted(RECIPES_DIR.glob("*.yaml")))
        raise ConfigError(f"Training recipe {path} does not exist.", f"use one of: {known}, or a path to a YAML file.")
    merged = _merge(read_mapping(path, RECIPE_SEE), dict(overrides or {}))
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
