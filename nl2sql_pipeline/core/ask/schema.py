"""What the answering path knows of one database: its cards, its names, its executor, its prompt.

Built once per database (a CLI call, a server's start-up) and reused for every question. The
prompt comes from the same builder as the exported dev rows (`core.linking.question_prompt`), so
the tuned model sees the shape it learned; the schema part comes from linking on the question
alone (no gold tables exist here), over the cards and the sampled values `no_sample` allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from nl2sql_pipeline.core.audit import audited, session_audit
from nl2sql_pipeline.core.cards import TableCards, build_cards
from nl2sql_pipeline.core.chinese import mostly_chinese
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import ReadOnlyExecutor, executor_for
from nl2sql_pipeline.core.export import ExportConfig, instruction_for
from nl2sql_pipeline.core.linking import SchemaIndex as LinkIndex
from nl2sql_pipeline.core.linking import build_index, question_prompt, sample_values
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.synthesis.synthesizer import question_language
from nl2sql_pipeline.core.validation.schema import SchemaIndex


@dataclass
class AskSchema:
    database: str
    dialect: str
    language: str  # the database's question language
    cards: TableCards
    index: SchemaIndex
    executor: ReadOnlyExecutor
    export: ExportConfig
    link_index: LinkIndex  # what schema linking retrieves over (the schema_index asset's content)

    def prompt(self, question: str) -> tuple[list[dict[str, str]], list[str]]:
        """The chat messages for `question` and the tables they show."""
        settings = self.export.prompt_settings(self.database)
        if settings.schema_context == "oracle":  # a diagnostic of scored dev sets: a user's question has no gold SQL
            settings = settings.model_copy(update={"schema_context": "linked"})
        # the instruction follows the question's language, as in the exported rows
        instruction = instruction_for(question_language_of(question), self.export)
        prompt = question_prompt(question, self.link_index, settings.model_copy(update={"instruction": instruction}))
        return prompt.messages, prompt.linked.tables


def schema_from(meta: SchemaMetadata, db: DatabaseConfig, executor: ReadOnlyExecutor,
                export: ExportConfig | None = None) -> AskSchema:
    language = question_language(meta, db)
    cards = build_cards(meta)
    values, skipped, notes = sample_values(cards, executor, db.may_sample)
    settings = export or ExportConfig.for_language(language, schema_context={db.name: db.schema_context})
    return AskSchema(
        database=db.name, dialect=executor.dialect, language=language, cards=cards,
        index=SchemaIndex.of(meta), executor=executor, export=settings,
        link_index=build_index(cards, values, skipped_columns=skipped, notes=notes),
    )


def schema_for(db: DatabaseConfig, export: ExportConfig | None = None) -> AskSchema:
    """Reflect the configured database now (its descriptions file applied) and open its executor."""
    # every answer's query is recorded like the pipeline's own (core/audit.py)
    return schema_from(read_schema(db), db, audited(executor_for(db), session_audit("ask"), db.name), export)


def question_language_of(question: str) -> str:
    return "zh" if mostly_chinese([question]) else "en"
