"""A small LLaMA-Factory dataset folder for the training tests, in the export step's documented layout.

Alpaca and ShareGPT JSONL for train and dev, `dataset_info.json` registering each (ShareGPT with the
role/content tags), and `samples.jsonl` audit rows. The pairs are real concert_singer questions
whose SQL runs on the demo database.
"""

from __future__ import annotations

import json
from pathlib import Path

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
