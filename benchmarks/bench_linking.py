"""Schema-linking benchmark (issue 16): gold-table recall, tables and tokens shown, latency.

1. spider-de dev (1,030 German questions, non-ASCII identifiers, 20 SQLite databases) at
   --max-tables 4 and at budgets that force selection, for three arms in the same run: the full
   schema, a name-only BM25 baseline (table + column names, top tables by BM25 alone) and the
   linker (cards, value index, name match, FK-path completion). Recall is also given on the
   questions where the budget forced a choice, beside the share whose gold tables fit at all.
2. A 500-table synthetic company schema (25 business domains x 20 entities, English snake_case
   names, Chinese comments with code legends, FKs inside each domain, sampled values) with a
   generated dev split of Chinese questions: recall within 2,000 tokens, index build time,
   latency p50/p95 per question after the index is built. Targets: recall >= 0.95, p95 <= 5 ms.

    .venv/bin/python benchmarks/bench_linking.py [--data ../shared/data/spider-de] [--questions 400]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.execution import close_executors
from nl2sql_pipeline.core.linking import ColumnValues, LinkConfig, LinkedSchema, SchemaIndex, build_index, link
from nl2sql_pipeline.core.linking.cli import index_for
from nl2sql_pipeline.core.linking.measure import Linker, Question, pick, summarize
from nl2sql_pipeline.core.linking.words import words
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "nl2sql_pipeline_tests" / "data" / "spider_de"


def whole_schema(question: str, index: SchemaIndex, config: LinkConfig) -> LinkedSchema:
    tables = index.tables
    return LinkedSchema(database=index.database, mode="full", tables=tables, whole_schema=True,
                        tokens=sum(index.cost(t, config.schema_format) for t in tables))


def bm25_names_only(question: str, index: SchemaIndex, config: LinkConfig) -> LinkedSchema:
    """The baseline: BM25 over table and column names, top tables while the budget and cap allow."""
    if sum(index.cost(t, config.schema_format) for t in index.tables) <= config.budget_tokens and (
            not config.max_tables or len(index) <= config.max_tables):
        return whole_schema(question, index, config)
    scores = index.table_scores(words(question))
    tables, costs = index.shape.tables, index.shape.costs[config.schema_format]
    cap, cheapest = config.max_tables or len(tables), min(costs)
    chosen, spent = [], 0
    for i in np.argsort(-scores, kind="stable").tolist():
        if chosen and spent + costs[i] > config.budget_tokens:
            continue
        chosen.append(tables[i])
        spent += costs[i]
        if len(chosen) == cap or config.budget_tokens - spent < cheapest:
            break
    return LinkedSchema(database=index.database, mode="linked", tables=chosen, tokens=spent)


ARMS: dict[str, Linker] = {"full schema": whole_schema, "BM25 names only": bm25_names_only, "linker": link}


def _row(name: str, setting: str, questions: list[Question], indexes: dict[str, SchemaIndex],
         config: LinkConfig, linker: Linker) -> str:
    results = [pick(q, indexes[q.db_id], config, linker) for q in questions]
    everything = summarize([p for p, _ in results], [w for _, w in results])
    forced = [(p, w) for p, w in results if not w]
    chosen = summarize([p for p, _ in forced], [w for _, w in forced])
    fits = sum(sum(indexes[p.db_id].cost(t, config.schema_format) for t in p.gold or []) <= config.budget_tokens
               and len(p.gold or []) <= (config.max_tables or 10**6) for p, _ in forced)
    return (f"| {setting} | {name} | {everything.gold_recall:.3f} | {everything.precision:.3f} | {everything.mean_tables} | "
            f"{everything.mean_tokens} | {len(forced)} | {chosen.gold_recall:.3f} | {fits / max(1, len(forced)):.3f} | "
            f"{everything.latency_p50_ms:.2f} / {everything.latency_p95_ms:.2f} |")


def spider(data: Path) -> None:
    rows = json.loads((data / "dev.json").read_text(encoding="utf-8"))
    questions = [Question(index=i, **r) for i, r in enumerate(rows)]
    start = time.perf_counter()
    indexes, names_only = {}, {}
    for db_id in sorted({q.db_id for q in questions}):
        path = data / "database" / db_id / f"{db_id}.sqlite"
        indexes[db_id] = index_for(DatabaseConfig(name="spider", url=sqlite_url(path, read_only=True).render_as_string()))
    build_s = time.perf_counter() - start
    close_executors()
    for db_id, index in indexes.items():
        names_only[db_id] = build_index(index.cards, fields=("names",))
    print(f"## spider-de dev: {len(questions)} questions, {len(indexes)} databases, index build {build_s:.2f} s "
          "(reflection + cards + value sampling)\n")
    print("| setting | arm | gold recall | precision | mean tables | mean tokens | forced | recall when forced | "
          "gold fits when forced | latency p50 / p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    settings = [("max 4 tables", LinkConfig(budget_tokens=100_000, max_tables=4))]
    settings += [(f"budget {b} tokens", LinkConfig(budget_tokens=b)) for b in (400, 300, 200)]
    for setting, config in settings:
        for name, linker in ARMS.items():
            print(_row(name, setting, questions, names_only if name == "BM25 names only" else indexes, config, linker))
    print()


DOMAINS = [("fin", "财务"), ("hr", "人力"), ("inv", "库存"), ("sales", "销售"), ("crm", "客户关系"), ("mkt", "市场"),
           ("log", "物流"), ("prod", "生产"), ("qa", "质检"), ("it", "信息"), ("proc", "采购"), ("legal", "法务"),
           ("rd", "研发"), ("svc", "售后"), ("ops", "运营"), ("risk", "风控"), ("tax", "税务"), ("asset", "资产"),
           ("pay", "支付"), ("ecom", "电商"), ("fleet", "车队"), ("edu", "培训"), ("eng", "工程"), ("env", "环保"),
           ("med", "医务")]
ENTITIES = [("order", "订单"), ("invoice", "发票"), ("contract", "合同"), ("employee", "员工"), ("site", "站点"),
            ("project", "项目"), ("budget_plan", "预算计划"), ("approval_flow", "审批流程"), ("vendor", "供应商"),
            ("ticket", "工单"), ("device", "设备"), ("shift_schedule", "排班"), ("audit_record", "审计记录"),
            ("payment_term", "付款条件"), ("cost_center", "成本中心"), ("kpi_target", "考核指标"), ("training_course", "培训课程"),
            ("inspection", "检查"), ("incident", "事故"), ("warehouse_bin", "库位")]
COLUMNS = [("status", "integer", "状态: 0=草稿 1=生效 2=关闭"), ("amount_cny", "decimal", "金额(元)"),
           ("created_at", "date", "创建日期"), ("owner_name", "text", "负责人"), ("region", "text", "所属区域"),
           ("priority", "integer", "优先级: 1=高 2=中 3=低")]
REGIONS = ["华东", "华南", "华北", "西南", "东北"]


def synthetic_schema(seed: int = 0) -> tuple[SchemaMetadata, list[ColumnValues]]:
    rng = random.Random(seed)
    tables, values = [], []
    for dom, dom_zh in DOMAINS:
        for k, (ent, ent_zh) in enumerate(ENTITIES):
            name = f"{dom}_{ent}"
            cols = [{"name": f"{ent}_id", "type": "integer", "raw_type": "INTEGER", "nullable": False,
                     "primary_key": True, "comment": f"{ent_zh}编号"},
                    {"name": f"{ent}_name", "type": "text", "raw_type": "VARCHAR(60)", "nullable": True,
                     "comment": f"{ent_zh}名称"}]
            cols += [{"name": c, "type": t, "raw_type": t.upper(), "nullable": True, "comment": f"{ent_zh}{cz}"}
                     for c, t, cz in rng.sample(COLUMNS, 4)]
            fks = []
            if k:  # each entity refers to an earlier one of its domain: FK paths of several hops
                parent_ent = ENTITIES[rng.randrange(k)][0]
                cols.append({"name": f"{parent_ent}_id", "type": "integer", "raw_type": "INTEGER", "nullable": True,
                             "comment": "关联编号"})
                fks.append({"columns": [f"{parent_ent}_id"], "ref_table": f"{dom}_{parent_ent}", "ref_columns": [f"{parent_ent}_id"]})
            tables.append({"name": name, "comment": f"{dom_zh}{ent_zh}", "columns": cols,
                           "primary_key": [f"{ent}_id"], "foreign_keys": fks})
            values.append(ColumnValues(table=name, column=f"{ent}_name",
                                       values=[f"{dom_zh}{ent_zh}{i:03d}号" for i in range(5)]))
    meta = SchemaMetadata.model_validate({"database": "synthetic", "backend": "sqlite", "dialect": "sqlite", "tables": tables})
    return meta, values


def synthetic_questions(meta: SchemaMetadata, n: int, seed: int = 1) -> list[Question]:
    """Chinese questions as users of such a schema ask them: the business words of the comments,
    a column's meaning, a named value, or two related entities."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        table = meta.tables[rng.randrange(len(meta.tables))]
        dom_zh, ent_zh = table.comment[:-len(_entity_zh(table.name))], _entity_zh(table.name)
        col = rng.choice([c for c in table.columns[2:] if c.comment and c.comment != "关联编号"])
        kind = rng.randrange(4)
        if kind == 0:
            q, gold = f"{dom_zh}的{ent_zh}一共有多少条？", f"SELECT count(*) FROM {table.name}"
        elif kind == 1:
            q, gold = f"按{col.comment}统计{dom_zh}部门的{ent_zh}", f"SELECT {col.name}, count(*) FROM {table.name} GROUP BY {col.name}"
        elif kind == 2:
            value = f"{table.comment}00{rng.randrange(5)}号"
            q, gold = f"“{value}”的{col.comment.removeprefix(ent_zh)}是多少？", f"SELECT {col.name} FROM {table.name} WHERE {table.columns[1].name} = '{value}'"
        else:
            fk = table.foreign_keys[0] if table.foreign_keys else None
            if fk is None:
                q, gold = f"{REGIONS[i % 5]}{dom_zh}{ent_zh}的数量", f"SELECT count(*) FROM {table.name}"
            else:
                parent = meta.table(fk.ref_table)
                q = f"每个{parent.comment}下有多少{ent_zh}？"
                gold = f"SELECT p.{parent.columns[1].name}, count(*) FROM {table.name} AS c JOIN {parent.name} AS p ON c.{fk.columns[0]} = p.{fk.ref_columns[0]} GROUP BY 1"
        out.append(Question(index=i, db_id="synthetic", question=q, query=gold))
    return out


