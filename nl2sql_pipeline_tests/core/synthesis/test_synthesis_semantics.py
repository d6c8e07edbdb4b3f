"""Pairs a business user would write, measured by an independent audit (semantic_audit.py, not
the validator's flags) on the demos, all 20 spider-de databases and the enterprise schemas."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import executor_for
from nl2sql_pipeline.core.samples import RawSamples
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.semantics import SemanticIndex, table_label
from nl2sql_pipeline.core.synthesis.phrasing import STYLES
from nl2sql_pipeline.core.validation.validator import validate_samples
from nl2sql_pipeline_tests import enterprise, semantic_audit as audit
from nl2sql_pipeline_tests.conftest import SPIDER_DE
from nl2sql_pipeline_tests.core.synthesis.test_synthesis import assert_quality_gates, demo_db, generate

SPIDER_NAMES = sorted(p.name for p in (SPIDER_DE / "database").iterdir())


@pytest.fixture(scope="module")
def erp_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("erp")
    return {"zh": enterprise.build_sqlite(folder), "en": enterprise.build_sqlite(folder, english=True)}


def erp_db(files: tuple[Path, Path], name: str = "erp_cn", **kw: object) -> DatabaseConfig:
    return DatabaseConfig(name=name, url=f"sqlite:///{files[0]}", descriptions=files[1], **kw)


def audit_pairs(meta: SchemaMetadata, raw: RawSamples, db: DatabaseConfig,
                coded: dict[tuple[str, str], dict[str, str]] | None = None) -> dict[str, list[str]]:
    """Offending accepted pairs per audit; also asserts the single-table share and the styles."""
    checked = validate_samples(raw, meta, executor_for(db), keep_empty=True)
    accepted = [v for v in checked.items if v.accepted]
    executor = executor_for(db)

    def run(sql: str) -> list[tuple]:
        result = executor.execute(sql, row_cap=100_000)
        assert result.ok, (sql, result.error)
        return [tuple(r) for r in result.rows]

    codes = audit.coded_columns(meta, (coded or {}).keys() | enterprise.LEVELS)
    comments = [c.comment for t in meta.tables for c in t.columns if c.comment]
    labels = {t.name.lower(): table_label(t.comment) or "" for t in meta.tables}
    found: dict[str, list[str]] = {"ties": [], "pastes": [], "arithmetic": [], "hidden joins": []}
    for v in accepted:
        q, sql = v.sample.question, v.sample.sql
        if audit.tie_dependent(sql, meta.dialect, run):
            found["ties"].append(f"{q} | {sql}")
        if audit.legend_pasted(q, coded or {}, comments):
            found["pastes"].append(q)
        if bad := audit.code_arithmetic(sql, meta.dialect, meta, codes):
            found["arithmetic"].append(f"{bad} | {sql}")
        if audit.hidden_join(sql, q, meta.dialect, meta, labels, run):
            found["hidden joins"].append(f"{q} | {sql}")
    if _joins_with_rows(meta, run):
        singles = sum(1 for v in accepted if len(set(v.tables)) == 1)
        easy = sum(1 for v in accepted if v.hardness == "easy")
        assert singles <= max(len(accepted) // 2, easy) + 2, (singles, len(accepted))
    assert set(Counter(v.sample.meta["style"] for v in accepted)) == set(STYLES)
    found["joins over 1%"] = found["hidden joins"] if len(found["hidden joins"]) > 0.01 * len(accepted) else []
    return found


def _joins_with_rows(meta: SchemaMetadata, run) -> bool:
    """Some foreign key joins real rows (spider-de's flight_2 codes never match: no join has rows)."""
    for t in meta.tables:
        for fk in t.foreign_keys:
            ref = meta.table(fk.ref_table)
            if ref is None or ref.name == t.name or len(fk.columns) != len(fk.ref_columns):
                continue
            on = " AND ".join(f'a."{x}" = b."{y}"' for x, y in zip(fk.columns, fk.ref_columns))
            if run(f'SELECT COUNT(*) FROM "{t.name}" AS a JOIN "{ref.name}" AS b ON {on}')[0][0]:
                return True
    return False


def assert_clean(found: dict[str, list[str]]) -> None:
    kinds = ("ties", "pastes", "arithmetic", "joins over 1%")
    assert {kind: found[kind][:5] for kind in kinds if found[kind]} == {}  # every kind that is not clean


def test_enterprise_schema_in_chinese(erp_files: dict) -> None:
    db = erp_db(erp_files["zh"])
    meta, raw = generate(db, 300)
    assert all(s.language == "zh" for s in raw.samples)
    assert_quality_gates(meta, raw, db)
    assert_clean(audit_pairs(meta, raw, db, enterprise.CODED))
    text = "\n".join(s.question for s in raw.samples)
    said = _codes_said_by_meaning(raw, meta)
    assert len(said) >= 10 and all(said), [s for s in said if not s]  # every coded filter by its meaning
    assert re.search(r"\d,\d{3}元", text)  # amounts with their unit
    assert "直属上级" in text or "上级部门" in text  # self-references by role


def test_enterprise_schema_in_english(erp_files: dict) -> None:
    db = erp_db(erp_files["en"], name="hr_en")
    meta, raw = generate(db, 120)
    assert all(s.language == "en" for s in raw.samples)
    assert_clean(audit_pairs(meta, raw, db, enterprise.CODED))
    text = "\n".join(s.question for s in raw.samples)
    assert re.search(r"\b(active|left|on leave|travel|meals|training)\b", text)
    assert "USD" in text and "marked as approved" in text


# The words a reader needs to tell which link a query follows (the schema's truth, not the writer's).
ROLE_WORDS = {"zh": {"signer_id": ("签约",), "keeper_id": ("管理",), "sales_rep_id": ("负责", "客户经理"),
                     "manager_id": ("上级", "下属"), "parent_dept_id": ("上级", "下级")},
              "en": {"approver_id": ("approv",), "manager_id": ("manager",)}}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_roles_said_in_both_directions(erp_files: dict, language: str) -> None:
    """Every pair that follows a role key (a second key to the same table, a self-reference), along
    it or against it (the contracts an employee signed, the staff who approve claims), says the role."""
    db = erp_db(erp_files[language], name="erp_cn" if language == "zh" else "hr_en")
    meta, raw = generate(db, 300 if language == "zh" else 120)
    words = ROLE_WORDS[language]
    missing, against = [], 0
    for s in raw.samples:
        tree = sqlglot.parse_one(s.sql, read=meta.dialect)
        used = {c.name for node in [*tree.find_all(exp.Join), *tree.find_all(exp.Subquery), *tree.find_all(exp.In)]
                for c in node.find_all(exp.Column) if c.name in words}
        for key in used:
            against += bool(re.search(rf"IN \(SELECT {key}\b|= \w+\.{key}\b", s.sql))
            if not any(w in s.question for w in words[key]):
                missing.append((key, s.question, s.sql))
    # A claim names staff twice (claimant, approver): the plain key, against its direction, says whose.
    own = [(s.question, s.sql) for s in raw.samples if re.search(
        r"FROM staff AS T1 JOIN expense_claims AS T2 ON T1\.staff_id = T2\.staff_id(?! JOIN)|"
        r"staff_id IN \(SELECT staff_id FROM expense_claims", s.sql)]
    missing += [pair for pair in own if "their own" not in pair[0]]
    assert not missing, missing[:5]
    assert against >= 3  # the reverse direction is exercised, not only "the signer's ..."
    assert language == "zh" or len(own) >= 3


@pytest.mark.parametrize("name", ["concert_singer", "sales_cn"])
def test_demos(demo_dir: Path, name: str) -> None:
    db = demo_db(demo_dir, name)
    meta, raw = generate(db, 200)
    assert_quality_gates(meta, raw, db)
    assert_clean(audit_pairs(meta, raw, db))


@pytest.mark.parametrize("name", SPIDER_NAMES)
def test_spider_de(name: str) -> None:
    path = next((SPIDER_DE / "database" / name).glob("*.sqlite"))
    db = DatabaseConfig(name=name, url=f"sqlite:///{path}")
    meta, raw = generate(db, 100)
    checked = validate_samples(raw, meta, executor_for(db), keep_empty=True)
    assert sum(v.passed for v in checked.items) >= 0.95 * len(checked.items), Counter(
        v.reason for v in checked.items if not v.passed)
    assert_clean(audit_pairs(meta, raw, db))


def _codes_said_by_meaning(raw: RawSamples, meta: SchemaMetadata) -> list[bool]:
    """For each `coded_column = code` / IN filter: does the question say the code's meaning?"""
    out = []
    for sample in raw.samples:
        tree = sqlglot.parse_one(sample.sql, read=meta.dialect)
        for node in tree.find_all(exp.EQ, exp.In):
            col = node.this if isinstance(node.this, exp.Column) else None
            table = audit._owner(col, tree, meta) if col is not None else None
            legend = enterprise.CODED.get((table or "", col.name.lower())) if col is not None else None
            values = [node.expression] if isinstance(node, exp.EQ) else node.expressions
            for v in values if legend else []:
                if isinstance(v, exp.Literal) and str(v.this) in legend:
                    meaning = legend[str(v.this)]
                    flag_said = meaning in ("是", "否") and ("红冲" in sample.question or "启用" in sample.question)
                    out.append(meaning in sample.question or flag_said)
    return out


def _server_roles(url: str, files: tuple[Path, Path]) -> None:
    """The enterprise schema with real COMMENTs: the same roles as SQLite with the descriptions file."""
    enterprise.build(url)
    db = DatabaseConfig(name="erp_server", url=url)
    meta, raw = generate(db, 80)
    assert meta.table("employees").column("status").comment == "在职状态：1在职 2离职 3停薪留职"
    lite_db = erp_db(files)
    lite_meta, _ = generate(lite_db, 5)
    here = SemanticIndex.build(meta, executor_for(db))
    there = SemanticIndex.build(lite_meta, executor_for(lite_db))
    for (table, column), sem in there.columns.items():
        assert here.column(table, column).role == sem.role, (table, column)
    checked = validate_samples(raw, meta, executor_for(db), keep_empty=True)
    assert sum(v.passed for v in checked.items) >= 0.95 * len(checked.items), Counter(
        v.reason for v in checked.items if not v.passed)
    codes = audit.coded_columns(meta, enterprise.CODED.keys() | enterprise.LEVELS)
    comments = [c.comment for t in meta.tables for c in t.columns if c.comment]
    for v in checked.accepted:
        assert not audit.code_arithmetic(v.sample.sql, meta.dialect, meta, codes), v.sample.sql
        assert not audit.legend_pasted(v.sample.question, enterprise.CODED, comments), v.sample.question


def test_enterprise_schema_on_postgres(pg_db: str, erp_files: dict) -> None:
    _server_roles(pg_db, erp_files["zh"])


def test_enterprise_schema_on_mariadb(mysql_db: str, erp_files: dict) -> None:
    _server_roles(mysql_db, erp_files["zh"])
