"""What a training run hands on: the adapter folder plus everything needed to judge and reproduce it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from nl2sql_pipeline.core.errors import Nl2SqlError


class TrainingError(Nl2SqlError):
    """A training, prediction or export run failed or produced nothing usable."""


class Progress(BaseModel):
    """One progress report streamed from a run (LLaMA-Factory's log line or a Trainer callback)."""

    step: int | None = None
    total: int | None = None
    loss: float | None = None
    learning_rate: float | None = None
    epoch: float | None = None
    logged_step: int | None = None  # the step of the last loss report (parsing state)

    def describe(self) -> str:
        parts = [f"step {self.step}/{self.total}" if self.step is not None else "step ?"]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.learning_rate is not None:
            parts.append(f"lr {self.learning_rate:.3g}")
        if self.epoch is not None:
            parts.append(f"epoch {self.epoch:.2f}")
        return ", ".join(parts)


class LossPoint(BaseModel):
    step: int
    loss: float
    learning_rate: float | None = None
    epoch: float | None = None


class AdapterResult(BaseModel):
    """A trained LoRA adapter: the folder `save_pretrained` wrote and how it got there."""

    adapter_dir: str
    base_model: str
    backend: Literal["llamafactory", "peft"]
    recipe: str
    dataset_dir: str
    dataset_version: str  # content digest of the exported files it was trained on
    datasets: list[str]
    num_examples: int
    losses: list[LossPoint] = Field(default_factory=list)
    eval_losses: list[LossPoint] = Field(default_factory=list)
    final_loss: float | None = None
    best_loss: float | None = None  # best eval loss where there is an eval split, else lowest train loss
    trainable_params: int | None = None
    all_params: int | None = None
    global_step: int = 0
    stopped_early: bool = False
    config_path: str | None = None  # the YAML a user can rerun by hand
    command: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def trainable_percent(self) -> float | None:
        if not self.trainable_params or not self.all_params:
            return None
        return 100.0 * self.trainable_params / self.all_params

    def path(self) -> Path:
        return Path(self.adapter_dir)


class MergedModel(BaseModel):
    """A standalone model folder: the base model with the adapter merged in (`llamafactory-cli export`)."""

    model_dir: str
    base_model: str
    adapter_dir: str