def _entity_zh(table: str) -> str:
    return next(zh for ent, zh in ENTITIES if table.endswith(f"_{ent}"))


def synthetic(n: int) -> None:
    meta, values = synthetic_schema()
    start = time.perf_counter()
    cards = build_cards(meta)
    cards_s = time.perf_counter() - start
    start = time.perf_counter()
    index = build_index(cards, values)
    build_s = time.perf_counter() - start
    names_only = build_index(cards, fields=("names",))
    questions = synthetic_questions(meta, n)
    total = sum(index.cost(t, "ddl") for t in index.tables)
    print(f"## synthetic: {len(index)} tables, {sum(len(t.columns) for t in meta.tables)} columns, whole schema "
          f"{total} tokens; cards {cards_s:.2f} s, index build {build_s:.2f} s (BM25 + value index, "
          f"{sum(len(v.values) for v in values)} values); {len(questions)} generated questions\n")
    print("| setting | arm | gold recall | precision | mean tables | mean tokens | forced | recall when forced | "
          "gold fits when forced | latency p50 / p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for budget in (2000, 1000):
        config = LinkConfig(budget_tokens=budget)
        for name in ("BM25 names only", "linker"):
            print(_row(name, f"budget {budget} tokens", questions, {"synthetic": names_only if name != "linker" else index},
                       config, ARMS[name]))
    print()
    # Wall latency swings with the neighbours on a shared machine; CPU time of the linking thread does not.
    for budget in (2000, 1000):
        cpu = []
        for q in questions:
            start = time.thread_time()
            link(q.question, index, LinkConfig(budget_tokens=budget))
            cpu.append((time.thread_time() - start) * 1000)
        cpu.sort()
        print(f"linker CPU time per question at {budget} tokens: p50 {cpu[len(cpu) // 2]:.2f} ms, "
              f"p95 {cpu[int(len(cpu) * 0.95)]:.2f} ms, max {cpu[-1]:.2f} ms")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--questions", type=int, default=400, help="generated dev questions on the synthetic schema")
    args = parser.parse_args()
    spider(args.data)
    synthetic(args.questions)


if __name__ == "__main__":
    main()
