"""The GRPO recipe (`backend: grpo`): reinforcement learning from execution after LoRA fine-tuning.

Keys map onto TRL's `GRPOConfig` where TRL has them (num_generations, temperature, beta,
epsilon, ...); cross-field rules TRL would only raise deep inside its trainer are checked here,
with a sentence that names both fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from nl2sql_pipeline.core.config_loader import StrictModel
from nl2sql_pipeline.core.training.rewards import RewardSettings


class GrpoRecipe(StrictModel):
    """Rollouts per prompt, sampling, KL and clipping, optimisation, LoRA on top, and the reward."""

    backend: Literal["grpo"] = Field(description="which trainer runs the recipe")
    model_name_or_path: str | None = Field(None, description="the local base-model folder; default: $<model_env>")
    model_env: str = Field("NL2SQL_BASE_MODEL", description="environment variable naming the base-model folder")
    start_from: Literal["adapter", "base"] = Field(
        "adapter",
        description="adapter: merge the fine-tuned LoRA into the base and train a new LoRA on top (the KL "
        "reference is then the fine-tuned model); base: train a LoRA on the base model directly",
    )
    dataset_format: Literal["auto", "alpaca", "sharegpt"] = Field(
        "auto", description="which exported dataset the prompts come from; auto: whichever the export holds"
    )
    num_generations: int = Field(
        8, ge=2, description="rollouts per prompt (G); advantages are relative within a prompt's group"
    )
    per_device_train_batch_size: int = Field(8, ge=1, description="completions per device and step")
    gradient_accumulation_steps: int = Field(1, ge=1, description="steps accumulated into one optimizer update")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the rollouts")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling of the rollouts")
    beta: float = Field(0.04, ge=0, description="KL coefficient against the start model; 0 drops the reference model")
    epsilon: float = Field(0.2, gt=0, lt=1, description="PPO-style clip range")
    epsilon_high: float | None = Field(
        None, gt=0, lt=1, description="DAPO's asymmetric upper clip (at least epsilon); default: epsilon"
    )
    num_iterations: int = Field(1, ge=1, description="policy updates per generation batch")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = Field("dapo", description="TRL's loss_type")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="TRL's scale_rewards: normalise advantages per group, per batch, or not"
    )
    learning_rate: float = Field(1e-6, gt=0, description="peak learning rate")
    lr_scheduler_type: str = Field("constant", description="transformers learning-rate schedule")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="share of the steps spent warming up the learning rate")
    max_steps: int = Field(ge=1, description="optimizer steps")
    max_prompt_length: int = Field(1024, ge=16, description="prompt tokens; longer prompts are cut")
    max_completion_length: int = Field(256, ge=1, description="token limit of a rollout")
    lora_rank: int = Field(16, ge=1, description="rank of the new LoRA matrices")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (the update is scaled by alpha / rank)")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the LoRA input")
    lora_target: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        min_length=1, description="module names the new LoRA adapts")
    bf16: bool = Field(False, description="train in bfloat16 (needs a CUDA GPU)")
    gradient_checkpointing: bool = Field(False, description="recompute activations to save GPU memory")
    generation_backend: Literal["auto", "vllm", "transformers"] = Field(
        "auto",
        description="auto: TRL's colocated vLLM generation where a CUDA GPU and vllm are present, else "
        "transformers; vllm insists (and fails clearly on a CPU machine)",
    )
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1, description="GPU memory share of the colocated vLLM")
    logging_steps: int = Field(1, ge=1, description="steps between logged rewards and losses")
    save_steps: int = Field(100, ge=1, description="steps between checkpoints")
    seed: int = Field(42, description="seed of data order, sampling and initialisation")
    reward: RewardSettings = Field(RewardSettings(), description="how a rollout is rewarded")
    eval_max_new_tokens: int = Field(
        256, ge=1, description="answer token limit of the greedy dev predictions before and after"
    )
    eval_batch_size: int = Field(16, ge=1, description="prompts predicted at once for the dev execution match")
    predict_base: bool = Field(True, description="also predict the dev split with the untouched base model (\"base\" run)")

    @model_validator(mode="after")
    def _groups_fit(self) -> GrpoRecipe:
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if batch % self.num_generations:
            raise ValueError(
                f"per_device_train_batch_size x gradient_accumulation_steps = {batch} completions per step, which "
                f"is not a multiple of num_generations = {self.num_generations}: every prompt's rollouts must fit "
                f"in one step. Make per_device_train_batch_size a multiple of num_generations."
            )
        if self.epsilon_high is not None and self.epsilon_high < self.epsilon:
            raise ValueError(f"epsilon_high = {self.epsilon_high} is below epsilon = {self.epsilon}; "
                             "the upper clip must be at least the lower one")
        return self

    @property
    def prompts_per_step(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps // self.num_generations
