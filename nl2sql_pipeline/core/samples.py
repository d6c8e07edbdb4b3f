"""The shared vocabulary of steps 4-6: topic plans and NL/SQL samples.

One plan model serves the offline planner and the LLM planner (both pass the same plan
validation); one sample model serves the offline synthesizer and the LLM generator.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Language = Literal["zh", "en"]
Hardness = Literal["easy", "medium", "hard", "extra"]
# Who wrote a sample: the offline synthesizer, the LLM (first answer or a top-up round, or questions
# for SQL it was given), the company's own query log, or a user's feedback on an answer.
SampleSource = Literal["offline", "llm", "top-up", "llm-sql-first", "log", "feedback"]


class Topic(BaseModel):
    """A business topic: related tables and how many samples to generate for them."""

    name: str
    tables: list[str]
    reason: str = ""
    count: int = Field(ge=0)
    dialect: str = ""


class TopicPlan(BaseModel):
    database: str
    dialect: str
    total: int
    topics: list[Topic]
    source: str = "offline"  # offline | llm | llm (fell back to offline: ...)
    notes: list[str] = Field(default_factory=list)

    def __len__(self) -> int:
        return len(self.topics)


class Sample(BaseModel):
    """One generated NL question / SQL pair, before validation."""

    database: str
    topic: str
    question: str
    sql: str
    language: Language
    source: SampleSource = "offline"
    hardness: Hardness | None = None  # the generator's intent; validation computes the real one
    meta: dict[str, Any] = Field(default_factory=dict)


class RawSamples(BaseModel):
    database: str
    dialect: str
    samples: list[Sample]
    notes: list[str] = Field(default_factory=list)
    # topic name -> what decided its samples (core.generation): unchanged topics are reused
    topic_signatures: dict[str, str] = Field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)
