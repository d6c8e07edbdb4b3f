"""Step 6: three-layer validation (syntax, schema, execution), dedup, hardness and split."""

from __future__ import annotations

from nl2sql_pipeline.core.validation.models import LAYERS, Layer, ValidatedSample, ValidatedSamples, reason_category
from nl2sql_pipeline.core.validation.schema import SchemaIndex, check_schema, unresolved
from nl2sql_pipeline.core.validation.validator import check_sample, validate_samples

__all__ = [
    "LAYERS",
    "Layer",
    "SchemaIndex",
    "ValidatedSample",
    "ValidatedSamples",
    "check_sample",
    "check_schema",
    "reason_category",
    "unresolved",
    "validate_samples",
]
