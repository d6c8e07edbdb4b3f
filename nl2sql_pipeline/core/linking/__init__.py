"""Schema linking and the one prompt builder, shared by training, evaluation and serving.

    from nl2sql_pipeline.core.linking import build_index, link, question_prompt, PromptSettings

    index = build_index(cards, values)                  # once per database (the schema_index asset)
    linked = link(question, index, LinkConfig(budget_tokens=1200, max_tables=6))
    prompt = question_prompt(question, index, PromptSettings())   # what a deployed model sees
"""

from nl2sql_pipeline.core.linking.index import ColumnValues, SchemaIndex, build_index, sample_values
from nl2sql_pipeline.core.linking.linker import LinkConfig, LinkedSchema, Mode, link
from nl2sql_pipeline.core.linking.prompt import (
    INSTRUCTIONS,
    Prompt,
    PromptSettings,
    build_prompt,
    choose_schema,
    question_prompt,
)

__all__ = [
    "INSTRUCTIONS", "ColumnValues", "LinkConfig", "LinkedSchema", "Mode", "Prompt", "PromptSettings", "SchemaIndex",
    "build_index", "build_prompt", "choose_schema", "link", "question_prompt", "sample_values",
]
