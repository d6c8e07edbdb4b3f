"""What the answering path knows of one database: its cards, its names, its executor, its prompt.

Built once per database (a CLI call, a server's start-up) and reused for every question. The
prompt is the one the exported training rows carry, so the tuned model sees the shape it
learned; the schema part comes from linking on the question alone (no gold tables exist here).
"""

from __future__ import annotations

from dataclasses import dataclass

from nl2sql_pipeline.core.cards import TableCards, build_cards
from nl2sql_pipeline.core.catalog import read_schema
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import ReadOnlyExecutor, executor_for
from nl2sql_pipeline.core.export import ExportConfig, render_schema
from nl2sql_pipeline.core.metadata import SchemaMetadata
from nl2sql_pipeline.core.synthesis.synthesizer import question_language
from nl2sql_pipeline.core.validation.schema import SchemaIndex


@dataclass
class AskSchema:
    database: str
    dialect: str
    language: str  # the database's question language: correction prompts follow it
    cards: TableCards
    index: SchemaIndex
    executor: ReadOnlyExecutor
    export: ExportConfig

    def prompt(self, question: str) -> tuple[list[dict[str, str]], list[str]]:
        """The chat messages for `question` and the tables they show."""
        tables = [c.table for c in self.cards.cards]
        schema = render_schema(tables, self.cards, self.export.schema_format)
        text = f"Database schema ({self.cards.dialect}):\n{schema}\n\nQuestion: {question}"
        return [
            {"role": "system", "content": self.export.system_prompt.format(dialect=self.dialect)},
            {"role": "user", "content": f"{self.export.instruction}\n\n{text}"},
        ], tables


def schema_from(meta: SchemaMetadata, db: DatabaseConfig, executor: ReadOnlyExecutor,
                export: ExportConfig | None = None) -> AskSchema:
    language = question_language(meta, db)
    return AskSchema(
        database=db.name, dialect=executor.dialect, language=language, cards=build_cards(meta),
        index=SchemaIndex.of(meta), executor=executor, export=export or ExportConfig.for_language(language),
    )


def schema_for(db: DatabaseConfig, export: ExportConfig | None = None) -> AskSchema:
    """Reflect the configured database now (its descriptions file applied) and open its executor."""
    return schema_from(read_schema(db), db, executor_for(db), export)
