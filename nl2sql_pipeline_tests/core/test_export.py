"""Export: LLaMA-Factory dataset folder with schema in every prompt, deterministic and loadable."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nl2sql_pipeline.core.cards import TableCards, build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import close_executors, executor_for
from nl2sql_pipeline.core.export import INSTRUCTIONS, ExportConfig, ExportError, export_dataset, schema_tables
from nl2sql_pipeline.core.samples import RawSamples, Sample
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.validation import ValidatedSamples, validate_samples
from nl2sql_pipeline_tests.servers import IN_CI

CONCERT = [
    ("How many singers are there?", "SELECT count(*) FROM singer"),
    ("List singer names by age, oldest first.", "SELECT name FROM singer ORDER BY age DESC"),
    ("Which countries have singers older than 40?", "SELECT DISTINCT country FROM singer WHERE age > 40"),
    ("How many concerts were held in each stadium?",
     "SELECT s.name, count(*) FROM stadium AS s JOIN concert AS c ON s.stadium_id = c.stadium_id GROUP BY s.name"),
    ("Which singers performed in 2014?",
     "SELECT DISTINCT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id "
     "JOIN concert AS T3 ON T2.concert_id = T3.concert_id WHERE T3.year = '2014'"),
    ("What is the average stadium capacity?", "SELECT avg(capacity) FROM stadium"),
    ("Which stadium has the largest capacity?", "SELECT name FROM stadium ORDER BY capacity DESC LIMIT 1"),
    ("Name singers who never performed.",
     "SELECT name FROM singer WHERE singer_id NOT IN (SELECT singer_id FROM singer_in_concert)"),
    ("How many singers are there in total?", "SELECT count(*) FROM singer"),  # duplicate of the first
    ("What is the ticket price?", "SELECT ticket_price FROM concert"),  # hallucinated column
]
SALES = [
    ("北京有多少家门店？", "SELECT count(*) FROM stores WHERE city = '北京'"),
    ("每个城市的客户数量是多少？", "SELECT city, count(*) FROM customers GROUP BY city"),
    ("销售额最高的五个订单是哪些？", "SELECT order_id, total_amount FROM orders ORDER BY total_amount DESC LIMIT 5"),
    ("每个门店的订单总额是多少？",
     "SELECT s.store_name, sum(o.total_amount) FROM stores AS s JOIN orders AS o ON s.store_id = o.store_id GROUP BY s.store_name"),
    ("库存少于10的商品有哪些？",
     "SELECT p.product_name FROM inventory AS i JOIN products AS p ON i.product_id = p.product_id WHERE i.quantity < 10"),
    ("有多少员工？", "SELECT count(*) FROM employees"),
    ("各支付方式的支付金额合计是多少？", "SELECT method, sum(amount) FROM payments GROUP BY method"),
    ("哪些供应商在上海？", "SELECT supplier_name FROM suppliers WHERE city = '上海'"),
]

LF_LOAD = r'''
import json, sys
from types import SimpleNamespace
from llamafactory.data.loader import _load_single_dataset
from llamafactory.data.parser import get_dataset_list
from llamafactory.hparams import DataArguments
folder, names = sys.argv[1], sys.argv[2].split(",")
data_args = DataArguments(dataset_dir=folder, dataset=names)
model_args = SimpleNamespace(cache_dir=None, hf_hub_token=None, ms_hub_token=None, om_hub_token=None)
training_args = SimpleNamespace(local_process_index=0, dataloader_num_workers=0, seed=0)
out = {}
for name, attr in zip(names, get_dataset_list(names, folder)):
    rows = _load_single_dataset(attr, model_args, data_args, training_args)
    out[name] = [{"prompt": r["_prompt"], "response": r["_response"], "system": r["_system"]} for r in rows]
print("LFJSON" + json.dumps(out, ensure_ascii=False))
'''


def _validated(name: str, demo: str, pairs: list[tuple[str, str]], language: str) -> tuple[ValidatedSamples, TableCards]:
    db = DatabaseConfig(name=name, demo=demo)
    meta = read_schema(db)
    raw = RawSamples(database=name, dialect="sqlite", samples=[
        Sample(database=name, topic=f"topic{i % 3}", question=q, sql=s, language=language) for i, (q, s) in enumerate(pairs)
    ])
    return validate_samples(raw, meta, executor_for(db), dev_ratio=0.25), build_cards(meta)


@pytest.fixture(scope="module")
def inputs() -> tuple[list[ValidatedSamples], dict[str, TableCards]]:
    a, a_cards = _validated("concert", "concert_singer", CONCERT, "en")
    b, b_cards = _validated("sales", "sales_cn", SALES, "zh")
    close_executors()
    return [b, a], {"concert": a_cards, "sales": b_cards}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_writes_a_complete_dataset_folder(inputs, tmp_path: Path) -> None:
    validated, cards = inputs
    report = export_dataset(validated, cards, tmp_path)
    accepted = [v for batch in validated for v in batch.accepted]
    assert len(accepted) == len(CONCERT) - 2 + len(SALES)
    train = _rows(tmp_path / "alpaca_train.jsonl")
    dev = _rows(tmp_path / "alpaca_dev.jsonl")
    assert len(train) + len(dev) == len(accepted) and dev and train
    assert report.files["alpaca_train.jsonl"] == len(train) and report.counts["database"] == {"concert": 8, "sales": 8}
    for row in train + dev:  # the instruction follows the question's language
        chinese = re.search(r"[\u4e00-\u9fff]", row["input"].rsplit("Question: ", 1)[-1])
        assert row["instruction"] == (INSTRUCTIONS["zh"] if chinese else INSTRUCTIONS["en"])
        assert INSTRUCTIONS["zh"] == "将下面的自然语言问题转换为SQL查询语句。"
        assert "CREATE TABLE" in row["input"] and "Question: " in row["input"]
    # the schema shown is the one the SQL needs
    join = next(r for r in train + dev if "singer_in_concert" in r["output"])
    for table in ("singer", "singer_in_concert", "concert"):
        assert f"CREATE TABLE {table} (" in join["input"]
    sharegpt = _rows(tmp_path / "sharegpt_train.jsonl")
    assert [m["role"] for m in sharegpt[0]["messages"]] == ["system", "user", "assistant"]
    assert [r["messages"][2]["content"] for r in sharegpt] == [r["output"] for r in train]
    info = json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"nl2sql_train_alpaca", "nl2sql_dev_alpaca", "nl2sql_train_sharegpt", "nl2sql_dev_sharegpt"}
    assert info["nl2sql_train_sharegpt"]["formatting"] == "sharegpt"
    assert info["nl2sql_train_sharegpt"]["tags"]["role_tag"] == "role"
    assert all((tmp_path / e["file_name"]).exists() for e in info.values())
    samples = _rows(tmp_path / "samples.jsonl")
    assert len(samples) == len(accepted)
    for key in ("database", "split", "topic", "hardness", "question", "sql", "row_count"):
        assert all(key in s for s in samples)
    assert {s["split"] for s in samples} == {"train", "dev"}
    templates = {}
    for s in samples:
        templates.setdefault(s["template"], set()).add(s["split"])
    assert all(len(sides) == 1 for sides in templates.values())
    saved = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert saved["rejections"]["concert"] == {"schema: unknown column": 1}
    assert saved["validation"]["concert"]["duplicates"] == 1
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| concert | 10 |" in markdown and "schema: unknown column" in markdown


def test_reexport_is_byte_identical(inputs, tmp_path: Path) -> None:
    validated, cards = inputs
    first = export_dataset(validated, cards, tmp_path / "a")
    snapshot = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "a").iterdir()}
    again = export_dataset(list(reversed(validated)), cards, tmp_path / "a")
    assert again.changed == [] and first.changed
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "a").iterdir()} == snapshot
    export_dataset(validated, cards, tmp_path / "b")
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()} == {k: v[0] for k, v in snapshot.items()}
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.endswith(".tmp")]


def test_english_instruction_and_card_format(inputs, tmp_path: Path) -> None:
    validated, cards = inputs
    config = ExportConfig.for_language("en", schema_format="cards")
    export_dataset(validated, cards, tmp_path, config)
    row = _rows(tmp_path / "alpaca_train.jsonl")[0]
    assert "Table " in row["input"] and "CREATE TABLE" not in row["input"]
    assert {r["instruction"] for r in _rows(tmp_path / "alpaca_train.jsonl")} == {INSTRUCTIONS["en"], INSTRUCTIONS["zh"]}
    custom = ExportConfig(instruction="Write SQL.")
    export_dataset(validated, cards, tmp_path / "custom", custom)
    assert {r["instruction"] for r in _rows(tmp_path / "custom" / "alpaca_train.jsonl")} == {"Write SQL."}


def test_schema_budget_keeps_used_tables_and_adds_neighbours(inputs) -> None:
    _, cards = inputs
    sales = cards["sales"]
    tight, over = schema_tables(["orders"], sales, 50, "ddl")
    assert tight == ["orders"] and over
    roomy, over = schema_tables(["orders"], sales, 5000, "ddl")
    assert roomy[0] == "orders" and {"customers", "stores", "order_items", "payments"} <= set(roomy) and not over


def test_llamafactory_loader_reads_every_row(inputs, tmp_path: Path) -> None:
    """LLaMA-Factory's own dataset loader (it skips malformed rows silently, so count them)."""
    if importlib.util.find_spec("llamafactory") is None:  # the format itself is checked above
        message = "llamafactory is not installed: pip install --no-deps llamafactory==0.9.5 (see stack notes)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    from nl2sql_pipeline.core.training.llamafactory import subprocess_env

    validated, cards = inputs
    out = tmp_path / "dataset"
    export_dataset(validated, cards, out)
    script = tmp_path / "lf_load.py"
    script.write_text(LF_LOAD, encoding="utf-8")
    names = ["nl2sql_train_alpaca", "nl2sql_dev_alpaca", "nl2sql_train_sharegpt", "nl2sql_dev_sharegpt"]
    env = subprocess_env() | {"HF_DATASETS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), str(out), ",".join(names)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.split("LFJSON", 1)[1])
    for name in names:
        split, fmt = name.split("_")[1:]
        expected = _rows(out / f"{fmt}_{split}.jsonl")
        assert len(loaded[name]) == len(expected) > 0
        for row, source in zip(loaded[name], expected):
            assert row["prompt"] and row["prompt"][-1]["role"] == "user" and "CREATE TABLE" in row["prompt"][-1]["content"]
            sql = source["output"] if fmt == "alpaca" else source["messages"][-1]["content"]
            assert row["response"] == [{"role": "assistant", "content": sql}]
            assert row["system"] == source.get("system", source.get("messages", [{}])[0].get("content")) != ""


def test_bad_input_names_cause_and_fix(inputs, tmp_path: Path) -> None:
    validated, cards = inputs
    with pytest.raises(ExportError, match="No table cards for database 'sales'.*table_cards"):
        export_dataset(validated, {"concert": cards["concert"]}, tmp_path)
    nothing = [v.model_copy(update={"items": [i for i in v.items if not i.accepted]}) for v in validated]
    with pytest.raises(ExportError, match="No validated pair to export"):
        export_dataset(nothing, cards, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_often_run_logged_queries_weigh_more_in_train_only(inputs, tmp_path: Path) -> None:
    validated, cards = inputs
    concert = next(v for v in validated if v.database == "concert")
    train = next(i for i in concert.accepted if i.split == "train")
    dev = next(i for i in concert.accepted if i.split == "dev")

    def logged(item, count: int):
        sample = item.sample.model_copy(update={"source": "log", "meta": {"count": count}})
        return item.model_copy(update={"sample": sample})

    items = [logged(train, 40) if i is train else logged(dev, 40) if i is dev else i for i in concert.items]
    notes = [*concert.notes, "query log: 2 pairs"]
    weighted = concert.model_copy(update={"items": items, "notes": notes})
    plain = export_dataset([weighted], cards, tmp_path / "plain", ExportConfig(log_repeat_cap=1))
    heavy = export_dataset([weighted], cards, tmp_path / "heavy")
    assert heavy.files["alpaca_train.jsonl"] == plain.files["alpaca_train.jsonl"] + 3  # 40 runs -> 4 copies
    assert heavy.files["alpaca_dev.jsonl"] == plain.files["alpaca_dev.jsonl"]  # dev scores each question once
    assert heavy.files["sharegpt_train.jsonl"] == heavy.files["alpaca_train.jsonl"]
    outputs = [r["output"] for r in _rows(tmp_path / "heavy" / "alpaca_train.jsonl")]
    assert outputs.count(train.sample.sql) == 4
    assert any("3 extra train rows" in n for n in heavy.query_log["concert"])
