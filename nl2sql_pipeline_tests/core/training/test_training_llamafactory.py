"""The LLaMA-Factory runner's failure paths: refused before starting, or a real failing `llamafactory-cli`."""

from __future__ import annotations

from pathlib import Path

import pytest

from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.training import dataset_dir as ds
from nl2sql_pipeline.core.training import llamafactory as lf
from nl2sql_pipeline.core.training.recipes import load_recipe
from nl2sql_pipeline.core.training.results import TrainingError
from nl2sql_pipeline_tests.training_support import write_dataset

CPU = {"bf16": False, "cutoff_len": 128, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1}


def test_nothing_starts_on_a_configuration_that_cannot_work(tmp_path: Path, tiny_model: Path) -> None:
    empty = write_dataset(tmp_path / "empty", train=[])
    with pytest.raises(ds.DatasetError, match="has no examples"):
        lf.train(load_recipe("qwen3_4b_lora", CPU), recipe_name="q", model_path=tiny_model, dataset_dir=empty,
                 output_dir=tmp_path / "a")
    with pytest.raises(ConfigError, match="bf16"):
        lf.train(load_recipe("qwen3_4b_lora"), recipe_name="q", model_path=tiny_model,
                 dataset_dir=write_dataset(tmp_path / "d"), output_dir=tmp_path / "b", cuda=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_failing_run_raises_with_its_output_tail_and_the_command_to_rerun(tmp_path: Path, tiny_model: Path) -> None:
    recipe = load_recipe("qwen3_4b_lora", {**CPU, "extra_args": {"no_such_argument_xyz": 1}})
    with pytest.raises(TrainingError) as err:
        lf.train(recipe, recipe_name="q", model_path=tiny_model, dataset_dir=write_dataset(tmp_path / "d"),
                 output_dir=tmp_path / "run")
    message = str(err.value)
    assert "`llamafactory-cli train` exited with code" in message
    assert "no_such_argument_xyz" in err.value.cause  # LLaMA-Factory's own complaint, from the output tail
    assert f"{lf.cli_path()} train {tmp_path / 'run' / 'train.yaml'}" in err.value.fix
    if not lf.real_torchaudio():  # CPU installs: the stand-in is part of the command
        assert f"PYTHONPATH={lf.SHIM_DIR}" in err.value.fix
    assert "no_such_argument_xyz" in (tmp_path / "run" / "train.log").read_text()
