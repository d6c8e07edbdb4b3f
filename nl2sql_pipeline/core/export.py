"""Step 7: the validated pairs of every database as a LLaMA-Factory `dataset_dir`.

Alpaca and ShareGPT JSONL for train and dev, `dataset_info.json` registering them (ShareGPT with
role/content `tags`, without which LLaMA-Factory fails), `samples.jsonl` for audits and a report.
Every prompt carries the schema of the tables the SQL uses plus their FK neighbours within a
token budget: a model that never sees a schema cannot learn to map questions onto it.
Files are written atomically and deterministically: unchanged inputs give byte-identical files.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from nl2sql_pipeline.core.cards import TableCards, estimate_tokens
from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.fsutil import atomic_write
from nl2sql_pipeline.core.validation import ValidatedSample, ValidatedSamples

INSTRUCTIONS = {
    "zh": "将下面的自然语言问题转换为SQL查询语句。",  # the reference design's instruction
    "en": "Convert the natural-language question below into an SQL query.",
}
SHAREGPT_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
}
SPLITS = ("train", "dev")
FORMATS = ("alpaca", "sharegpt")


class ExportError(Nl2SqlError):
    """The validated samples cannot become a training dataset."""


class ExportConfig(BaseModel):
    """How prompts are built; all of it decides the exported bytes."""

    instruction: str = INSTRUCTIONS["zh"]
    schema_format: Literal["ddl", "cards"] = "ddl"
    schema_budget_tokens: int = Field(1200, ge=50)
    system_prompt: str = "You are an expert {dialect} SQL assistant. Answer with one SQL query and nothing else."
    dataset_name: str = "nl2sql"

    @classmethod
    def for_language(cls, language: str, **kw: object) -> ExportConfig:
        return cls(instruction=INSTRUCTIONS.get(language, INSTRUCTIONS["zh"]), **kw)


def instruction_for(language: str, config: ExportConfig) -> str:
    """The instruction in the question's language (an English question never sits under the
    Chinese instruction); a custom instruction is used as written for every row."""
    if config.instruction in INSTRUCTIONS.values():
        return INSTRUCTIONS.get(language, config.instruction)
    return config.instruction


class ExportReport(BaseModel):
    dataset_dir: str
    files: dict[str, int]  # file name -> rows
    counts: dict[str, dict[str, int]]  # by database / topic / hardness / split / language
    rejections: dict[str, dict[str, int]]  # database -> reason category -> count
    validation: dict[str, dict[str, object]]  # database -> ValidatedSamples.summary()
    schema_over_budget: int  # prompts whose used tables alone exceed the budget
    changed: list[str]  # files whose bytes changed in this export
    query_log: dict[str, list[str]] = {}  # database -> what its query log gave and dropped (raw_samples' notes)


def schema_tables(used: list[str], cards: TableCards, budget_tokens: int, fmt: str) -> tuple[list[str], bool]:
    """Tables the SQL uses (always), then their FK neighbours while the budget allows."""
    cost = {c.table: estimate_tokens(c.ddl) if fmt == "ddl" else c.tokens for c in cards.cards}
    chosen = [c.table for t in used if (c := cards.card(t))]
    spent = sum(cost[t] for t in chosen)
    over = spent > budget_tokens
    neighbours: list[str] = []
    for table in chosen:
        card = cards.card(table)
        neighbours += [link.other_table for link in card.links] if card else []
    for name in dict.fromkeys(neighbours):
        card = cards.card(name)
        if card and card.table not in chosen and spent + cost[card.table] <= budget_tokens:
            chosen.append(card.table)
            spent += cost[card.table]
    return chosen, over


def render_schema(tables: list[str], cards: TableCards, fmt: str) -> str:
    if fmt == "cards":
        return cards.render(tables)
    return "\n\n".join(c.ddl for t in tables if (c := cards.card(t)))


def prompt_input(item: ValidatedSample, cards: TableCards, config: ExportConfig) -> tuple[str, bool]:
    """The `input` of an Alpaca row: the schema context, then the question."""
    tables, over = schema_tables(item.tables, cards, config.schema_budget_tokens, config.schema_format)
    schema = render_schema(tables, cards, config.schema_format)
    return f"Database schema ({cards.dialect}):\n{schema}\n\nQuestion: {item.sample.question}", over


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in rows)


def _count(values: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def build_files(
    validated: list[ValidatedSamples], cards: dict[str, TableCards], config: ExportConfig
) -> tuple[dict[str, str], dict[str, object]]:
    """File name -> text of the whole dataset folder, and the facts for the report."""
    rows: dict[tuple[str, str], list[dict]] = {(s, f): [] for s in SPLITS for f in FORMATS}
    audit: list[dict] = []
    over_budget = 0
    exported: list[ValidatedSample] = []
    for batch in sorted(validated, key=lambda v: v.database):
        if batch.database not in cards:
            raise ExportError(f"No table cards for database {batch.database!r}, so its prompts would lack the schema.",
                              f"materialize table_cards for partition {batch.database} first.")
        for item in batch.accepted:
            text, over = prompt_input(item, cards[batch.database], config)
            over_budget += over
            split = item.split or "train"
            system = config.system_prompt.format(dialect=batch.dialect)
            instruction = instruction_for(item.sample.language, config)
            rows[(split, "alpaca")].append({"instruction": instruction, "input": text, "output": item.sample.sql})
            rows[(split, "sharegpt")].append({"messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": f"{instruction}\n\n{text}"},
                {"role": "assistant", "content": item.sample.sql},
            ]})
            audit.append({
                "database": batch.database, "split": split, "topic": item.sample.topic, "hardness": item.hardness,
                "question": item.sample.question, "sql": item.sample.sql, "row_count": item.row_count,
                "column_count": item.column_count, "empty": item.empty, "tables": item.tables,
                "template": item.template, "language": item.sample.language, "source": item.sample.source,
            })
            exported.append(item)
    if not exported:
        counts = ", ".join(f"{v.database}: {len(v)} generated" for v in validated) or "no databases"
        raise ExportError(f"No validated pair to export ({counts}); LLaMA-Factory cannot train on empty files.",
                          "check the validated_samples rejections (report in its metadata) and regenerate.")
    name = config.dataset_name
    files = {f"{fmt}_{split}.jsonl": _jsonl(rows[(split, fmt)]) for split in SPLITS for fmt in FORMATS}
    info: dict[str, dict] = {}
    for split in SPLITS:
        info[f"{name}_{split}_alpaca"] = {
            "file_name": f"alpaca_{split}.jsonl",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
        info[f"{name}_{split}_sharegpt"] = {
            "file_name": f"sharegpt_{split}.jsonl",
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": SHAREGPT_TAGS,
        }
    files["dataset_info.json"] = json.dumps(info, ensure_ascii=False, indent=2) + "\n"
    files["samples.jsonl"] = _jsonl(audit)
    facts = {
        "files": {f: t.count("\n") for f, t in files.items() if f.endswith(".jsonl")},
        "counts": {
            "database": _count([a["database"] for a in audit]),
            "topic": _count([f"{a['database']}/{a['topic']}" for a in audit]),
            "hardness": _count([a["hardness"] or "unknown" for a in audit]),
            "split": _count([a["split"] for a in audit]),
            "language": _count([a["language"] for a in audit]),
            "source": _count([a["source"] for a in audit]),
        },
        "rejections": {v.database: v.rejection_counts() for v in sorted(validated, key=lambda v: v.database)},
        "validation": {v.database: v.summary() for v in sorted(validated, key=lambda v: v.database)},
        "schema_over_budget": over_budget,
        "query_log": {v.database: notes for v in sorted(validated, key=lambda v: v.database)
                      if (notes := [n for n in v.notes if n.startswith("query log")])},
    }
    return files, facts


def report_markdown(report: ExportReport) -> str:
    def table(title: str, counts: dict[str, int]) -> list[str]:
        return [f"## {title}", "", "| value | count |", "|---|---|", *(f"| {k} | {v} |" for k, v in counts.items()), ""]

    lines = ["# NL2SQL training dataset", "", "| file | rows |", "|---|---|"]
    lines += [f"| {f} | {n} |" for f, n in report.files.items()] + [""]
    for key, counts in report.counts.items():
        lines += table(f"By {key}", counts)
    lines += ["## Validation", "", "| database | total | syntax ok | schema ok | executed | duplicates | accepted |",
              "|---|---|---|---|---|---|---|"]
    for db, s in report.validation.items():
        passed = s["passed"]
        lines.append(f"| {db} | {s['total']} | {passed['syntax']} | {passed['schema']} | {passed['execution']} | "
                     f"{s['duplicates']} | {s['accepted']} |")
    lines.append("")
    for db, reasons in report.rejections.items():
        lines += table(f"Rejections in {db}", reasons) if reasons else [f"## Rejections in {db}", "", "none", ""]
    for db, notes in report.query_log.items():
        lines += [f"## Query log of {db}", "", *(f"- {n}" for n in notes), ""]
    lines.append(f"Prompts whose used tables alone exceed the schema budget: {report.schema_over_budget}")
    return "\n".join(lines) + "\n"


def export_dataset(
    validated: list[ValidatedSamples], cards: dict[str, TableCards], out_dir: Path, config: ExportConfig | None = None
) -> ExportReport:
    """Write the dataset folder; files whose bytes would not change are left untouched."""
    config = config or ExportConfig()
    out_dir = Path(out_dir)
    files, facts = build_files(validated, cards, config)
    changed = [name for name, text in files.items() if _differs(out_dir / name, text)]
    report = ExportReport(dataset_dir=str(out_dir), changed=changed, **facts)
    files["report.json"] = json.dumps(report.model_dump(exclude={"changed", "dataset_dir"}), ensure_ascii=False,
                                      indent=2, sort_keys=True) + "\n"
    files["report.md"] = report_markdown(report)
    # dataset_info.json last: a reader that finds it finds the files it names complete.
    for name in sorted(files, key=lambda n: n == "dataset_info.json"):
        if _differs(out_dir / name, files[name]):
            atomic_write(out_dir / name, partial(_write_shared, text=files[name]))
    return report


def _write_shared(tmp: Path, text: str) -> None:
    tmp.write_text(text, encoding="utf-8")
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)  # readable like any other file (mkstemp makes it private), e.g. by a trainer user


def _differs(path: Path, text: str) -> bool:
    return not path.exists() or path.read_bytes() != text.encode("utf-8")
