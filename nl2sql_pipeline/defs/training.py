"""Training as assets: the LoRA adapter, LLaMA-Factory's before/after predictions, an optional merged model."""

import base64
import io
import time
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from nl2sql_pipeline.core.config import nl2sql_home
from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.fsutil import sha256_files
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.core.training import dataset_dir as ds
from nl2sql_pipeline.core.training import llamafactory, peft_trainer, predict, recipes, results
from nl2sql_pipeline.core.training.recipes import LlamaFactoryRecipe, PeftRecipe
from nl2sql_pipeline.core.training.results import AdapterResult, MergedModel, TrainingError
from nl2sql_pipeline.defs.versioning import code_version

GROUP = "training"
COMMON: dict[str, Any] = dict(group_name=GROUP, io_manager_key="json_io_manager")
ORACLE_LABEL = "adapter (oracle schema)"


class TrainerResource(dg.ConfigurableResource):
    """Which recipe trains the adapter, and per-run overrides (no code change to smoke-test on CPU)."""

    recipe: str = "qwen3_4b_lora"  # a name under configs/train/ or a path to a recipe YAML
    model_path: str = ""  # the base model folder; empty: the recipe's model_name_or_path or $<model_env>
    overrides_yaml: str = ""  # a YAML mapping merged over the recipe, e.g. "{bf16: false, max_steps: 20}"
    merge_adapter: bool = False  # materialize `merged_model` (llamafactory-cli export); off by default

    def load(self) -> LlamaFactoryRecipe | PeftRecipe:
        """Returns:
        The validated recipe with `overrides_yaml` and `model_path` applied.
        """
        overrides = yaml.safe_load(self.overrides_yaml) if self.overrides_yaml.strip() else {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"trainer overrides_yaml is not a mapping: {self.overrides_yaml!r}.",
                                      "write it as a YAML mapping, e.g. '{bf16: false, max_steps: 20}'.")
        if self.model_path:
            overrides["model_name_or_path"] = self.model_path
        return recipes.load_recipe(self.recipe, overrides)

    def recipe_name(self) -> str:
        return Path(self.recipe).stem if Path(self.recipe).suffix in (".yaml", ".yml") else self.recipe


def dataset_dir_of(value: Any) -> Path:
    """The exported folder from the `training_dataset` value (a path, or a model/dict with `dataset_dir`)."""
    if isinstance(value, (str, Path)):
        return Path(value)
    found = value.get("dataset_dir") if isinstance(value, dict) else getattr(value, "dataset_dir", None)
    if found is None:
        raise TrainingError(f"training_dataset value {type(value).__name__} has no dataset_dir.",
                            "materialize training_dataset with the current export step.")
    return Path(found)


def _run_dir(context: dg.AssetExecutionContext, *parts: str) -> Path:
    return nl2sql_home().joinpath("training", *parts, f"{time.strftime('%Y%m%d-%H%M%S')}-{context.run.run_id[:8]}")


