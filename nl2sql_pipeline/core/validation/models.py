"""What validation knows about each generated pair, and about the set of them."""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

from pydantic import BaseModel, Field

from nl2sql_pipeline.core.samples import Hardness, Sample

Layer = Literal["syntax", "schema", "execution", "semantic"]
LAYERS: tuple[Layer, ...] = ("syntax", "schema", "execution", "semantic")
Split = Literal["train", "dev"]


class ValidatedSample(BaseModel):
    """One pair after the three layers, dedup and split; `failed_layer` is the first that failed."""

    sample: Sample
    passed: bool
    failed_layer: Layer | None = None
    reason: str | None = None  # human-readable, names the offending table/column
    row_count: int | None = None
    column_count: int | None = None
    empty: bool = False
    truncated: bool = False
    hardness: Hardness | None = None
    template: str | None = None  # normalized SQL, literals masked as ?
    literals: list[str] = Field(default_factory=list)  # the masked values, in order ('-prefixed: strings)
    tables: list[str] = Field(default_factory=list)
    result_fingerprint: str | None = None
    duplicate_of: int | None = None  # index of the kept pair this one repeats
    duplicate_reason: str | None = None
    split: Split | None = None

    @property
    def accepted(self) -> bool:
        return self.passed and self.duplicate_of is None


def reason_category(layer: str, reason: str) -> str:
    """`schema: unknown column` from `unknown column 'nme' (not in singer)`: countable reasons."""
    head = re.split(r"[(:;]", reason, maxsplit=1)[0]
    head = re.sub(r"'[^']*'", "", head)
    head = re.sub(r"\s+", " ", head).strip(" ;,")
    return f"{layer}: {head[:60]}"


class ValidatedSamples(BaseModel):
    database: str
    dialect: str
    items: list[ValidatedSample]
    keep_empty: bool = True
    notes: list[str] = Field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def accepted(self) -> list[ValidatedSample]:
        return [v for v in self.items if v.accepted]

    def passed_through(self, layer: Layer) -> int:
        """How many pairs got past `layer` (the later layers only see those)."""
        upto = LAYERS[: LAYERS.index(layer) + 1]
        return sum(1 for v in self.items if v.failed_layer not in upto)

    def rejection_counts(self) -> dict[str, int]:
        counts = Counter(reason_category(v.failed_layer, v.reason or "") for v in self.items if v.failed_layer)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def summary(self) -> dict[str, object]:
        total = len(self.items)
        passed = [v for v in self.items if v.passed]
        accepted = self.accepted
        return {
            "total": total,
            "passed": {layer: self.passed_through(layer) for layer in LAYERS},
            "duplicates": sum(1 for v in passed if v.duplicate_of is not None),
            "accepted": len(accepted),
            "empty": sum(1 for v in accepted if v.empty),
            "hardness": dict(Counter(v.hardness or "unknown" for v in accepted)),
            "split": dict(Counter(v.split or "none" for v in accepted)),
            "rejections": self.rejection_counts(),
        }
