"""Schema linking on real SQLite files: Chinese (a warehouse schema with comments and code legends),
English (concert_singer) and non-ASCII identifiers (the German Spider copy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.execution import close_executors
from nl2sql_pipeline.core.linking import LinkConfig, PromptSettings, SchemaIndex, build_index, link, question_prompt
from nl2sql_pipeline.core.linking.cli import index_for
from nl2sql_pipeline.core.linking.linker import bridge_path
from nl2sql_pipeline.core.linking.measure import Question, pick, summarize
from nl2sql_pipeline.core.linking.words import literal_words, words
from nl2sql_pipeline_tests.conftest import SPIDER_DE
from nl2sql_pipeline_tests.linking_support import QUESTIONS, build_wms_sqlite


def _wms_db(folder: Path, **kw: object) -> DatabaseConfig:
    path, desc = build_wms_sqlite(folder)
    return DatabaseConfig(name="wms", url=sqlite_url(path, read_only=True).render_as_string(), descriptions=desc, **kw)


@pytest.fixture(scope="module")
def wms(tmp_path_factory: pytest.TempPathFactory) -> SchemaIndex:
    index = index_for(_wms_db(tmp_path_factory.mktemp("wms")))
    close_executors()
    return index


@pytest.fixture(scope="module")
def sänger() -> SchemaIndex:
    path = SPIDER_DE / "database" / "concert_singer" / "concert_singer.sqlite"
    index = index_for(DatabaseConfig(name="concert_singer_de", url=sqlite_url(path, read_only=True).render_as_string()))
    close_executors()
    return index


def test_words_split_identifiers_in_any_script() -> None:
    assert words("sänger_im_konzert")[0] == "sänger" and {"im", "konzert"} <= set(words("sänger_im_konzert"))
    assert {"supplier", "name"} <= set(words("supplierName")) and {"order", "id"} <= set(words("OrderID"))
    assert {"http", "server", "log"} <= set(words("HTTPServerLog"))
    assert {"仓库", "名称"} <= set(words("仓库名称"))
    # a Chinese value is found by its bigrams whatever jieba makes of the surrounding question
    assert literal_words("上海仓") <= literal_words("上海仓有多少库存？")
    assert {"konze~", "konzer~"} <= set(words("Konzerte")) & set(words("Konzert"))  # inflections meet


def test_whole_schema_when_it_fits(wms: SchemaIndex) -> None:
    linked = link("上海仓有多少库存？", wms, LinkConfig(budget_tokens=100_000))
    assert linked.mode == "full" and linked.whole_schema and linked.tables == wms.tables
    capped = link("上海仓有多少库存？", wms, LinkConfig(budget_tokens=100_000, max_tables=3))
    assert capped.mode == "linked" and len(capped.tables) == 3


def test_chinese_question_finds_tables_by_comment_and_value(wms: SchemaIndex) -> None:
    linked = link("上海仓有多少库存？", wms, LinkConfig(budget_tokens=300))
    assert linked.mode == "linked" and {"warehouse", "inventory"} <= set(linked.tables)
    assert "warehouse.wh_name: 上海仓" in linked.value_hints
    assert linked.tokens <= 300 and not linked.over_budget
    # a value-only mention: no word of the question names the carrier table or its comment
    assert "carrier" in link("顺丰速运发了几单？", wms, LinkConfig(budget_tokens=300)).tables
    # a code legend in a column comment ("状态: ... 3=已取消") finds its table
    assert link("已取消的订单有多少？", wms, LinkConfig(budget_tokens=200)).tables[0] == "sales_order"


def test_value_index_honours_no_sample(tmp_path: Path) -> None:
    private = index_for(_wms_db(tmp_path / "a", synthesis={"no_sample": ["warehouse.wh_name", "carrier"]}))
    sampled = {(v.table, v.column) for v in private.values}
    assert ("warehouse", "wh_name") not in sampled and not any(t == "carrier" for t, _ in sampled)
    assert {"warehouse.wh_name", "carrier.carrierName"} <= set(private.skipped_columns)
    assert ("warehouse", "city") in sampled
    assert not [h for h in link("上海仓有多少库存？", private, LinkConfig(budget_tokens=300)).value_hints if "上海仓" in h]
    nothing = index_for(_wms_db(tmp_path / "b", synthesis={"sample_values": False}))
    close_executors()
    assert nothing.values == [] and nothing.version != private.version


def test_fk_path_completion_adds_bridge_tables(wms: SchemaIndex) -> None:
    graph = {"customer": ["sales_order"], "sales_order": ["customer", "shipment"], "shipment": ["sales_order", "carrier"],
             "carrier": ["shipment"]}
    assert bridge_path(graph, "carrier", {"customer"}) == ["shipment", "sales_order"]
    assert bridge_path(graph, "carrier", {"nowhere"}) is None
    question = "哪些客户的订单由顺丰速运承运？"
    config = LinkConfig(budget_tokens=600, max_tables=4, min_relative_score=0.5)
    joined = link(question, wms, config)
    assert {"customer", "sales_order", "shipment", "carrier"} <= set(joined.tables) and "shipment" in joined.bridges
    unjoined = link(question, wms, config.model_copy(update={"fk_completion": False}))
    assert "shipment" not in unjoined.tables  # only the completion brought it in
    tight = link(question, wms, config.model_copy(update={"max_tables": 3}))
    assert len(tight.tables) <= 3  # bridges count against the table cap


def test_english_and_non_ascii_identifiers(demo_dir: Path, sänger: SchemaIndex) -> None:
    url = sqlite_url(demo_dir / "concert_singer.sqlite", read_only=True).render_as_string()
    concert = index_for(DatabaseConfig(name="concert", url=url))
    close_executors()
    linked = link("How many concerts were held in each stadium?", concert, LinkConfig(budget_tokens=100, max_tables=2))
    assert set(linked.tables) == {"concert", "stadium"}
    assert link("Wie viele Sängerinnen und Sänger haben wir?", sänger, LinkConfig(max_tables=1)).tables == ["sänger"]
    both = link("Zeige die Namen der Sänger und die Anzahl der Konzerte für jeden Sänger.", sänger,
                LinkConfig(max_tables=3))
    assert {"sänger", "sänger_im_konzert", "konzert"} == set(both.tables)
    assert "stadion" in link('Welches Stadion hat die größte Kapazität?', sänger, LinkConfig(max_tables=1)).tables


def test_recall_on_the_warehouse_questions(wms: SchemaIndex) -> None:
    config = LinkConfig(budget_tokens=400)
    results = [pick(Question(index=i, db_id="wms", question=q, query=sql), wms, config) for i, (q, sql) in enumerate(QUESTIONS)]
    stats = summarize([p for p, _ in results], [w for _, w in results])
    assert stats.scored == len(QUESTIONS) and stats.whole_schema_share == 0.0
    assert stats.gold_recall >= 0.9 and stats.mean_tokens <= 400
    # the whole schema would cost 3x the budget: linking really selects
    assert sum(wms.cost(t, "ddl") for t in wms.tables) > 3 * 400


def test_prompts_are_deterministic_and_never_read_dev_gold(wms: SchemaIndex) -> None:
    settings = PromptSettings(budget_tokens=250)
    question = "退款最多的是哪一单？"  # names the return_order table only through its comment "退款金额"
    first = question_prompt(question, wms, settings)
    assert first == question_prompt(question, wms, settings)
    again = build_index(wms.cards, wms.values, skipped_columns=wms.skipped_columns, notes=wms.notes)
    assert question_prompt(question, again, settings).input == first.input and again.version == wms.version
    dev = question_prompt(question, wms, settings, split="dev", gold_tables=["audit_log"])
    assert dev.input == first.input and "audit_log" not in dev.linked.tables  # dev prompts ignore gold
    train = question_prompt(question, wms, settings, split="train", gold_tables=["audit_log"])
    assert "CREATE TABLE audit_log" in train.input and train.linked.added_gold == ["audit_log"]
    assert set(train.linked.tables) == set(first.linked.tables) | {"audit_log"}
    oracle = question_prompt(question, wms, settings.model_copy(update={"schema_context": "oracle"}),
                             gold_tables=["return_order"])
    assert oracle.linked.mode == "oracle" and oracle.linked.tables[0] == "return_order"
    with pytest.raises(ValueError, match="oracle.*gold tables"):
        question_prompt(question, wms, settings.model_copy(update={"schema_context": "oracle"}))


def test_wide_table_shows_its_keys_and_the_asked_columns(tmp_path: Path) -> None:
    import sqlalchemy as sa
    import yaml

    md = sa.MetaData()
    sa.Table("account", md, sa.Column("account_id", sa.Integer, primary_key=True), sa.Column("account_name", sa.String(40)))
    filler = [sa.Column(f"attr_{i:03d}", sa.String(20)) for i in range(120)]
    sa.Table("gl_entry", md, sa.Column("entry_id", sa.Integer, primary_key=True),
             sa.Column("account_id", sa.Integer, sa.ForeignKey("account.account_id")), *filler[:60],
             sa.Column("tax_amount_cny", sa.Numeric(12, 2)), *filler[60:], sa.Column("posted_on", sa.Date))
    path = tmp_path / "ledger.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    md.create_all(engine)
    engine.dispose()
    columns = {"entry_id": "凭证编号", "account_id": "科目编号", "tax_amount_cny": "税额(元)", "posted_on": "记账日期"}
    columns |= {f"attr_{i:03d}": f"扩展属性{i:03d}" for i in range(120)}
    desc = tmp_path / "ledger.yaml"
    desc.write_text(yaml.safe_dump({"tables": {"account": {"comment": "会计科目", "columns": {"account_name": "科目名称"}},
                                               "gl_entry": {"comment": "总账分录", "columns": columns}}},
                                   allow_unicode=True), encoding="utf-8")
    index = index_for(DatabaseConfig(name="ledger", url=sqlite_url(path, read_only=True).render_as_string(),
                                     descriptions=desc))
    close_executors()
    assert index.cost("gl_entry", "ddl") > 1000
    settings = PromptSettings(budget_tokens=400)
    prompt = question_prompt("每个会计科目的税额合计是多少？", index, settings)
    shown = prompt.linked.columns["gl_entry"]
    assert {"entry_id", "account_id", "tax_amount_cny"} <= set(shown) and len(shown) < 30
    assert "tax_amount_cny" in prompt.input and "attr_119" not in prompt.input
    assert "more columns of gl_entry not shown" in prompt.input and "FOREIGN KEY (account_id)" in prompt.input
    assert prompt.linked.tokens <= 400 and set(prompt.linked.tables) == {"account", "gl_entry"}
    cards_prompt = question_prompt("每个会计科目的税额合计是多少？", index, settings.model_copy(update={"schema_format": "cards"}))
    assert "- tax_amount_cny decimal" in cards_prompt.input and "attr_119" not in cards_prompt.input
    train = question_prompt("每个会计科目的税额合计是多少？", index, settings, split="train", gold_tables=["gl_entry"])
    assert "attr_119" in train.input and "gl_entry" not in train.linked.columns  # its SQL may read any column
