"""The `training` group materialized in-process: a real `llamafactory-cli train` with the Qwen3-4B recipe
(CPU overrides) on the tiny model, real predict_with_generate for base and adapter scored by the evaluation
code, and the optional merged model."""

from pathlib import Path

import dagster as dg
import pytest
import yaml

from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.evaluation.inputs import read_generated_predictions
from nl2sql_pipeline.core.export import ExportReport
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_runs
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.core.training.dataset_dir import read_rows
from nl2sql_pipeline.core.training.recipes import REFERENCE_COMMAND_KEYS
from nl2sql_pipeline.core.training.results import AdapterResult, MergedModel, TrainingError
from nl2sql_pipeline.defs import training
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline_tests.training_support import export_demo_dataset

CPU_OVERRIDES = ("{bf16: false, cutoff_len: 512, per_device_train_batch_size: 4, gradient_accumulation_steps: 1, "
                 "learning_rate: 5.0e-3, logging_steps: 1, generation: {max_new_tokens: 24}}")


@pytest.fixture
def dataset_asset(tmp_path: Path) -> dg.AssetsDefinition:
    # The pipeline's export of validated concert_singer pairs, standing in for `training_dataset`,
    # whose upstream (all databases' validated_samples) is more than this test needs.
    @dg.asset(name="training_dataset", group_name="data_create", io_manager_key="json_io_manager")
    def training_dataset() -> ExportReport:
        return export_demo_dataset(tmp_path / "dataset")

    return training_dataset


def test_training_group_trains_predicts_and_merges(tmp_path: Path, tiny_model: Path, demo_dir: Path,
                                                    dataset_asset: dg.AssetsDefinition) -> None:
    trainer = training.TrainerResource(recipe="qwen3_4b_lora", model_path=str(tiny_model),
                                       overrides_yaml=CPU_OVERRIDES, merge_adapter=True)
    result = dg.materialize(
        [dataset_asset, training.lora_adapter, training.lf_predictions, training.merged_model],
        resources={"trainer": trainer, "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))},
    )
    assert result.success

    adapter: AdapterResult = result.output_for_node("lora_adapter")
    folder = adapter.path()
    assert (folder / "adapter_model.safetensors").exists()
    config = yaml.safe_load((folder / "adapter_config.json").read_text())  # JSON is YAML
    assert (config["r"], config["lora_alpha"]) == (8, 16)
    assert set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    written = yaml.safe_load((folder / "train.yaml").read_text())  # the YAML llamafactory-cli actually ran
    assert set(REFERENCE_COMMAND_KEYS) <= set(written)
    assert (written["template"], written["lora_target"], written["lr_scheduler_type"]) == ("qwen3_nothink", "all", "cosine")
    exported: ExportReport = result.output_for_node("training_dataset")
    train_rows, dev_rows = exported.files["alpaca_train.jsonl"], exported.files["alpaca_dev.jsonl"]
    assert adapter.num_examples == train_rows and adapter.global_step == -(-train_rows // 4) * 3  # 3 epochs
    assert [p.step for p in adapter.losses] == list(range(1, adapter.global_step + 1))
    assert 0 < adapter.trainable_percent < 100 and adapter.dataset_version

    meta = result.asset_materializations_for_node("lora_adapter")[0].metadata
    assert meta["loss_curve"].value.startswith("![loss curve](data:image/png;base64,")
    assert meta["trainable_percent"].value == pytest.approx(adapter.trainable_percent, abs=1e-3)
    assert (folder / "loss_curve.png").exists()

    runs: PredictionRuns = result.output_for_node("lf_predictions")
    assert [r.label for r in runs.runs] == ["base", "adapter"]
    dev = [r for r in read_rows(Path(exported.dataset_dir) / "samples.jsonl") if r["split"] == "dev"]
    assert len(dev) == dev_rows > 0
    for run in runs.runs:
        assert [(i.question, i.gold_sql, i.hardness, i.database) for i in run.items] == [
            (r["question"], r["sql"], r["hardness"], "concert_singer") for r in dev]
    pred_dir = Path(result.asset_materializations_for_node("lf_predictions")[0].metadata["predictions_dir"].value)
    lines = read_generated_predictions(pred_dir / "adapter" / "generated_predictions.jsonl")
    assert [line.predict for line in lines] == [i.output for i in runs.get("adapter").items]
    assert [line.label.strip() for line in lines] == [r["sql"] for r in dev]

    db = demo_dir / "concert_singer.sqlite"
    targets = {"concert_singer": DatabaseTarget(url=f"sqlite:///{db}", dialect="sqlite")}
    verdicts = evaluate_runs(runs, targets, EvalOptions(workers=1))
    assert {label: len(v) for label, v in verdicts.items()} == {"base": dev_rows, "adapter": dev_rows}
    assert all(v.executable for vs in verdicts.values() for v in vs)  # every gold query ran

    merged: MergedModel = result.output_for_node("merged_model")
    assert (Path(merged.model_dir) / "config.json").exists()
    assert list(Path(merged.model_dir).glob("*.safetensors"))


def test_merged_model_is_off_by_default(tmp_path: Path, tiny_model: Path) -> None:
    fake_adapter = AdapterResult(adapter_dir=str(tmp_path), base_model=str(tiny_model), backend="llamafactory",
                                 recipe="qwen3_4b_lora", dataset_dir=str(tmp_path), dataset_version="x",
                                 datasets=[], num_examples=0)

    @dg.asset(name="lora_adapter", group_name="training", io_manager_key="json_io_manager")
    def stand_in() -> AdapterResult:
        return fake_adapter

    result = dg.materialize(
        [stand_in, training.merged_model],
        resources={"trainer": training.TrainerResource(), "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path))},
    )
    assert result.success and not result.asset_materializations_for_node("merged_model")


def test_trainer_resource_applies_overrides_and_names_bad_ones(tiny_model: Path) -> None:
    trainer = training.TrainerResource(recipe="deepseek_coder_6.7b_peft", model_path=str(tiny_model),
                                       overrides_yaml="{bf16: false, generation: {max_new_tokens: 8}}")
    recipe = trainer.load()
    assert (recipe.backend, recipe.model_name_or_path, recipe.bf16) == ("peft", str(tiny_model), False)
    assert (recipe.generation.max_new_tokens, recipe.generation.top_p) == (8, 0.7)  # the rest of the section stays
    with pytest.raises(ConfigError, match="not a mapping"):
        training.TrainerResource(overrides_yaml="[bf16]").load()
    with pytest.raises(ConfigError, match="lora_rnak"):
        training.TrainerResource(overrides_yaml="{lora_rnak: 4}").load()
    assert training.dataset_dir_of({"dataset_dir": "/d"}) == Path("/d")
    with pytest.raises(TrainingError, match="no dataset_dir"):
        training.dataset_dir_of(object())
