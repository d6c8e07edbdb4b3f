"""One prompt for one question: the exported files, LLaMA-Factory's loader and prediction, the
serving probes, the answering path and the evaluation's reader all carry what `question_prompt`
builds; and with a
schema over the budget, no dev prompt shows a gold table the linker did not choose."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nl2sql_pipeline.core.ask.schema import schema_for
from nl2sql_pipeline.core.cards import TableCards, build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.evaluation.inputs import read_generated_predictions
from nl2sql_pipeline.core.execution import close_executors, executor_for
from nl2sql_pipeline.core.export import ExportConfig, ExportReport, export_dataset
from nl2sql_pipeline.core.linking import SchemaIndex, question_prompt
from nl2sql_pipeline.core.linking.cli import index_for
from nl2sql_pipeline.core.linking.prompt import oracle_tables
from nl2sql_pipeline.core.samples import RawSamples, Sample
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.serving.items import dev_probe_items
from nl2sql_pipeline.core.training.dataset_dir import dataset_names, has_split, read_rows
from nl2sql_pipeline.core.validation import ValidatedSamples, validate_samples
from nl2sql_pipeline_tests.core.test_export import LF_LOAD
from nl2sql_pipeline_tests.linking_support import QUESTIONS, build_wms_sqlite
from nl2sql_pipeline_tests.servers import IN_CI

BUDGET = 250  # the schema costs ~1,300 tokens: every prompt is a real selection
# Questions that name nothing of the table their SQL reads: the linker cannot find it.
UNFINDABLE_DEV = ("一共有多少？", "SELECT count(*) FROM return_order")
UNFINDABLE_TRAIN = ("最大的是多少？", "SELECT max(refund_cny) FROM return_order")


@pytest.fixture(scope="module")
def wms_pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ValidatedSamples, TableCards, SchemaIndex]:
    folder = tmp_path_factory.mktemp("wms_export")
    path, desc = build_wms_sqlite(folder / "db")
    db = DatabaseConfig(name="wms", url=sqlite_url(path, read_only=True).render_as_string(), descriptions=desc)
    meta = read_schema(db)
    pairs = [*QUESTIONS, UNFINDABLE_DEV, UNFINDABLE_TRAIN]
    raw = RawSamples(database="wms", dialect="sqlite", samples=[
        Sample(database="wms", topic=f"t{i % 3}", question=q, sql=s, language="zh") for i, (q, s) in enumerate(pairs)])
    validated = validate_samples(raw, meta, executor_for(db), dev_ratio=0.3)
    # the split is the validator's, except that the two unfindable pairs land one on each side
    forced = {UNFINDABLE_DEV[0]: "dev", UNFINDABLE_TRAIN[0]: "train"}
    validated = validated.model_copy(update={"items": [
        i.model_copy(update={"split": forced.get(i.sample.question, i.split)}) for i in validated.items]})
    assert {i.split for i in validated.accepted} == {"train", "dev"}
    index = index_for(db)
    close_executors()
    return folder, validated, build_cards(meta), index


@pytest.fixture(scope="module")
def exported(wms_pairs) -> tuple[Path, SchemaIndex, ExportConfig, ExportReport]:
    folder, validated, cards, index = wms_pairs
    config = ExportConfig(schema_budget_tokens=BUDGET, oracle_dev=True)
    report = export_dataset([validated], {"wms": cards}, folder / "dataset", config, indexes={"wms": index})
    return folder / "dataset", index, config, report


def _dev(folder: Path) -> list[dict]:
    return [r for r in read_rows(folder / "samples.jsonl") if r["split"] == "dev"]


def _shown(text: str) -> set[str]:
    return set(re.findall(r"CREATE TABLE (\w+) \(", text))


def test_dev_prompts_show_linked_tables_only(exported) -> None:
    folder, index, config, report = exported
    settings = config.prompt_settings("wms")
    dev = _dev(folder)
    rows = read_rows(folder / "alpaca_dev.jsonl")
    assert len(rows) == len(dev) >= 3
    misses = 0
    for row, sample in zip(rows, dev):
        linked = question_prompt(sample["question"], index, settings).linked  # built without the gold SQL
        assert _shown(row["input"]) == set(linked.tables) == set(sample["schema_tables"])
        misses += not set(sample["tables"]) <= set(linked.tables)
    unfindable = next(r for r, s in zip(rows, dev) if s["question"] == UNFINDABLE_DEV[0])
    assert "return_order" not in _shown(unfindable["input"])  # the gold table did not leak in
    assert misses >= 1 and report.linking["wms"]["dev"]["gold_recall"] < 1
    assert report.linking["wms"]["dev"]["mean_tokens"] <= BUDGET and report.linking["wms"]["schema_context"] == "linked"


def test_training_prompts_add_missed_gold_tables_and_count_them(exported) -> None:
    folder, _, _, report = exported
    train = [r for r in read_rows(folder / "samples.jsonl") if r["split"] == "train"]
    rows = read_rows(folder / "alpaca_train.jsonl")
    for row, sample in zip(rows, train, strict=True):
        assert set(sample["tables"]) <= _shown(row["input"])  # a training target is always answerable
    assert report.linking["wms"]["train"]["added_gold_tables"] >= 1
    assert "gold added (train)" in (folder / "report.md").read_text(encoding="utf-8")
    # oracle prompts exist only as the labelled diagnostic split, never mixed into dev
    oracle = read_rows(folder / "alpaca_oracle.jsonl")
    assert len(oracle) == len(_dev(folder)) and any("CREATE TABLE return_order" in r["input"] for r in oracle)
    assert dataset_names(folder, "dev", "alpaca") == ["nl2sql_dev_alpaca"]


def test_oracle_context_export_changes_only_the_schema(wms_pairs, exported) -> None:
    """What the closed loop's context arm compares: the same pairs exported with `schema_context:
    oracle` keep every question, answer, instruction and system prompt, and show the gold tables
    (plus FK neighbours) instead of the linker's choice; its dev file is the linked export's
    oracle diagnostic split, prompt for prompt."""
    base, validated, cards, index = wms_pairs
    folder, _, config, _ = exported
    oracle_config = config.model_copy(update={"schema_context": {"wms": "oracle"}, "oracle_dev": False})
    report = export_dataset([validated], {"wms": cards}, base / "oracle", oracle_config, indexes={"wms": index})
    assert report.linking["wms"]["schema_context"] == "oracle"
    samples = read_rows(folder / "samples.jsonl")
    changed = 0
    for split in ("train", "dev"):
        linked, oracle = (read_rows(f / f"alpaca_{split}.jsonl") for f in (folder, base / "oracle"))
        gold = [s for s in samples if s["split"] == split]
        for a, b, sample in zip(linked, oracle, gold, strict=True):
            assert (a["instruction"], a["system"], a["output"]) == (b["instruction"], b["system"], b["output"])
            assert a["input"].rsplit("\nQuestion: ", 1)[1] == b["input"].rsplit("\nQuestion: ", 1)[1] == sample["question"]
            assert _shown(b["input"]) == set(oracle_tables(sample["tables"], index.cards, BUDGET, "ddl")[0])
            changed += _shown(a["input"]) != _shown(b["input"])
    assert changed >= 1  # the switch shows other tables than the linker chose
    assert read_rows(base / "oracle" / "alpaca_dev.jsonl") == read_rows(folder / "alpaca_oracle.jsonl")


def test_export_serving_and_lf_loader_carry_the_same_prompt(exported, tmp_path: Path) -> None:
    folder, index, config, _ = exported
    settings = config.prompt_settings("wms")
    expected = [question_prompt(s["question"], index, settings) for s in _dev(folder)]
    sharegpt = read_rows(folder / "sharegpt_dev.jsonl")
    alpaca = read_rows(folder / "alpaca_dev.jsonl")
    assert [r["messages"][:2] for r in sharegpt] == [p.messages for p in expected]
    assert [(r["instruction"], r["input"], r["system"]) for r in alpaca] == [(p.instruction, p.input, p.system) for p in expected]
    assert [i.messages for i in dev_probe_items(folder)] == [p.messages for p in expected]  # serving probes
    db = DatabaseConfig(name="wms", url=sqlite_url(folder.parent / "db" / "wms.sqlite", read_only=True).render_as_string(),
                        descriptions=folder.parent / "db" / "wms.descriptions.yaml")
    ask = schema_for(db, config)  # the answering path a user's question takes
    close_executors()
    assert ask.link_index.version == index.version
    assert [ask.prompt(s["question"])[0] for s in _dev(folder)] == [p.messages for p in expected]
    if importlib.util.find_spec("llamafactory") is None:
        message = "llamafactory is not installed: pip install --no-deps llamafactory==0.9.5 (see stack notes)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    from nl2sql_pipeline.core.training.llamafactory import subprocess_env

    script = tmp_path / "lf_load.py"
    script.write_text(LF_LOAD, encoding="utf-8")
    names = ["nl2sql_dev_alpaca", "nl2sql_dev_sharegpt"]
    env = subprocess_env() | {"HF_DATASETS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), str(folder), ",".join(names)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.split("LFJSON", 1)[1])
    for name in names:  # what LLaMA-Factory trains and predicts on, whichever format the recipe picks
        assert [(r["system"], r["prompt"][-1]["content"]) for r in loaded[name]] == [(p.system, p.user) for p in expected]


def test_lf_prediction_and_evaluation_read_the_same_prompt(exported, tmp_path: Path, tiny_model: Path) -> None:
    if importlib.util.find_spec("llamafactory") is None:
        message = "llamafactory is not installed: pip install --no-deps llamafactory==0.9.5 (see stack notes)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    from nl2sql_pipeline.core.training.predict import run_prediction
    from nl2sql_pipeline.core.training.recipes import load_recipe

    folder, index, config, _ = exported
    recipe = load_recipe("qwen3_4b_lora", {"bf16": False, "cutoff_len": 4096, "generation": {"max_new_tokens": 4}})
    out = run_prediction(recipe, model_path=tiny_model, adapter_dir=None, dataset_dir=folder, output_dir=tmp_path / "pred")
    lines = read_generated_predictions(out)  # the evaluation step's reader
    expected = [question_prompt(s["question"], index, config.prompt_settings("wms")) for s in _dev(folder)]
    assert len(lines) == len(expected)
    for line, prompt in zip(lines, expected):
        assert f"system\n{prompt.system}" in line.prompt and f"user\n{prompt.user}" in line.prompt
    # the labelled diagnostic: the same dev questions over the gold tables' schema, predicted apart
    assert has_split(folder, "oracle")
    oracle_out = run_prediction(recipe, model_path=tiny_model, adapter_dir=None, dataset_dir=folder,
                                output_dir=tmp_path / "oracle", split="oracle")
    oracle = read_generated_predictions(oracle_out)
    assert [line.label.strip() for line in oracle] == [line.label.strip() for line in lines]
    unfindable = next(i for i, s in enumerate(_dev(folder)) if s["question"] == UNFINDABLE_DEV[0])
    assert "CREATE TABLE return_order" in oracle[unfindable].prompt
    assert "CREATE TABLE return_order" not in lines[unfindable].prompt
