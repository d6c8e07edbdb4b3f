"""The PEFT backend (DeepSeek-Coder recipe) trains the tiny model for real, stops early when it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nl2sql_pipeline.core.training import peft_trainer
from nl2sql_pipeline.core.training.recipes import load_recipe
from nl2sql_pipeline_tests.training_support import DEV, export_demo_dataset, write_dataset

SMALL = {"bf16": False, "cutoff_len": 256, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
         "learning_rate": 5e-3, "logging_steps": 1, "eval_steps": 1, "lr_scheduler_type": "constant"}


def test_peft_branch_trains_saves_and_the_reloaded_adapter_generates(tmp_path: Path, tiny_model: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    exported = export_demo_dataset(tmp_path / "dataset")  # ShareGPT and Alpaca: auto picks Alpaca
    folder = Path(exported.dataset_dir)
    recipe = load_recipe("deepseek_coder_6.7b_peft", {**SMALL, "model_name_or_path": str(tiny_model),
                                                      "num_train_epochs": 2, "cutoff_len": 512})
    reports = []
    result = peft_trainer.train(recipe, recipe_name="deepseek_coder_6.7b_peft", model_path=tiny_model,
                                dataset_dir=folder, output_dir=tmp_path / "adapter", on_progress=reports.append)

    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (16, 32)
    assert sorted(config["target_modules"]) == sorted(recipe.target_modules)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert not (tmp_path / "adapter" / "checkpoints").exists()
    steps = -(-exported.files["alpaca_train.jsonl"] // 4) * 2  # batch 4, 2 epochs
    assert result.num_examples == exported.files["alpaca_train.jsonl"] and result.global_step == steps
    assert result.datasets == ["nl2sql_train_alpaca"] and not result.notes  # nothing cut by cutoff_len
    assert len(result.eval_losses) == result.global_step and not result.stopped_early
    assert result.best_loss == min(p.loss for p in result.eval_losses)
    assert result.losses[-1].loss < result.losses[0].loss  # it learned something
    assert 0 < result.trainable_percent < 100
    assert [r.step for r in reports] == list(range(1, steps + 1)) and reports[0].total == steps

    tok = AutoTokenizer.from_pretrained(tmp_path / "adapter")
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    model = PeftModel.from_pretrained(base, tmp_path / "adapter")
    prompt = tok.apply_chat_template([{"role": "user", "content": DEV[0][0]}], tokenize=False,
                                     add_generation_prompt=True)
    inputs = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
        base_logits = AutoModelForCausalLM.from_pretrained(tiny_model)(**inputs).logits
        adapted_logits = model(**inputs).logits
    assert out.shape[1] > inputs["input_ids"].shape[1]
    assert not torch.allclose(base_logits, adapted_logits)  # the adapter changes the model


def test_early_stopping_fires_when_dev_loss_stops_improving(tmp_path: Path, tiny_model: Path) -> None:
    # Built to trigger it: the dev answers are Chinese prose no SQL training can move toward, so dev
    # loss bottoms out within a few steps while 10 epochs (30 steps) would be allowed.
    conflicting = [(q, a, "easy") for (q, _, _), a in zip(DEV, ["我不知道答案。", "这个问题无法回答。", "请联系管理员。"])]
    folder = write_dataset(tmp_path / "dataset", dev=conflicting)
    recipe = load_recipe("deepseek_coder_6.7b_peft", {**SMALL, "model_name_or_path": str(tiny_model),
                                                      "num_train_epochs": 10})
    result = peft_trainer.train(recipe, recipe_name="x", model_path=tiny_model, dataset_dir=folder,
                                output_dir=tmp_path / "adapter")
    assert result.stopped_early and result.global_step < 30
    best_at = min(range(len(result.eval_losses)), key=lambda i: result.eval_losses[i].loss)
    assert len(result.eval_losses) - 1 - best_at == recipe.early_stopping_patience
    assert result.best_loss == pytest.approx(result.eval_losses[best_at].loss)
