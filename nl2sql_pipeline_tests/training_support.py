"""Dataset folders for the training tests.

`export_demo_dataset` runs the pipeline's own steps (schema reading, validation with its
leakage-free split, export) on real concert_singer questions. `write_dataset` writes the same
documented layout by hand, for cases the pipeline would never produce (an empty train split, a dev
split built to make early stopping fire) and for unit tests that need no database.
"""

from __future__ import annotations

import json
from pathlib import Path

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import close_executors, executor_for
from nl2sql_pipeline.core.export import ExportConfig, ExportReport, export_dataset
from nl2sql_pipeline.core.samples import RawSamples, Sample
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.validation import validate_samples

INSTRUCTION = "将下面的自然语言问题转换为SQL查询语句。"
PAIRS = [
    ("How many singers do we have?", "SELECT count(*) FROM singer", "easy"),
    ("What is the total number of singers?", "SELECT count(*) FROM singer", "easy"),
    ("Show name, country, age for all singers ordered by age from the oldest to the youngest.",
     "SELECT name, country, age FROM singer ORDER BY age DESC", "medium"),
    ("What is the average, minimum, and maximum age of all singers from France?",
     "SELECT avg(age), min(age), max(age) FROM singer WHERE country = 'France'", "medium"),
    ("Show all countries and the number of singers in each country.",
     "SELECT country, count(*) FROM singer GROUP BY country", "medium"),
    ("What are the names of the stadiums without any concerts?",
     "SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)", "hard"),
    ("How many concerts are there in year 2014 or 2015?",
     "SELECT count(*) FROM concert WHERE YEAR = 2014 OR YEAR = 2015", "medium"),
    ("Show the stadium name and capacity with most number of concerts in year 2014 or after.",
     "SELECT T2.name, T2.capacity FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id "
     "WHERE T1.year >= 2014 GROUP BY T2.stadium_id ORDER BY count(*) DESC LIMIT 1", "extra"),
    ("List all song names by singers above the average age.",
     "SELECT song_name FROM singer WHERE age > (SELECT avg(age) FROM singer)", "hard"),
    ("What is the maximum capacity and the average of all stadiums?",
     "SELECT max(capacity), average FROM stadium", "medium"),
    ("歌手一共有多少位？", "SELECT count(*) FROM singer", "easy"),
    ("列出所有体育场的名称。", "SELECT name FROM stadium", "easy"),
]
DEV = [
    ("How many singers are there?", "SELECT count(*) FROM singer", "easy"),
    ("List the names of all stadiums.", "SELECT name FROM stadium", "easy"),
    ("Show the number of concerts in each year.", "SELECT year, count(*) FROM concert GROUP BY year", "medium"),
]


def export_demo_dataset(folder: Path, pairs: list[tuple[str, str, str]] = PAIRS + DEV) -> ExportReport:
    """concert_singer pairs through validation (dedup, hardness, split) and the export step."""
    db = DatabaseConfig(name="concert_singer", demo="concert_singer")
    meta = read_schema(db)
    raw = RawSamples(database=db.name, dialect="sqlite", samples=[
        Sample(database=db.name, topic=f"topic{i % 3}", question=q, sql=s, language="en")
        for i, (q, s, _) in enumerate(pairs)
    ])
    try:
        validated = validate_samples(raw, meta, executor_for(db), dev_ratio=0.25)
    finally:
        close_executors()
    # A small schema budget keeps the prompts short enough for quick CPU runs of the tiny model.
    return export_dataset([validated], {db.name: build_cards(meta)}, folder, ExportConfig(schema_budget_tokens=120))


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_dataset(folder: Path, train: list[tuple[str, str, str]] = PAIRS, dev: list[tuple[str, str, str]] = DEV,
                  database: str = "concert_singer") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    info: dict[str, dict] = {}
    samples = []
    for split, pairs in (("train", train), ("dev", dev)):
        _jsonl(folder / f"{split}_alpaca.jsonl",
               [{"instruction": INSTRUCTION, "input": q, "output": s} for q, s, _ in pairs])
        _jsonl(folder / f"{split}_sharegpt.jsonl", [{"messages": [
            {"role": "system", "content": INSTRUCTION}, {"role": "user", "content": q},
            {"role": "assistant", "content": s}]} for q, s, _ in pairs])
        info[f"sql_{split}_alpaca"] = {"file_name": f"{split}_alpaca.jsonl"}
        info[f"sql_{split}_sharegpt"] = {
            "file_name": f"{split}_sharegpt.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                     "assistant_tag": "assistant", "system_tag": "system"},
        }
        samples += [{"database": database, "split": split, "topic": "concerts", "hardness": h, "question": q,
                     "sql": s, "row_count": 1} for q, s, h in pairs]
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    _jsonl(folder / "samples.jsonl", samples)
    return folder
