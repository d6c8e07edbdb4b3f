"""Step 6's export: the validated pairs of every database as a LLaMA-Factory `dataset_dir`.

Alpaca and ShareGPT JSONL for train and dev, `dataset_info.json` registering them (ShareGPT with
role/content `tags`, without which LLaMA-Factory fails), `samples.jsonl` for audits and a report.
Every prompt comes from the one prompt builder (`core.linking.prompt`): the tables the schema
linker picks for the question within a token budget, as a deployed model would see them. Training
prompts add any gold table the linker missed (counted in the report); dev prompts never see the
gold SQL's tables, so dev scores are what a user gets. `oracle` context is a labelled diagnostic.
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

from nl2sql_pipeline.core.cards import TableCards
from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.fsutil import atomic_write
from nl2sql_pipeline.core.linking import INSTRUCTIONS, Mode, Prompt, PromptSettings, SchemaIndex, build_index
from nl2sql_pipeline.core.linking.prompt import SYSTEM_PROMPT, oracle_tables, question_prompt
from nl2sql_pipeline.core.linking.report import LinkingTally, linking_markdown
from nl2sql_pipeline.core.validation import ValidatedSample, ValidatedSamples

SHAREGPT_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
}
SPLITS = ("train", "dev")
ORACLE_SPLIT = "oracle"  # dev questions with the gold tables' schema: a diagnostic, never a headline
FORMATS = ("alpaca", "sharegpt")


class ExportError(Nl2SqlError):
    """The validated samples cannot become a training dataset."""


class ExportConfig(BaseModel):
    """How prompts are built; all of it decides the exported bytes."""

    instruction: str = INSTRUCTIONS["zh"]
    schema_format: Literal["ddl", "cards"] = "ddl"
    schema_budget_tokens: int = Field(1200, ge=50)
    system_prompt: str = SYSTEM_PROMPT
    dataset_name: str = "nl2sql"
    schema_context: dict[str, Mode] = Field(default_factory=dict)  # database -> full | linked | oracle (default linked)
    schema_max_tables: int = Field(0, ge=0)  # 0: only the budget limits the tables of a prompt
    value_hints: bool = True
    oracle_dev: bool = False  # also export the dev split with oracle schemas (`<name>_oracle_*`), for diagnosis
    # LLaMA-Factory has no per-row weight, so a query the company runs often weighs more by
    # repetition: a logged statement run n times is written min(cap, 1 + floor(log2 n)) times to
    # train (log-damped, so one hot dashboard query cannot crowd out the rest); 1 turns it off.
    log_repeat_cap: int = Field(4, ge=1)

    def prompt_settings(self, database: str) -> PromptSettings:
        return PromptSettings(instruction=self.instruction, system_prompt=self.system_prompt,
                              schema_format=self.schema_format, schema_context=self.schema_context.get(database, "linked"),
                              budget_tokens=self.schema_budget_tokens, max_tables=self.schema_max_tables,
                              value_hints=self.value_hints)

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
    schema_over_budget: int  # prompts whose chosen tables exceed the budget
    linking: dict[str, dict[str, object]] = Field(default_factory=dict)  # database -> recall, precision, tokens
    changed: list[str]  # files whose bytes changed in this export
    query_log: dict[str, list[str]] = {}  # database -> what its query log gave and dropped (raw_samples' notes)


schema_tables = oracle_tables  # the tables an oracle prompt shows: gold tables, then FK neighbours


def item_prompt(item: ValidatedSample, index: SchemaIndex, settings: PromptSettings) -> Prompt:
    """An exported pair's prompt. The gold SQL's tables are passed on only where they may show:
    training prompts (added when the linker missed them) and the oracle diagnostic."""
    split = item.split or "train"
    gold = item.tables if split == "train" or settings.schema_context == "oracle" else None
    return question_prompt(item.sample.question, index, settings, split="train" if split == "train" else "dev",
                           gold_tables=gold)


def train_repeats(item: ValidatedSample, cap: int) -> int:
    """How many times a train pair is written: more than once only for a logged query run often.

    >>> from nl2sql_pipeline.core.samples import Sample
    >>> from nl2sql_pipeline.core.validation import ValidatedSample
    >>> def logged(count):
    ...     sample = Sample(database="d", topic="t", question="q", sql="SELECT 1", language="en",
    ...                     source="log", meta={"count": count})
    ...     return ValidatedSample(sample=sample, passed=True, split="train")
    >>> [train_repeats(logged(n), 4) for n in (1, 2, 3, 4, 1000)]
    [1, 2, 2, 3, 4]
    """
    if item.sample.source != "log" or (item.split or "train") != "train":
        return 1
    count = int(item.sample.meta.get("count") or 1)
    return max(1, min(cap, count.bit_length()))


def _rows_of(prompt: Prompt, sql: str) -> tuple[dict, dict]:
    # the system prompt in Alpaca rows too: training and prediction then see what serving sends
    alpaca = {"instruction": prompt.instruction, "input": prompt.input, "output": sql, "system": prompt.system}
    sharegpt = {"messages": [*prompt.messages, {"role": "assistant", "content": sql}]}
    return alpaca, sharegpt


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in rows)


def _count(values: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def build_files(
    validated: list[ValidatedSamples], cards: dict[str, TableCards], config: ExportConfig,
    indexes: dict[str, SchemaIndex] | None = None,
) -> tuple[dict[str, str], dict[str, object]]:
    """File name -> text of the whole dataset folder, and the facts for the report. A database's
    `schema_index` is used when given (it carries sampled values); else one is built from its cards."""
    rows: dict[tuple[str, str], list[dict]] = {(s, f): [] for s in (*SPLITS, ORACLE_SPLIT) for f in FORMATS}
    audit: list[dict] = []
    over_budget = 0
    exported: list[ValidatedSample] = []
    linking: dict[str, dict[str, object]] = {}
    log_repeats: dict[str, int] = {}  # database -> extra train rows of often-run logged queries
    indexes = indexes or {}
    for batch in sorted(validated, key=lambda v: v.database):
        index = indexes.get(batch.database)
        if index is None and batch.database in cards:
            index = build_index(cards[batch.database])
        if index is None:
            raise ExportError(f"No table cards for database {batch.database!r}, so its prompts would lack the schema.",
                              f"materialize table_cards for partition {batch.database} first.")
        settings = config.prompt_settings(batch.database)
        tally = LinkingTally(settings.schema_context)
        for item in batch.accepted:
            # the instruction follows the question's language, the rest is the database's
            language = settings.model_copy(update={"instruction": instruction_for(item.sample.language, config)})
            prompt = item_prompt(item, index, language)
            over_budget += prompt.linked.over_budget
            split = item.split or "train"
            tally.add(split, item.tables, prompt.linked)
            alpaca, sharegpt = _rows_of(prompt, item.sample.sql)
            repeats = train_repeats(item, config.log_repeat_cap)
            rows[(split, "alpaca")].extend([alpaca] * repeats)
            rows[(split, "sharegpt")].extend([sharegpt] * repeats)
            if repeats > 1:
                log_repeats[batch.database] = log_repeats.get(batch.database, 0) + repeats - 1
            if config.oracle_dev and split == "dev":
                oracle = language.model_copy(update={"schema_context": "oracle"})
                alpaca, sharegpt = _rows_of(item_prompt(item, index, oracle), item.sample.sql)
                rows[(ORACLE_SPLIT, "alpaca")].append(alpaca)
                rows[(ORACLE_SPLIT, "sharegpt")].append(sharegpt)
            audit.append({
                "database": batch.database, "split": split, "topic": item.sample.topic, "hardness": item.hardness,
                "question": item.sample.question, "sql": item.sample.sql, "row_count": item.row_count,
                "column_count": item.column_count, "empty": item.empty, "tables": item.tables,
                "template": item.template, "language": item.sample.language, "source": item.sample.source,
                "schema_tables": prompt.linked.tables,
            })
            exported.append(item)
        linking[batch.database] = tally.summary()
    if not exported:
        counts = ", ".join(f"{v.database}: {len(v)} generated" for v in validated) or "no databases"
        raise ExportError(f"No validated pair to export ({counts}); LLaMA-Factory cannot train on empty files.",
                          "check the validated_samples rejections (report in its metadata) and regenerate.")
    name = config.dataset_name
    splits = (*SPLITS, ORACLE_SPLIT) if config.oracle_dev else SPLITS
    files = {f"{fmt}_{split}.jsonl": _jsonl(rows[(split, fmt)]) for split in splits for fmt in FORMATS}
    info: dict[str, dict] = {}
    for split in splits:
        info[f"{name}_{split}_alpaca"] = {
            "file_name": f"alpaca_{split}.jsonl",
            "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"},
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
        "query_log": {v.database: notes + _repeat_note(log_repeats.get(v.database, 0), config)
                      for v in sorted(validated, key=lambda v: v.database)
                      if (notes := [n for n in v.notes if n.startswith("query log")])},
        "linking": linking,
    }
    return files, facts


def _repeat_note(extra_rows: int, config: ExportConfig) -> list[str]:
    if not extra_rows:
        return []
    return [f"query log: {extra_rows} extra train rows repeat the often-run logged queries "
            f"(at most {config.log_repeat_cap} copies each, ExportConfig.log_repeat_cap)"]


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
    lines += linking_markdown(report.linking)
    lines.append(f"Prompts whose chosen tables exceed the schema budget: {report.schema_over_budget}")
    return "\n".join(lines) + "\n"


def export_dataset(
    validated: list[ValidatedSamples], cards: dict[str, TableCards], out_dir: Path, config: ExportConfig | None = None,
    indexes: dict[str, SchemaIndex] | None = None,
) -> ExportReport:
    """Write the dataset folder; files whose bytes would not change are left untouched."""
    config = config or ExportConfig()
    out_dir = Path(out_dir)
    files, facts = build_files(validated, cards, config, indexes)
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
