"""Column semantics (legend parsing, roles, the descriptions override, cards) and the semantic
validation layer, each check against offending and clean pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nl2sql_pipeline.core.cards import build_cards, column_note
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.execution import executor_for
from nl2sql_pipeline.core.samples import RawSamples, Sample
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.schema.descriptions import load_descriptions
from nl2sql_pipeline.core.schema.metadata import ColumnInfo
from nl2sql_pipeline.core.semantics import Profile, SemanticIndex, classify, parse_comment
from nl2sql_pipeline.core.validation.validator import validate_samples
from nl2sql_pipeline_tests import enterprise
from nl2sql_pipeline_tests.conftest import DATA

COMMENTS = yaml.safe_load((DATA / "semantics" / "comments.yaml").read_text(encoding="utf-8"))
CHECKS = yaml.safe_load((DATA / "semantics" / "checks.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def erp(tmp_path_factory: pytest.TempPathFactory) -> DatabaseConfig:
    path, desc = enterprise.build_sqlite(tmp_path_factory.mktemp("erp"))
    return DatabaseConfig(name="erp_cn", url=f"sqlite:///{path}", descriptions=desc)


def test_fixture_is_big_enough() -> None:
    assert len(COMMENTS) >= 40
    assert sum(1 for c in COMMENTS if not c.get("values")) >= 10  # comments that carry no legend
    assert any(not c["comment"].isascii() for c in COMMENTS) and sum(c["comment"].isascii() for c in COMMENTS) >= 10


@pytest.mark.parametrize("case", COMMENTS, ids=[c["comment"] for c in COMMENTS])
def test_legend_parsing(case: dict) -> None:
    parsed = parse_comment(case["comment"])
    assert parsed.label == case["label"]
    assert parsed.values == tuple((str(k), str(v)) for k, v in (case.get("values") or {}).items())
    assert parsed.unit == case.get("unit")
    assert parsed.range == (tuple(case["range"]) if case.get("range") else None)
    assert parsed.format == case.get("format")


def test_roles_on_the_enterprise_schema(erp: DatabaseConfig) -> None:
    meta = read_schema(erp)
    index = SemanticIndex.build(meta, executor_for(erp))
    # the SQLite build has 10 of the 14 coded columns and 2 of the 3 graded ones (no `staff` table):
    # pinned, so a schema that lost them cannot leave these checks with nothing to check
    coded = [key for key in enterprise.CODED if meta.table(key[0]) is not None]
    levels = sorted(key for key in enterprise.LEVELS if meta.table(key[0]) is not None)
    assert (len(coded), len(levels)) == (10, 2)
    assert {key: role for key in coded if (role := index.column(*key).role) not in ("category", "flag")} == {}
    assert index.column("invoices", "is_red").role == "flag" and index.column("products", "is_active").role == "flag"
    assert {key: index.column(*key).role for key in levels} == dict.fromkeys(levels, "category")
    for t in meta.tables:
        keys = set(t.primary_key) | {c for fk in t.foreign_keys for c in fk.columns}
        assert all(index.column(t.name, k).role == "identifier" for k in keys)
    measures = [("employees", "monthly_salary"), ("sales_contracts", "amount"), ("contract_lines", "discount_rate")]
    assert {m: index.column(*m).role for m in measures} == dict.fromkeys(measures, "measure")
    assert index.column("payroll", "pay_month").role == "datetime" and index.column("payroll", "pay_month").format == "YYYY-MM"
    assert index.column("sales_contracts", "amount").unit == "万元"  # from the structured override
    assert index.table_label("operation_logs") == "操作日志"


def test_a_legend_the_values_do_not_use_is_dropped() -> None:
    col = ColumnInfo(name="score", type="integer", raw_type="INTEGER", nullable=True, comment="评分：1低 2中 3高")
    parsed = parse_comment(col.comment)
    fits = Profile(rows=100, distinct=(1, 2, 3), distinct_count=3)
    other = Profile(rows=100, distinct=(35, 60, 72, 88, 91), distinct_count=40)
    assert classify(col, False, parsed, fits) == "category"
    assert classify(col, False, parsed, other) == "measure"
    code = ColumnInfo(name="kind", type="integer", raw_type="INTEGER", nullable=True, comment=None)
    assert classify(code, False, parse_comment(None), Profile(rows=80, distinct=(1, 2, 3), distinct_count=3)) == "category"
    amount = ColumnInfo(name="qty", type="integer", raw_type="INTEGER", nullable=True, comment="数量")
    assert classify(amount, False, parse_comment("数量"), Profile(rows=80, distinct=(1, 2, 3), distinct_count=3)) == "category"
    assert classify(amount, False, parse_comment("数量"), Profile(rows=80, distinct=(5, 10, 20, 50), distinct_count=9)) == "measure"


def test_descriptions_take_the_structured_form(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("tables:\n  employees:\n    columns:\n      name: 姓名\n      status:\n        label: 在职状态\n"
                    "        values: {1: 在职, 2: 离职}\n      pay: {label: 月薪, unit: 元, range: [0, 90000]}\n",
                    encoding="utf-8")
    desc = load_descriptions(path).tables["employees"].columns
    assert desc["name"] == "姓名"
    status = parse_comment(desc["status"].as_comment())
    assert status.label == "在职状态" and status.values == (("1", "在职"), ("2", "离职"))
    pay = parse_comment(desc["pay"].as_comment())
    assert (pay.label, pay.unit, pay.range) == ("月薪", "元", ("0", "90000"))
    path.write_text("tables:\n  t:\n    columns:\n      status: {label: 状态, legend: {1: a}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="(?s)legend.*Fix: follow the format.*values: \\{code: meaning\\}"):
        load_descriptions(path)


def test_cards_show_label_legend_unit_and_range(erp: DatabaseConfig) -> None:
    cards = build_cards(read_schema(erp))
    text = cards.card("employees").text
    assert "status integer: 在职状态 [1=在职, 2=离职, 3=停薪留职]" in text
    assert "monthly_salary decimal: 月薪 [unit 元]" in text and "job_level integer: 职级 [range 1-10]" in text
    assert "在职状态：1=在职" in cards.card("employees").ddl  # the DDL keeps the comment as written
    assert column_note("联系地址（省/市/区）") == "联系地址（省/市/区）"  # a description stays as it is


def _pairs(check: str) -> list[dict]:
    return CHECKS[check]


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_semantic_check(check: str, erp: DatabaseConfig) -> None:
    cases = _pairs(check)
    assert sum(c["expect"] == "clean" for c in cases) >= 5 and sum(c["expect"] != "clean" for c in cases) >= 5
    meta = read_schema(erp)
    samples = [
        Sample(database="erp_cn", topic="t", question=c["q"], sql=c["sql"], language=c.get("language", "zh"),
               source="offline" if "facets" in c else "llm",
               meta={"facets": c["facets"], "said": c["said"]} if "facets" in c else {})
        for c in cases
    ]
    checked = validate_samples(RawSamples(database="erp_cn", dialect="sqlite", samples=samples), meta, executor_for(erp))
    for case, item in zip(cases, checked.items):
        if case["expect"] == "clean":
            assert item.passed, (case["q"], item.failed_layer, item.reason)
        else:
            assert item.failed_layer == "semantic" and item.reason.startswith(case["expect"] + ":"), (
                case["q"], item.failed_layer, item.reason)
    counts = checked.rejection_counts()
    assert any(k.startswith(f"semantic: {check}") for k in counts), counts
