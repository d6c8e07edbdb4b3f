"""Table and column descriptions from a file, for databases that keep no comments (SQLite) or
whose comments are missing or poor. The file wins over the catalog: it is the user's explicit word.

Format (YAML or JSON):

    tables:
      customers:
        comment: 客户
        columns:
          customer_id: 客户编号
          status:                       # a legend, unit, range or format stated explicitly
            label: 在职状态
            values: {1: 在职, 2: 离职, 3: 停薪留职}
          amount: {label: 合同金额, unit: 万元}

The structured form is written into the column's comment in a canonical shape
(`在职状态：1=在职；2=离职；3=停薪留职`, `合同金额（万元）`) that core.semantics parses back
exactly, so cards, DDL and prompts show it like any catalog comment.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata


class ColumnDescription(BaseModel):
    """A column's meaning stated explicitly: its label, value legend, unit, range and format."""

    model_config = ConfigDict(extra="forbid")

    label: str
    values: dict[str, str] = Field(default_factory=dict)
    unit: str | None = None
    range: tuple[str, str] | None = None
    format: str | None = None

    @field_validator("values", mode="before")
    @classmethod
    def _codes_as_text(cls, v: object) -> object:
        return {str(k): str(m) for k, m in v.items()} if isinstance(v, dict) else v

    @field_validator("range", mode="before")
    @classmethod
    def _range_as_text(cls, v: object) -> object:
        return tuple(str(x) for x in v) if isinstance(v, list | tuple) else v

    def as_comment(self) -> str:
        """The canonical comment: `label（unit）：c1=m1；c2=m2，范围lo-hi，格式F`."""
        text = self.label.strip() + (f"（{self.unit}）" if self.unit else "")
        parts = []
        if self.values:
            parts.append("；".join(f"{code}={meaning}" for code, meaning in self.values.items()))
        if self.range:
            parts.append(f"范围{self.range[0]}-{self.range[1]}")
        if self.format:
            parts.append(f"格式{self.format}")
        return text + ("：" + "，".join(parts) if parts else "")


class TableDescription(BaseModel):
    comment: str | None = None
    columns: dict[str, str | ColumnDescription] = Field(default_factory=dict)


class Descriptions(BaseModel):
    tables: dict[str, TableDescription] = Field(default_factory=dict)


def load_descriptions(path: Path) -> Descriptions:
    if not path.exists():
        raise ConfigError(f"Descriptions file {path} does not exist.", "fix the `descriptions` path in databases.yaml (relative paths start at the config file).")
    try:
        return Descriptions.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as err:
        raise ConfigError(f"Descriptions file {path} is malformed: {err}", "follow the format in core/schema/descriptions.py: tables: {name: {comment, columns: {col: text or "
                          "{label, values: {code: meaning}, unit, range: [lo, hi], format}}}}.") from None


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
                col.comment = text.as_comment() if isinstance(text, ColumnDescription) else text
    return merged
