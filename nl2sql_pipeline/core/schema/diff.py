"""What changed between two schema snapshots: the drift report and the unit of regeneration.

A topic's samples only need regenerating when one of its tables changed, so the diff is per
table, and `table_fingerprints` gives each table a stable hash of its structure.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, Field

from nl2sql_pipeline.core.fsutil import sha256_text
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata, TableInfo


class SchemaDiff(BaseModel):
    tables_added: list[str] = Field(default_factory=list)
    tables_removed: list[str] = Field(default_factory=list)
    columns_added: list[str] = Field(default_factory=list)  # "table.column"
    columns_removed: list[str] = Field(default_factory=list)
    columns_retyped: list[str] = Field(default_factory=list)  # "table.column: OLD -> NEW"
    tables_changed: list[str] = Field(default_factory=list)  # any structural change, keys and comments too

    @property
    def empty(self) -> bool:
        return not (self.tables_added or self.tables_removed or self.tables_changed)

    def summary(self) -> str:
        parts = [
            (label, items)
            for label, items in (
                ("tables added", self.tables_added),
                ("tables removed", self.tables_removed),
                ("columns added", self.columns_added),
                ("columns removed", self.columns_removed),
                ("columns retyped", self.columns_retyped),
                ("tables changed", self.tables_changed),
            )
            if items
        ]
        return "; ".join(f"{label}: {', '.join(items)}" for label, items in parts) or "no change"


def table_fingerprint(table: TableInfo) -> str:
    structure = table.model_dump(exclude={"row_count", "row_count_estimated"})
    return sha256_text(json.dumps(structure, sort_keys=True, ensure_ascii=False))[:16]


def table_fingerprints(meta: SchemaMetadata) -> dict[str, str]:
    return {t.name: table_fingerprint(t) for t in meta.tables}


def diff_schemas(old: SchemaMetadata, new: SchemaMetadata) -> SchemaDiff:
    old_fp, new_fp = table_fingerprints(old), table_fingerprints(new)
    diff = SchemaDiff(
        tables_added=sorted(set(new_fp) - set(old_fp)),
        tables_removed=sorted(set(old_fp) - set(new_fp)),
        tables_changed=sorted(t for t in set(old_fp) & set(new_fp) if old_fp[t] != new_fp[t]),
    )
    for name in diff.tables_changed:
        before = {c.name: c for c in old.table(name).columns}
        after = {c.name: c for c in new.table(name).columns}
        diff.columns_added += [f"{name}.{c}" for c in after if c not in before]
        diff.columns_removed += [f"{name}.{c}" for c in before if c not in after]
        diff.columns_retyped += [
            f"{name}.{c}: {before[c].raw_type} -> {after[c].raw_type}"
            for c in after
            if c in before and before[c].raw_type != after[c].raw_type
        ]
    return diff
