"""LLaMA-Factory `do_predict` + `predict_with_generate` on the dev split, for the base model and the adapter.

This is the path the reference design's before/after numbers come from. Its output,
`generated_predictions.jsonl` (prompt / predict / label), is joined with the dev rows of
`samples.jsonl` into `PredictionSet`s for the evaluation step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nl2sql_pipeline.core.predictions import PredictionItem, PredictionSet
from nl2sql_pipeline.core.training import dataset_dir as ds
from nl2sql_pipeline.core.training.llamafactory import OnProgress, run_cli
from nl2sql_pipeline.core.training.recipes import Generation, LlamaFactoryRecipe, PeftRecipe
from nl2sql_pipeline.core.training.results import TrainingError

PREDICTIONS_FILE = "generated_predictions.jsonl"


def predict_config(recipe: LlamaFactoryRecipe | PeftRecipe, *, model_path: Path, adapter_dir: Path | None, dataset_dir: Path,
                   datasets: list[str], output_dir: Path, generation: Generation | None = None) -> dict[str, Any]:
    gen = generation or recipe.generation
    config: dict[str, Any] = {
        "stage": "sft", "do_predict": True, "predict_with_generate": True,
        "model_name_or_path": str(model_path), "finetuning_type": "lora", "template": recipe.template,
        "dataset_dir": str(dataset_dir), "eval_dataset": ",".join(datasets), "cutoff_len": recipe.cutoff_len,
        "max_new_tokens": gen.max_new_tokens, "do_sample": gen.do_sample,
        "per_device_eval_batch_size": gen.per_device_eval_batch_size,
        "output_dir": str(output_dir), "overwrite_output_dir": True, "report_to": "none", "seed": recipe.seed,
    }
    if gen.do_sample:  # LLaMA-Factory ignores them when greedy; leaving them out keeps the YAML honest
        config.update(top_p=gen.top_p, temperature=gen.temperature)
    if adapter_dir is not None:
        config["adapter_name_or_path"] = str(adapter_dir)
    return config


def run_prediction(recipe: LlamaFactoryRecipe | PeftRecipe, *, model_path: Path, adapter_dir: Path | None, dataset_dir: Path,
                   output_dir: Path, generation: Generation | None = None,
                   on_progress: OnProgress | None = None, split: ds.Split = "dev") -> Path:
    """One prediction run on the dev split (or on `oracle`, the same questions with the gold
    tables' schema, when the export wrote that diagnostic); returns its `generated_predictions.jsonl`."""
    if recipe.template is None:
        raise TrainingError("the recipe names no LLaMA-Factory template, which prediction needs.",
                            "add `template: <name>` to the recipe (e.g. deepseekcoder, qwen3_nothink).")
    names = ds.dataset_names(dataset_dir, split, ds.resolve_format(dataset_dir, recipe.dataset_format))
    ds.require_examples(dataset_dir, names)
    config = predict_config(recipe, model_path=model_path, adapter_dir=adapter_dir, dataset_dir=dataset_dir,
                            datasets=names, output_dir=output_dir, generation=generation)
    run_cli("train", config, output_dir, on_progress=on_progress)  # LLaMA-Factory predicts via `train`
    out = Path(output_dir) / PREDICTIONS_FILE
    if not out.exists():
        raise TrainingError(f"LLaMA-Factory prediction wrote no {PREDICTIONS_FILE} in {output_dir}.",
                            f"read {Path(output_dir) / 'train.log'}.")
    return out


def read_predictions(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def to_prediction_set(*, label: str, model: str, predictions: Path, dev_samples: list[dict]) -> PredictionSet:
    """Join LLaMA-Factory's lines with the dev rows of `samples.jsonl` (same order; labels must match the gold SQL)."""
    lines = read_predictions(predictions)
    if len(lines) != len(dev_samples):
        raise TrainingError(
            f"{predictions} has {len(lines)} predictions but samples.jsonl has {len(dev_samples)} dev rows.",
            "re-export the dataset and rerun the prediction: both must come from the same export.",
        )
    items = []
    for i, (line, sample) in enumerate(zip(lines, dev_samples, strict=True)):
        label_sql = line.get("label", "").strip()  # LLaMA-Factory's labels end in "\n"
        if label_sql and " ".join(label_sql.split()) != " ".join(str(sample["sql"]).split()):
            raise TrainingError(
                f"prediction {i} of {predictions} answers a different question than dev sample {i} "
                f"(label {label_sql[:60]!r} vs gold {str(sample['sql'])[:60]!r}).",
                "the dev file and samples.jsonl are out of step: re-export the dataset.",
            )
        items.append(PredictionItem(
            index=i, database=sample["database"], question=sample["question"], gold_sql=sample["sql"],
            output=line.get("predict", ""), hardness=sample.get("hardness"), topic=sample.get("topic"),
        ))
    return PredictionSet(label=label, model=model, source="llamafactory", items=items)
