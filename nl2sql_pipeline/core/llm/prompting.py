"""Prompts and JSON schemas of stage B: the topic's DDL and cards in the database's dialect, the
dialect's rules, the hardness mix and question styles, opt-in sampled values, and for top-ups
the shortfall with what already exists."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from nl2sql_pipeline.core.cards import TableCards, estimate_tokens
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.llm.pii import PiiMasker
from nl2sql_pipeline.core.llm.settings import GeneratorSettings
from nl2sql_pipeline.core.planning import is_chinese
from nl2sql_pipeline.core.samples import Sample, Topic
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.semantics.legend import describe, parse_comment
from nl2sql_pipeline.prompts import render

Values = Callable[[Topic], str]  # sampled values to show in the prompt ("" for none)

DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL", "tsql": "SQL Server",
                 "duckdb": "DuckDB", "oracle": "Oracle"}
DIALECT_RULES = {
    "tsql": "Use TOP n, never LIMIT; quote identifiers with [brackets]; use GETDATE()/DATEADD for dates.",
    "mysql": "Use LIMIT n; quote identifiers with `backticks` when needed; use DATE_FORMAT/YEAR() for dates.",
    "postgres": "Use LIMIT n; quote mixed-case identifiers with \"double quotes\"; use EXTRACT/date_trunc for dates.",
    "sqlite": "Use LIMIT n; use strftime() for dates; there is no RIGHT or FULL JOIN.",
    "duckdb": "Use LIMIT n; use date_trunc/strftime for dates.",
    "oracle": "Use FETCH FIRST n ROWS ONLY, never LIMIT.",
}
HARDNESS = ("easy", "medium", "hard", "extra")


def samples_schema(count: int) -> dict[str, Any]:
    """`{"samples": [...]}` as a JSON schema (enforced by vLLM; an object top level also suits
    json_object endpoints such as DeepSeek's). Bounded lengths keep weak models' answers finite."""
    item = {"type": "object", "additionalProperties": False,
            "required": ["question", "sql", "hardness", "style"],
            "properties": {"question": {"type": "string", "minLength": 1, "maxLength": 300},
                           "sql": {"type": "string", "minLength": 1, "maxLength": 1200},
                           "hardness": {"type": "string", "enum": list(HARDNESS)},
                           "style": {"type": "string", "maxLength": 60}}}
    return {"type": "object", "additionalProperties": False, "required": ["samples"],
            "properties": {"samples": {"type": "array", "items": item, "minItems": 1, "maxItems": count}}}


def numbered_schema(key: str, field: str, count: int, max_length: int) -> dict[str, Any]:
    """`{key: [{"id": 1..count, field: text}, ...]}`: one answer per numbered item of a request."""
    item = {"type": "object", "additionalProperties": False, "required": ["id", field],
            "properties": {"id": {"type": "integer", "minimum": 1, "maximum": count},
                           field: {"type": "string", "minLength": 1, "maxLength": max_length}}}
    return {"type": "object", "additionalProperties": False, "required": [key],
            "properties": {key: {"type": "array", "items": item, "minItems": 1, "maxItems": count}}}


def questions_schema(count: int) -> dict[str, Any]:
    return numbered_schema("questions", "question", count, 300)


def normalize(text: str) -> str:
    """Whitespace-collapsed, lower-case, no trailing semicolon: the key that spots repeats."""
    return re.sub(r"\s+", " ", text.strip().rstrip(";")).lower()


def allocate(count: int, mix: dict[str, float]) -> dict[str, int]:
    """`count` split by the hardness mix, largest remainder first, summing exactly to `count`."""
    weights = {h: max(mix.get(h, 0.0), 0.0) for h in HARDNESS}
    total = sum(weights.values()) or 1.0
    shares = {h: count * w / total for h, w in weights.items()}
    out = {h: int(s) for h, s in shares.items()}
    for h in sorted(HARDNESS, key=lambda h: -(shares[h] - out[h]))[: count - sum(out.values())]:
        out[h] += 1
    return out


def meaning_lines(cards: TableCards, tables: list[str], zh: bool) -> str:
    """Code meanings, units, ranges and formats of the tables' columns, parsed from their comments,
    with the rule that questions say meanings and SQL never does arithmetic on codes."""
    lines = []
    for t in tables:
        card = cards.card(t)
        for col in card.columns if card else []:
            parsed = parse_comment(col.comment)
            facts = describe(parsed.values, parsed.unit, parsed.range, parsed.format)
            if facts:
                lines.append(f"- {card.table}.{col.name} ({parsed.label or col.name}): {'; '.join(facts)}")
    if not lines:
        return ""
    head = ("列的业务含义(代码取值、单位、范围、格式):" if zh else
            "What the columns mean (code values, units, ranges, formats):")
    rule = ("问题里用代码的含义(如“已离职的员工”“女员工”),不要写代码本身或照抄注释;金额带上单位;"
            "不要对代码、标志或编号列求和、求平均或比较大小;ORDER BY ... LIMIT 遇到并列时在问题和 SQL 里写明次序。" if zh else
            "Questions name codes by their meaning (\"employees who left\", not \"status = 2\") and never copy a comment; "
            "amounts carry their unit; never SUM, AVG or compare code, flag or id columns; when ORDER BY ... LIMIT "
            "could tie, state the tie-breaker in both the question and the SQL.")
    return "\n" + head + "\n" + "\n".join(lines) + "\n" + rule + "\n"


def chunks(count: int, size: int) -> list[int]:
    n = max(1, math.ceil(count / size))
    return [count // n + (1 if i < count % n else 0) for i in range(n)]


class Prompts:
    """The prompts of one database's generation run: its cards, dialect, language and settings."""

    def __init__(self, cards: TableCards, db: DatabaseConfig, settings: GeneratorSettings,
                 values: Values | None = None) -> None:
        self.cards, self.db, self.settings, self.values = cards, db, settings, values
        self.language = db.language or ("zh" if is_chinese(cards) else "en")
        self.dialect = cards.dialect
        self.dialect_name = DIALECT_NAMES.get(cards.dialect, cards.dialect)

    def ddl(self, topic: Topic) -> tuple[str, str]:
        """DDL and card text of the topic's tables, trimmed to the context budget."""
        tables = self.cards.fit(topic.tables, self.settings.context_budget_tokens // 2)
        ddl = "\n\n".join(c.ddl for t in tables if (c := self.cards.card(t)))
        text = self.cards.render(tables)
        if estimate_tokens(ddl) + estimate_tokens(text) > self.settings.context_budget_tokens:
            text = "(see the DDL above)"
        return ddl, text

    def generation_prompt(self, topic: Topic, count: int, batch: int, existing: list[Sample], round_no: int) -> str:
        s = self.settings
        ddl, text = self.ddl(topic)
        mix = allocate(count, self.db.synthesis.hardness_mix)
        turn = batch % len(s.question_styles)
        styles = s.question_styles[turn:] + s.question_styles[:turn]
        listed = existing[-s.existing_listed:] if s.existing_listed else []
        zh = self.language == "zh"
        section = ""
        if round_no:  # a top-up asks for the shortfall only and never repeats an earlier prompt
            section = (f"\n(第 {round_no} 轮补充)之前的回答还缺 {count} 条可用样本。" if zh else
                       f"\n(Top-up round {round_no}.) Earlier answers left {count} usable samples missing.")
            if not listed:
                section += "请严格只输出要求的 JSON 对象。\n" if zh else " Output the required JSON object only.\n"
        if listed:
            section += (f"\n以下 {len(existing)} 条样本已经存在,不要重复它们的问题或 SQL,只需再写 {count} 条新的:\n" if zh else
                        f"\nThese {len(existing)} samples already exist; do not repeat their questions or SQL, "
                        f"write {count} new ones only:\n")
            section += "\n".join(f"- {x.question} | {normalize(x.sql)}" for x in listed) + "\n"
        if batch:
            section += f"\n(第 {batch + 1} 批,请换一些角度和列)\n" if zh else f"\n(Batch {batch + 1}: use other angles and columns.)\n"
        values = self.values(topic) if self.values else ""
        meanings = meaning_lines(self.cards, topic.tables, zh)
        return render(f"generator_{self.language}", dialect_name=self.dialect_name, topic=topic.name,
                      reason=topic.reason or "-", ddl=ddl, cards=text, values=(f"\n{values}\n" if values else "") + meanings,
                      count=count, dialect_rules=DIALECT_RULES.get(self.dialect, ""),
                      hardness=", ".join(f"{h} {n}" for h, n in mix.items() if n),
                      styles="; ".join(styles), existing=section)

    def question_prompt(self, topic: Topic, sqls: list[str], batch: int) -> str:
        """llm-sql-first: one question per numbered SQL, in the batch's style."""
        ddl, _ = self.ddl(topic)
        styles = self.settings.question_styles
        sql_list = "\n".join(f"{n}. {normalize(sql)}" for n, sql in enumerate(sqls, start=1))
        meanings = meaning_lines(self.cards, topic.tables, self.language == "zh")
        return render(f"question_{self.language}", topic=topic.name, dialect_name=self.dialect_name,
                      ddl=ddl + ("\n" + meanings if meanings else ""), style=styles[batch % len(styles)], sql_list=sql_list)
    def round_trip_prompt(self, topic: Topic, questions: list[str]) -> str:
        """The round-trip check: SQL for each numbered question, the pairs' own SQL not shown."""
        ddl, _ = self.ddl(topic)
        meanings = meaning_lines(self.cards, topic.tables, self.language == "zh")
        listed = "\n".join(f"{n}. {q}" for n, q in enumerate(questions, start=1))
        return render(f"roundtrip_{self.language}", topic=topic.name, dialect_name=self.dialect_name,
                      ddl=ddl + ("\n" + meanings if meanings else ""), question_list=listed,
                      dialect_rules=DIALECT_RULES.get(self.dialect, ""))


def value_lines(executor: ReadOnlyExecutor, meta: SchemaMetadata, db: DatabaseConfig, per_column: int,
                masker: PiiMasker | None = None) -> Values:
    """Real values of a topic's text and date columns for the prompt (only where `db.may_sample`);
    literals that exist make the LLM's filters return rows. A sensitive column's values are
    registered with `masker`, which replaces them before the prompt leaves (drop: not shown)."""

    def values(topic: Topic) -> str:
        lines = []
        for name in topic.tables:
            table = meta.table(name)
            for col in table.columns if table else []:
                if col.type not in ("text", "date", "datetime") or not db.may_sample(table.name, col.name):
                    continue
                if masker is not None and not masker.may_show(table.name, col.name):
                    continue
                column = exp.column(col.name, quoted=True)
                query = (exp.select(column).distinct().from_(exp.to_table(table.name, quoted=True))
                         .where(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null()))).limit(per_column))
                result = executor.execute(query.sql(dialect=meta.dialect), row_cap=per_column)
                if result.ok and result.rows:
                    if masker is not None:
                        masker.register(table.name, col.name, [v for r in result.rows for v in (str(r[0]), str(r[0])[:40])])
                    lines.append(f"- {table.name}.{col.name}: " + ", ".join(str(r[0])[:40] for r in result.rows))
        return ("Sample values (real data):\n" + "\n".join(lines)) if lines else ""

    return values
