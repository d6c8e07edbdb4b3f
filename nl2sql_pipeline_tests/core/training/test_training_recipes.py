"""Recipes, dataset-folder checks and log parsing: everything decided before a training process starts."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import yaml

from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.training import dataset_dir as ds
from nl2sql_pipeline.core.training import llamafactory as lf
from nl2sql_pipeline.core.training import peft_trainer
from nl2sql_pipeline.core.training.recipes import (
    REFERENCE_COMMAND_KEYS,
    LlamaFactoryRecipe,
    PeftRecipe,
    check_runnable,
    load_recipe,
    resolve_model_path,
)
from nl2sql_pipeline.core.training.results import Progress
from nl2sql_pipeline_tests.training_support import write_dataset

# The reference design's command, value for value (case study, "Stage 1 · LLaMA-Factory CLI").
REFERENCE = {
    "stage": "sft", "finetuning_type": "lora", "template": "qwen3_nothink", "cutoff_len": 2048,
    "learning_rate": 5e-05, "num_train_epochs": 3.0, "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 8, "lr_scheduler_type": "cosine", "bf16": True, "lora_rank": 8,
    "lora_alpha": 16, "lora_target": "all",
}


def test_both_recipes_load_and_the_qwen_yaml_has_every_reference_key(tmp_path: Path, tiny_model: Path) -> None:
    qwen = load_recipe("qwen3_4b_lora")
    deepseek = load_recipe("deepseek_coder_6.7b_peft")
    assert isinstance(qwen, LlamaFactoryRecipe) and isinstance(deepseek, PeftRecipe)
    assert (deepseek.lora_rank, deepseek.lora_alpha, deepseek.early_stopping_patience) == (16, 32, 3)
    assert deepseek.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert deepseek.dataset_format == "auto" and qwen.model_name_or_path is None  # never hard-coded

    folder = write_dataset(tmp_path / "dataset")
    config = lf.train_config(qwen, model_path=tiny_model, dataset_dir=folder, datasets=["sql_train_alpaca"],
                             output_dir=tmp_path / "out")
    written = yaml.safe_load(yaml.safe_dump(config))
    assert set(REFERENCE_COMMAND_KEYS) <= set(written)
    assert {k: written[k] for k in REFERENCE} == REFERENCE
    assert written["model_name_or_path"] == str(tiny_model) and written["dataset"] == "sql_train_alpaca"


def test_model_path_comes_from_config_or_environment(tiny_model: Path, tmp_path: Path) -> None:
    recipe = load_recipe("qwen3_4b_lora")
    with pytest.raises(ConfigError, match="NL2SQL_QWEN3_4B_PATH") as err:
        resolve_model_path(recipe, env={})
    assert "export NL2SQL_QWEN3_4B_PATH" in str(err.value)
    assert resolve_model_path(recipe, env={"NL2SQL_QWEN3_4B_PATH": str(tiny_model)}) == tiny_model.resolve()
    pinned = load_recipe("qwen3_4b_lora", {"model_name_or_path": str(tiny_model)})
    assert resolve_model_path(pinned, env={"NL2SQL_QWEN3_4B_PATH": "/elsewhere"}) == tiny_model.resolve()
    with pytest.raises(ConfigError, match="not a local model folder"):
        resolve_model_path(load_recipe("qwen3_4b_lora", {"model_name_or_path": "Qwen/Qwen3-4B"}), env={})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lora_rnak": 8}, "lora_rnak: Extra inputs are not permitted"),
        ({"template": "qwen3_nothnik"}, "unknown LLaMA-Factory template 'qwen3_nothnik'; similar: qwen3_nothink"),
        ({"learning_rate": 0}, "learning_rate: Input should be greater than 0"),
        ({"backend": "axolotl"}, "does not match any of the expected tags: 'llamafactory', 'peft'"),
        ({"extra_args": {"lora_rank": 4}}, "extra_args repeats recipe keys ['lora_rank']"),
    ],
)
def test_bad_recipe_keys_are_named(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_recipe("qwen3_4b_lora", overrides)
    assert message in str(err.value) and "qwen3_4b_lora.yaml" in str(err.value)


def test_unknown_recipe_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="deepseek_coder_6.7b_peft, qwen3_4b_grpo, qwen3_4b_lora"):
        load_recipe("llama_70b")


def test_bf16_without_gpu_is_refused_with_the_override() -> None:
    recipe = load_recipe("qwen3_4b_lora")
    with pytest.raises(ConfigError) as err:
        check_runnable(recipe, cuda=False)
    assert "no CUDA GPU" in str(err.value) and "bf16: false" in str(err.value)
    check_runnable(recipe, cuda=True)
    check_runnable(load_recipe("qwen3_4b_lora", {"bf16": False}), cuda=False)


def test_dataset_folder_checks(tmp_path: Path) -> None:
    with pytest.raises(ds.DatasetError, match="training_dataset"):
        ds.read_info(tmp_path)
    folder = write_dataset(tmp_path / "d")
    assert ds.dataset_names(folder, "train", "alpaca") == ["sql_train_alpaca"]
    assert ds.dataset_names(folder, "dev", "sharegpt") == ["sql_dev_sharegpt"]
    assert ds.resolve_format(folder, "auto") == "alpaca"
    assert [r["question"] for r in ds.split_samples(folder, "dev")][0] == "How many singers are there?"
    version = ds.dataset_version(folder)
    empty = write_dataset(tmp_path / "empty", train=[])
    assert ds.dataset_version(empty) != version
    with pytest.raises(ds.DatasetError, match="has no examples"):
        ds.require_examples(empty, ds.dataset_names(empty, "train", "alpaca"))
    (folder / "dataset_info.json").write_text(json.dumps({"sql_train_alpaca": {"file_name": "train_alpaca.jsonl"}}))
    with pytest.raises(ds.DatasetError, match="no sharegpt dataset for the dev split"):
        ds.dataset_names(folder, "dev", "sharegpt")


def test_llamafactory_log_lines_become_progress() -> None:
    # The Trainer prints its log dict before the progress bar redraws; steps follow logging_steps.
    lines = [
        "Converting format of dataset: 100%|##########| 12/12 [00:00<00:00]",
        "  0%|          | 0/24 [00:00<?, ?it/s]",
        "{'loss': '7.011', 'grad_norm': '0.82', 'learning_rate': '0.005', 'epoch': '0.12'}",
        " 4%|4         | 1/24 [00:00<00:05, 4.1it/s]",
        "{'loss': '6.83', 'grad_norm': '0.77', 'learning_rate': '4.98e-03', 'epoch': '0.25'}",
        "{'train_runtime': '0.61', 'train_loss': '6.5', 'epoch': '3'}",
    ]
    seen: list[Progress] = []
    state = Progress()
    for line in lines:
        state = lf._parse_line(line, state, seen.append, 1)
    assert [(p.step, p.total, p.loss, p.learning_rate) for p in seen] == [(1, 24, 7.011, 0.005), (2, 24, 6.83, 0.00498)]
    assert seen[1].describe() == "step 2/24, loss 6.8300, lr 0.00498, epoch 0.25"


def test_torchaudio_stand_in_is_only_an_import(monkeypatch: pytest.MonkeyPatch) -> None:
    env = lf.subprocess_env({"PATH": "/usr/bin", "PYTHONPATH": "relative/dir"})
    real = lf.real_torchaudio()  # a real build wins; the stand-in is for CPU installs
    assert env["PYTHONPATH"].split(":") == [*([] if real else [str(lf.SHIM_DIR)]), str(Path("relative/dir").resolve())]
    assert env["HF_HUB_OFFLINE"] == "1"
    monkeypatch.syspath_prepend(str(lf.SHIM_DIR))
    saved = sys.modules.pop("torchaudio", None)
    try:
        torchaudio = importlib.import_module("torchaudio")
        assert torchaudio.__spec__ is not None and torchaudio.__spec__.origin.startswith(str(lf.SHIM_DIR))
        with pytest.raises(ImportError, match="stand-in"):
            torchaudio.load("x.wav")
        assert lf.real_torchaudio() is real  # the imported stand-in is not mistaken for a real build
    finally:
        sys.modules.pop("torchaudio", None)
        if saved is not None:
            sys.modules["torchaudio"] = saved


def test_peft_examples_train_on_the_answer_and_end_in_eos(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    row = {"instruction": "Convert to SQL.", "input": "How many singers?", "output": "SELECT count(*) FROM singer"}
    sharegpt = {"messages": [{"role": "user", "content": "Convert to SQL.\nHow many singers?"},
                             {"role": "assistant", "content": "SELECT count(*) FROM singer"}]}
    assert peft_trainer.to_messages(row) == peft_trainer.to_messages(sharegpt)
    ex = peft_trainer.encode(tok, peft_trainer.to_messages(row), cutoff_len=512)
    assert ex is not None
    answer = [t for t in ex["labels"] if t != peft_trainer.IGNORE]
    assert ex["labels"][: len(ex["labels"]) - len(answer)] == [peft_trainer.IGNORE] * (len(ex["labels"]) - len(answer))
    assert answer[-1] == tok.eos_token_id and tok.decode(answer[:-1]) == "SELECT count(*) FROM singer"
    assert tok.decode(ex["input_ids"]).endswith("<|im_start|>assistant\nSELECT count(*) FROM singer<|im_end|>")
    assert peft_trainer.encode(tok, peft_trainer.to_messages(row), cutoff_len=8) is None  # prompt too long
    with pytest.raises(Exception, match="neither Alpaca nor ShareGPT"):
        peft_trainer.to_messages({"question": "q", "sql": "s"})
