"""Step 2 on the 20 real spider-de databases (non-ASCII identifiers) agrees with Spider's tables.json."""

import json

import pytest

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline_tests.conftest import SPIDER_DE

ENTRIES = json.loads((SPIDER_DE / "tables.json").read_text(encoding="utf-8"))


def _expected(entry: dict) -> tuple[dict, set, set]:
    tables = [t.lower() for t in entry["table_names_original"]]
    names = entry["column_names_original"]
    columns: dict[str, list[str]] = {t: [] for t in tables}
    for table_index, column in names[1:]:
        columns[tables[table_index]].append(column.lower())
    pks = {
        (tables[names[i][0]], names[i][1].lower())
        for pk in entry["primary_keys"]
        for i in (pk if isinstance(pk, list) else [pk])
    }
    fks = {
        (tables[names[a][0]], names[a][1].lower(), tables[names[b][0]], names[b][1].lower())
        for a, b in entry["foreign_keys"]
    }
    return columns, pks, fks


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["db_id"] for e in ENTRIES])
def test_metadata_matches_tables_json(entry: dict) -> None:
    db_id = entry["db_id"]
    path = SPIDER_DE / "database" / db_id / f"{db_id}.sqlite"
    meta = read_schema(DatabaseConfig(name=db_id, url=f"sqlite:///{path}"))
    columns, pks, fks = _expected(entry)

    assert sorted(t.name.lower() for t in meta.tables) == sorted(columns)
    for table in meta.tables:
        assert [c.name.lower() for c in table.columns] == columns[table.name.lower()], table.name
        assert all(not c.nullable for c in table.columns if c.primary_key)
    assert {(t.name.lower(), c.lower()) for t in meta.tables for c in t.primary_key} == pks
    got_fks = {
        (t.name.lower(), col.lower(), fk.ref_table.lower(), ref.lower())
        for t in meta.tables
        for fk in t.foreign_keys
        for col, ref in zip(fk.columns, fk.ref_columns, strict=True)
    }
    assert got_fks == fks
    assert meta.backend == "sqlite" and meta.dialect == "sqlite"
    assert len(meta.fingerprint()) == 16


def test_non_ascii_identifiers_survive() -> None:
    path = SPIDER_DE / "database" / "concert_singer" / "concert_singer.sqlite"
    meta = read_schema(DatabaseConfig(name="cs", url=f"sqlite:///{path}"))
    assert any(not t.name.isascii() or any(not c.name.isascii() for c in t.columns) for t in meta.tables)
