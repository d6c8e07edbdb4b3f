"""Model outputs to be scored: the contract between training/serving (producers) and evaluation.

LLaMA-Factory's predict_with_generate and the served model (vLLM / any OpenAI-compatible
endpoint) both end up as a `PredictionSet` per model ("base" or "adapter").
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class PredictionItem(BaseModel):
    index: int  # position in the evaluated split
    database: str
    question: str
    gold_sql: str
    output: str  # the raw model output; evaluation extracts the SQL from it
    hardness: str | None = None
    topic: str | None = None
    latency_s: float | None = None


class PredictionSet(BaseModel):
    # "base", "adapter", "grpo", ...: not a Literal, since nl2sql-eval --labels and the
    # spider_predictions run config name runs freely.
    label: str
    model: str  # base model path or served model name
    source: str  # "llamafactory" | "openai:<base_url>"
    items: list[PredictionItem]
    notes: list[str] = Field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)


class PredictionRuns(BaseModel):
    """Predictions of several models on the same split, e.g. base and adapter."""

    runs: list[PredictionSet]

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)

    def get(self, label: str) -> PredictionSet | None:
        return next((r for r in self.runs if r.label == label), None)
