"""The GRPO recipe (`backend: grpo`): reinforcement learning from execution after LoRA fine-tuning.

Keys map onto TRL's `GRPOConfig` where TRL has them (num_generations, temperature, beta,
epsilon, ...); cross-field rules TRL would only raise deep inside its trainer are checked here,
with a sentence that names both fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nl2sql_pipeline.core.training.rewards import RewardSettings


class GrpoRecipe(BaseModel):
    """Rollouts per prompt, sampling, KL and clipping, optimisation, LoRA on top, and the reward."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["grpo"]
    model_name_or_path: str | None = None
    model_env: str = "NL2SQL_BASE_MODEL"
    # "adapter": merge the fine-tuned LoRA adapter into the base, train a new LoRA on top (the
    # KL reference is then the fine-tuned model); "base": train a LoRA on the base model directly.
    start_from: Literal["adapter", "base"] = "adapter"
    dataset_format: Literal["auto", "alpaca", "sharegpt"] = "auto"
    num_generations: int = Field(8, ge=2)  # rollouts per prompt (G); advantages are relative within a group
    per_device_train_batch_size: int = Field(8, ge=1)  # completions per device and step
    gradient_accumulation_steps: int = Field(1, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    beta: float = Field(0.04, ge=0)  # KL coefficient against the start model; 0 drops the reference model
    epsilon: float = Field(0.2, gt=0, lt=1)  # PPO-style clip range
    epsilon_high: float | None = Field(None, gt=0, lt=1)  # DAPO's asymmetric upper clip; None: epsilon
    num_iterations: int = Field(1, ge=1)  # policy updates per generation batch
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    learning_rate: float = Field(1e-6, gt=0)
    lr_scheduler_type: str = "constant"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    max_steps: int = Field(ge=1)
    max_prompt_length: int = Field(1024, ge=16)
    max_completion_length: int = Field(256, ge=1)
    lora_rank: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_target: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        min_length=1)
    bf16: bool = False
    gradient_checkpointing: bool = False
    # "auto": TRL's vLLM generation (colocated) where a CUDA GPU and vllm are present, else plain
    # transformers generation; "vllm" insists (and fails clearly on a CPU machine).
    generation_backend: Literal["auto", "vllm", "transformers"] = "auto"
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1)
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(100, ge=1)
    seed: int = 42
    reward: RewardSettings = RewardSettings()
    # Execution match on the dev split before and after (greedy decoding).
    eval_max_new_tokens: int = Field(256, ge=1)
    eval_batch_size: int = Field(16, ge=1)
    predict_base: bool = True  # also predict the dev split with the untouched base model ("base" run)

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
