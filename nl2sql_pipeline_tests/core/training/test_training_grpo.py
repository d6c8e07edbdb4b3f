"""GRPO on the tiny model with real TRL: a few steps from a fine-tuned adapter produce an adapter and a
reward history; the assets wire it to the databases and its predictions reach eval_metrics as "grpo"."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest
import yaml

from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.evaluation.results import EvalReport
from nl2sql_pipeline.core.export import ExportReport
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget
from nl2sql_pipeline.core.training import grpo, peft_trainer
from nl2sql_pipeline.core.training.recipes import check_runnable, load_recipe
from nl2sql_pipeline.core.training.results import AdapterResult, TrainingError
from nl2sql_pipeline.defs import evaluation, training
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline_tests.conftest import with_stand_ins
from nl2sql_pipeline_tests.training_support import export_demo_dataset

# A handful of steps with tiny generations: the point is the wiring, not the learning.
TINY = {"bf16": False, "num_generations": 4, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1,
        "max_steps": 3, "max_completion_length": 12, "max_prompt_length": 512, "gradient_checkpointing": False,
        "learning_rate": 1e-3, "eval_max_new_tokens": 12, "eval_batch_size": 8, "lora_rank": 4, "lora_alpha": 8}


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _adapter(base: Path, folder: Path) -> AdapterResult:
    return AdapterResult(adapter_dir=str(folder / "no-adapter"), base_model=str(base), backend="peft", recipe="x",
                         dataset_dir=str(folder), dataset_version="x", datasets=[], num_examples=0)


def _targets(demo_dir: Path) -> dict[str, DatabaseTarget]:
    db = demo_dir / "concert_singer.sqlite"
    return {"concert_singer": DatabaseTarget(url=f"sqlite+pysqlite:///file:{db}?mode=ro&uri=true", dialect="sqlite")}


def test_grpo_steps_from_a_fine_tuned_adapter(tmp_path: Path, tiny_model: Path, demo_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(export_demo_dataset(tmp_path / "dataset").dataset_dir)
    sft = load_recipe("deepseek_coder_6.7b_peft", {"bf16": False, "max_steps": 2, "per_device_train_batch_size": 4,
                                                   "learning_rate": 5e-3, "cutoff_len": 512, "eval_steps": 1})
    peft_trainer.train(sft, recipe_name="sft", model_path=tiny_model, dataset_dir=folder, output_dir=tmp_path / "sft")
    recipe = load_recipe("qwen3_4b_grpo", {**TINY, "model_name_or_path": str(tiny_model)})
    progress: list[tuple[int, int]] = []
    result = grpo.train(recipe, recipe_name="qwen3_4b_grpo", model_path=tiny_model, start_adapter=tmp_path / "sft",
                        dataset_dir=folder, output_dir=tmp_path / "rl", targets=_targets(demo_dir),
                        on_progress=lambda p, total: progress.append((p.step, total)))

    assert (tmp_path / "rl" / "adapter_model.safetensors").exists() and not (tmp_path / "rl" / "checkpoints").exists()
    config = json.loads((tmp_path / "rl" / "adapter_config.json").read_text())
    assert config["r"] == 4 and sorted(config["target_modules"]) == sorted(recipe.lora_target)
    start = json.loads((tmp_path / "rl" / grpo.START_FILE).read_text())
    assert start == {"base_model": str(tiny_model), "start_adapter": str(tmp_path / "sft")}
    assert result.global_step == 3 and progress == [(1, 3), (2, 3), (3, 3)]
    assert [p.step for p in result.rewards] == [1, 2, 3]
    assert all(set(p.components) == set(recipe.reward.weights.active()) for p in result.rewards)
    assert all(0 <= p.reward <= sum(recipe.reward.weights.active().values()) for p in result.rewards)
    assert result.rollouts == 3 * 8 and result.generation == "transformers" and result.num_prompts > 0
    assert result.reward_stats["rollouts"] >= 24 and result.reward_stats["queries_run"] > 0
    assert not result.notes  # every prompt fits max_prompt_length

    # The start really is the fine-tuned model, and the saved policy loads and generates.
    inputs = AutoTokenizer.from_pretrained(tiny_model)("SELECT count(*) FROM singer", return_tensors="pt")
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(tiny_model)(**inputs).logits
        tuned = grpo.load_start_model(tiny_model, tmp_path / "sft")(**inputs).logits
        policy = grpo.load_policy(result)
        out = policy.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert not torch.allclose(base, tuned) and out.shape[1] > inputs["input_ids"].shape[1]


def test_prompts_are_the_training_prompts(tmp_path: Path) -> None:
    folder = Path(export_demo_dataset(tmp_path / "dataset").dataset_dir)
    prompts = grpo.split_prompts(folder, "train", "sharegpt")
    rows = [json.loads(line) for line in (folder / "sharegpt_train.jsonl").read_text().splitlines()]
    assert [p["prompt"] for p in prompts] == [peft_trainer.to_messages(r)[:-1] for r in rows]
    assert [p["gold_sql"] for p in prompts] == [r["messages"][-1]["content"] for r in rows]
    assert "Database schema (sqlite)" in prompts[0]["prompt"][-1]["content"]
    assert grpo.split_prompts(folder, "train", "alpaca")[0]["gold_sql"] == prompts[0]["gold_sql"]
    (folder / "samples.jsonl").write_text("\n".join((folder / "samples.jsonl").read_text().splitlines()[1:]) + "\n")
    with pytest.raises(TrainingError, match="re-export the dataset"):
        grpo.split_prompts(folder, "train", "alpaca")


@pytest.mark.parametrize(("override", "message"), [
    ({"num_generation": 4}, "num_generation: Extra inputs are not permitted (did you mean num_generations"),
    ({"reward": {"weights": {"exection": 1}}}, "reward.weights.exection: Extra inputs are not permitted "
     "(did you mean execution: weight of the execution verdict's credit?)"),
    ({"num_generations": 3}, "not a multiple of num_generations = 3"),
    ({"reward": {"weights": {"execution": 0, "table_overlap": 0, "column_overlap": 0, "syntax": 0, "format": 0}}},
     "every reward weight is 0"),
    ({"reward": {"execution": {"match": 0.1, "executes": 0.5}}}, "match >= executes >= fails"),
    ({"epsilon": 1.5}, "epsilon: Input should be less than 1"),
    ({"start_from": "sft"}, "start_from: Input should be 'adapter' or 'base'"),
])
def test_bad_grpo_recipe_keys_fail_with_a_clear_message(override: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_recipe("qwen3_4b_grpo", override)
    assert message in str(info.value) and "configs/train/qwen3_4b_grpo.yaml" in str(info.value)


def test_grpo_recipe_refuses_what_this_machine_cannot_run(tiny_model: Path) -> None:
    recipe = load_recipe("qwen3_4b_grpo")
    assert (recipe.num_generations, recipe.prompts_per_step, recipe.reward.execution.executes) == (8, 8, 0.1)
    with pytest.raises(ConfigError, match="bf16"):
        check_runnable(recipe, cuda=False)
    with pytest.raises(ConfigError, match="generation_backend: vllm, but this machine has no CUDA GPU"):
        check_runnable(load_recipe("qwen3_4b_grpo", {"bf16": False, "generation_backend": "vllm"}), cuda=False)
    with pytest.raises(ConfigError, match="is a GRPO recipe"):
        training.TrainerResource(recipe="qwen3_4b_grpo").load()
    with pytest.raises(ConfigError, match="not grpo"):
        training.TrainerResource(grpo_recipe="qwen3_4b_lora").load_grpo()
    grpo_recipe = training.TrainerResource(model_path=str(tiny_model),
                                           grpo_overrides_yaml="{reward: {weights: {format: 0.5}}}").load_grpo()
    assert grpo_recipe.reward.weights.format == 0.5 and grpo_recipe.reward.weights.table_overlap == 0.1  # merged


def test_rl_assets_feed_a_grpo_run_into_eval_metrics(tmp_path: Path, tiny_model: Path) -> None:
    exported = export_demo_dataset(tmp_path / "dataset")
    folder = Path(exported.dataset_dir)

    @dg.asset(name="training_dataset", io_manager_key="json_io_manager")
    def training_dataset() -> ExportReport:
        return exported

    @dg.asset(name="lora_adapter", io_manager_key="json_io_manager")
    def lora_adapter() -> AdapterResult:  # GRPO starts from the base here; only base_model is read
        return _adapter(tiny_model, folder)

    databases = tmp_path / "databases.yaml"
    databases.write_text(yaml.safe_dump({"databases": [{"name": "concert_singer", "demo": "concert_singer"}]}))
    overrides = yaml.safe_dump({**TINY, "start_from": "base", "max_steps": 2, "max_prompt_length": 64},
                               default_flow_style=True)
    resources = {"trainer": training.TrainerResource(grpo=True, grpo_overrides_yaml=overrides),
                 "databases": DatabasesResource(config_path=str(databases)),
                 "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))}
    result = dg.materialize(with_stand_ins([training_dataset, lora_adapter, training.rl_adapter, evaluation.eval_predictions,
                                            evaluation.eval_metrics]), resources=resources,
                            run_config={"ops": {"eval_predictions": {"config": {"workers": 1}}}})
    assert result.success
    meta = result.asset_materializations_for_node("rl_adapter")[0].metadata
    assert meta["reward_curve"].value.startswith("![reward curve](data:image/png;base64,")
    assert "exceed max_prompt_length=64" in meta["notes"].value  # the prompts are longer: said, not hidden
    assert "| step | reward |" in meta["rewards_by_step"].value and meta["global_step"].value == 2
    assert {"dev exec match % (base)", "dev exec match % (grpo)"} <= set(meta)
    report: EvalReport = result.output_for_node("eval_metrics")
    assert {"rl_predictions/base", "rl_predictions/grpo"} <= {m.label for m in report.runs}
    tables = result.asset_materializations_for_node("eval_metrics")[0].metadata["before_after"].value
    assert "rl_predictions: base vs grpo" in tables


def test_rl_adapter_is_off_by_default(tmp_path: Path) -> None:
    @dg.asset(name="training_dataset", io_manager_key="json_io_manager")
    def training_dataset() -> AdapterResult:  # never read: the asset is off
        return _adapter(tmp_path, tmp_path)

    @dg.asset(name="lora_adapter", io_manager_key="json_io_manager")
    def lora_adapter() -> AdapterResult:
        return _adapter(tmp_path, tmp_path)

    result = dg.materialize([training_dataset, lora_adapter, training.rl_adapter],
                            resources={"trainer": training.TrainerResource(), "databases": DatabasesResource(),
                                       "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path))})
    assert result.success and not result.asset_materializations_for_node("rl_adapter")
    assert os.environ.get("OMP_NUM_THREADS") == "1"
