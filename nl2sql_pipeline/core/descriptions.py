"""Table and column descriptions from a file, for databases that keep no comments (SQLite) or
whose comments are missing or poor. The file wins over the catalog: it is the user's explicit word.

Format (YAML or JSON):

    tables:
      customers:
        comment: 客户
        columns:
          customer_id: 客户编号
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.metadata import SchemaMetadata


class TableDescription(BaseModel):
    comment: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)


class Descriptions(BaseModel):
    tables: dict[str, TableDescription] = Field(default_factory=dict)


def load_descriptions(path: Path) -> Descriptions:
    if not path.exists():
        raise ConfigError(f"Descriptions file {path} does not exist.", "fix the `descriptions` path in databases.yaml (relative paths start at the config file).")
    try:
        return Descriptions.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as err:
        raise ConfigError(f"Descriptions file {path} is malformed: {err}", "follow the format in core/descriptions.py: tables: {name: {comment, columns: {col: text}}}.") from None


def merge_descriptions(meta: SchemaMetadata, desc: Descriptions) -> SchemaMetadata:
    """A copy of `meta` with the file's comments applied; unknown names become notes, not errors."""
    merged = meta.model_copy(deep=True)
    for table_name, td in desc.tables.items():
        table = merged.table(table_name)
        if table is None:
            merged.notes.append(f"descriptions: unknown table {table_name!r} ignored")
            continue
        if td.comment:
            table.comment = td.comment
        for col_name, text in td.columns.items():
            col = table.column(col_name)
            if col is None:
                merged.notes.append(f"descriptions: unknown column {table_name}.{col_name} ignored")
            else:
                col.comment = text
    return merged
