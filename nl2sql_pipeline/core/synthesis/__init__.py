"""The offline, schema-grounded SQL-first synthesizer (step 5 without an LLM).

`synthesize(plan, meta, executor, db) -> RawSamples` is the entry point; the modules are the
grammar (ir, schema, conditions, grammar), SQL rendering (render_sql), value sampling (values)
and question templates (phrasing, text_en, text_zh).
"""

from nl2sql_pipeline.core.synthesis.synthesizer import apportion, question_language, synthesize

__all__ = ["apportion", "question_language", "synthesize"]