def _loss_plot(result: AdapterResult) -> str:
    """The loss curve as a PNG embedded in markdown (the Dagster UI renders it), also saved beside the adapter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=90)
    ax.plot([p.step for p in result.losses], [p.loss for p in result.losses], label="train loss")
    if result.eval_losses:
        ax.plot([p.step for p in result.eval_losses], [p.loss for p in result.eval_losses], label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    (result.path() / "loss_curve.png").write_bytes(buf.getvalue())
    return f"![loss curve](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def _adapter_metadata(result: AdapterResult) -> dict[str, Any]:
    share = result.trainable_percent
    return {
        "adapter_dir": dg.MetadataValue.path(result.adapter_dir),
        "base_model": result.base_model,
        "backend": result.backend,
        "recipe": result.recipe,
        "dataset_version": result.dataset_version,
        "num_examples": result.num_examples,
        "global_step": result.global_step,
        "final_loss": result.final_loss,
        "best_loss": result.best_loss,
        "stopped_early": result.stopped_early,
        "trainable_params": result.trainable_params,
        "trainable_percent": round(share, 4) if share is not None else None,
        "loss_curve": dg.MetadataValue.md(_loss_plot(result)) if result.losses else "no loss logged",
        "notes": "\n".join(result.notes) or "none",
    }


@dg.asset(
    kinds={"llamafactory", "peft"},
    code_version=code_version(llamafactory, peft_trainer, recipes, results, ds, Path(recipes.RECIPES_DIR)),
    ins={"training_dataset": dg.AssetIn()},
    **COMMON,
)
def lora_adapter(context: dg.AssetExecutionContext, trainer: TrainerResource, training_dataset: Any) -> dg.Output:
    """A LoRA adapter trained on the exported train split with the trainer's recipe (LLaMA-Factory or PEFT).

    Refuses to start on a configuration that cannot work (no base model, bf16 without a GPU,
    unknown template, empty dataset); streams step/total, loss and learning rate into the run log.
    """
    recipe = trainer.load()
    model_path = recipes.resolve_model_path(recipe)
    folder = dataset_dir_of(training_dataset)
    out = _run_dir(context, "adapters", trainer.recipe_name())

    def report(p: results.Progress) -> None:
        context.log.info(f"{recipe.backend}: {p.describe()}")

    context.log.info(f"training {trainer.recipe_name()} ({recipe.backend}) on {model_path} -> {out}")
    backend = llamafactory if isinstance(recipe, LlamaFactoryRecipe) else peft_trainer
    result = backend.train(recipe, recipe_name=trainer.recipe_name(), model_path=model_path, dataset_dir=folder,
                           output_dir=out, on_progress=report)
    version = sha256_files([out / "adapter_model.safetensors", out / "adapter_config.json"])[:16]
    return dg.Output(result, metadata=_adapter_metadata(result), data_version=dg.DataVersion(version))


@dg.asset(
    kinds={"llamafactory"},
    code_version=code_version(predict, llamafactory),
    ins={"training_dataset": dg.AssetIn()},
    **COMMON,
)
def lf_predictions(
    context: dg.AssetExecutionContext, trainer: TrainerResource, lora_adapter: AdapterResult, training_dataset: Any
) -> PredictionRuns:
    """LLaMA-Factory predict_with_generate on the dev split for the base model and the adapter ("base", "adapter"),
    and, when the export wrote the oracle diagnostic, the adapter over the gold tables' schema
    ("adapter (oracle schema)": how much linking costs, never the headline).

    The reference design's before/after numbers come from this path; decoding is greedy unless the
    recipe's `generation.do_sample` is set (then top_p 0.7, temperature 0.95 as in the reference).
    """
    recipe = trainer.load()
    folder = dataset_dir_of(training_dataset)
    dev = ds.split_samples(folder, "dev")
    out = _run_dir(context, "predictions", trainer.recipe_name())
    runs = []
    for label, adapter in (("base", None), ("adapter", lora_adapter.path())):
        context.log.info(f"predicting the dev split ({len(dev)} rows) with the {label} model")
        lines = predict.run_prediction(recipe, model_path=Path(lora_adapter.base_model), adapter_dir=adapter,
                                       dataset_dir=folder, output_dir=out / label)
        model = lora_adapter.base_model if adapter is None else lora_adapter.adapter_dir
        runs.append(predict.to_prediction_set(label=label, model=model, predictions=lines, dev_samples=dev))
    if ds.has_split(folder, "oracle"):  # the export's labelled diagnostic: same questions, gold tables' schema
        context.log.info("predicting the dev questions over the oracle schema with the adapter (diagnostic)")
        lines = predict.run_prediction(recipe, model_path=Path(lora_adapter.base_model), adapter_dir=lora_adapter.path(),
                                       dataset_dir=folder, output_dir=out / "adapter_oracle", split="oracle")
        runs.append(predict.to_prediction_set(label=ORACLE_LABEL, model=lora_adapter.adapter_dir, predictions=lines,
                                              dev_samples=dev))
    gen = recipe.generation
    decoding = "greedy" if not gen.do_sample else f"sampling top_p={gen.top_p} temperature={gen.temperature}"
    context.add_output_metadata({
        "dev_rows": len(dev), "decoding": decoding, "max_new_tokens": gen.max_new_tokens,
        "predictions_dir": dg.MetadataValue.path(str(out)),
    })
    return PredictionRuns(runs=runs)


@dg.asset(
    kinds={"llamafactory"},
    code_version=code_version(llamafactory),
    output_required=False,
    **COMMON,
)
def merged_model(context: dg.AssetExecutionContext, trainer: TrainerResource, lora_adapter: AdapterResult):
    """Base model + adapter merged by `llamafactory-cli export`, for servers that cannot load LoRA.

    Off by default (`trainer.merge_adapter: true` turns it on): merging a 4B model writes ~8 GB.
    """
    if not trainer.merge_adapter:
        context.log.info("merged_model is off; set the trainer resource's merge_adapter: true to build it")
        return
    recipe = trainer.load()
    if recipe.template is None:
        raise TrainingError("the recipe names no LLaMA-Factory template, which export needs.",
                            "add `template: <name>` to the recipe.")
    work = _run_dir(context, "merged", trainer.recipe_name())
    export_dir = llamafactory.export_merged(
        recipe, model_path=Path(lora_adapter.base_model), adapter_dir=lora_adapter.path(),
        export_dir=work / "model", work_dir=work,
    )
    value = MergedModel(model_dir=str(export_dir), base_model=lora_adapter.base_model,
                        adapter_dir=lora_adapter.adapter_dir)
    yield dg.Output(value, metadata={"model_dir": dg.MetadataValue.path(str(export_dir))},
                    data_version=dg.DataVersion(sha256_files(sorted(export_dir.glob("*.safetensors")))[:16]))
