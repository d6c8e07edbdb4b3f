"""Training as assets: the LoRA adapter, LLaMA-Factory's before/after predictions, an optional merged model,
and the optional GRPO stage (`rl_adapter`, `rl_predictions`) rewarded by execution on the databases."""

import base64
import io
import os
import time
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from pydantic import Field

from nl2sql_pipeline.core.config import nl2sql_home
from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.fsutil import sha256_files
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.core.training import dataset_dir as ds
from nl2sql_pipeline.core.evaluation import results as eval_results
from nl2sql_pipeline.core.training import grpo, grpo_eval, grpo_recipe, llamafactory, peft_trainer, predict, recipes, results
from nl2sql_pipeline.core.training import rewards, trl_shim
from nl2sql_pipeline.core.training.grpo_recipe import GrpoRecipe
from nl2sql_pipeline.core.training.recipes import LlamaFactoryRecipe, PeftRecipe
from nl2sql_pipeline.core.training.results import AdapterResult, MergedModel, TrainingError
from nl2sql_pipeline.defs.audit import run_audit_target
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline.defs.versioning import code_version

GROUP = "training"
COMMON: dict[str, Any] = dict(group_name=GROUP, io_manager_key="json_io_manager")
ORACLE_LABEL = "adapter (oracle schema)"


class TrainerResource(dg.ConfigurableResource):
    """Which recipe trains the adapter, and per-run overrides (no code change to smoke-test on CPU)."""

    recipe: str = Field("qwen3_4b_lora", description="a recipe name under configs/train/ or a path to a recipe YAML")
    model_path: str = Field(
        "", description="the base model folder; empty: the recipe's model_name_or_path or $<model_env>"
    )
    overrides_yaml: str = Field(
        "", description='a YAML mapping merged over the recipe, e.g. "{bf16: false, max_steps: 20}"'
    )
    merge_adapter: bool = Field(False, description="materialize merged_model (llamafactory-cli export)")
    grpo: bool = Field(False, description="materialize rl_adapter / rl_predictions (GRPO after fine-tuning)")
    grpo_recipe: str = Field("qwen3_4b_grpo", description="the GRPO recipe: a name under configs/train/ or a path")
    grpo_overrides_yaml: str = Field(
        "", description='a YAML mapping merged over the GRPO recipe, e.g. "{bf16: false, max_steps: 5, start_from: base}"'
    )

    def load(self) -> LlamaFactoryRecipe | PeftRecipe:
        """Returns:
        The validated recipe with `overrides_yaml` and `model_path` applied.
        """
        recipe = self._load(self.recipe, self.overrides_yaml, "overrides_yaml")
        if isinstance(recipe, GrpoRecipe):
            raise ConfigError(f"trainer recipe {self.recipe!r} is a GRPO recipe, which needs a fine-tuned start.",
                              "set it as the trainer's grpo_recipe (with grpo: true) and keep an SFT recipe in recipe.")
        return recipe

    def load_grpo(self) -> GrpoRecipe:
        """Returns:
        The validated GRPO recipe with `grpo_overrides_yaml` and `model_path` applied.
        """
        recipe = self._load(self.grpo_recipe, self.grpo_overrides_yaml, "grpo_overrides_yaml")
        if not isinstance(recipe, GrpoRecipe):
            raise ConfigError(f"trainer grpo_recipe {self.grpo_recipe!r} has backend {recipe.backend!r}, not grpo.",
                              "point grpo_recipe at a `backend: grpo` recipe such as qwen3_4b_grpo.")
        return recipe

    def _load(self, name: str, overrides_yaml: str, field: str) -> recipes.AnyRecipe:
        overrides = yaml.safe_load(overrides_yaml) if overrides_yaml.strip() else {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"trainer {field} is not a mapping: {overrides_yaml!r}.",
                              "write it as a YAML mapping, e.g. '{bf16: false, max_steps: 20}'.")
        if self.model_path:
            overrides["model_name_or_path"] = self.model_path
        return recipes.load_recipe(name, overrides)

    def recipe_name(self, name: str | None = None) -> str:
        name = self.recipe if name is None else name
        return Path(name).stem if Path(name).suffix in (".yaml", ".yml") else name


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


def _curve_plot(curves: dict[str, tuple[list[int], list[float]]], ylabel: str, path: Path) -> str:
    """Curves as a PNG embedded in markdown (the Dagster UI renders it), also saved at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=90)
    for label, (steps, values) in curves.items():
        ax.plot(steps, values, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    path.write_bytes(buf.getvalue())
    return f"![{path.stem.replace('_', ' ')}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def _loss_plot(result: AdapterResult) -> str:
    curves = {"train loss": ([p.step for p in result.losses], [p.loss for p in result.losses])}
    if result.eval_losses:
        curves["eval loss"] = ([p.step for p in result.eval_losses], [p.loss for p in result.eval_losses])
    return _curve_plot(curves, "loss", result.path() / "loss_curve.png")


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


def _reward_table(result: grpo.RlAdapterResult) -> str:
    names = sorted({c for p in result.rewards for c in p.components})
    lines = ["| step | reward | " + " | ".join(names) + " | kl |", "|---" * (len(names) + 3) + "|"]
    for p in result.rewards:
        cells = [f"{p.components[c]:.3f}" if c in p.components else "" for c in names]
        kl = f"{p.kl:.4f}" if p.kl is not None else ""
        lines.append(f"| {p.step} | {p.reward:.3f} | " + " | ".join(cells) + f" | {kl} |")
    return "\n".join(lines)


def _rl_metadata(result: grpo.RlAdapterResult, match: dict[str, float]) -> dict[str, Any]:
    curves = {"mean reward": ([p.step for p in result.rewards], [p.reward for p in result.rewards])}
    for name in sorted({c for p in result.rewards for c in p.components}):
        points = [p for p in result.rewards if name in p.components]
        curves[name] = ([p.step for p in points], [p.components[name] for p in points])
    rewards = [p.reward for p in result.rewards]
    return {
        "adapter_dir": dg.MetadataValue.path(result.adapter_dir),
        "base_model": result.base_model,
        "start_adapter": result.start_adapter or "none (GRPO on the base model)",
        "recipe": result.recipe,
        "dataset_version": result.dataset_version,
        "num_prompts": result.num_prompts,
        "global_step": result.global_step,
        "generation": result.generation,
        "rollouts": result.rollouts,
        "rollouts_per_s": round(result.rollouts_per_s, 2),
        "train_s": round(result.train_s, 1),
        "reward_s": round(result.reward_s, 1),  # of train_s, scoring rollouts on the databases
        "mean_reward_first": round(rewards[0], 4) if rewards else None,
        "mean_reward_last": round(rewards[-1], 4) if rewards else None,
        "reward_curve": (dg.MetadataValue.md(_curve_plot(curves, "reward", result.path() / "reward_curve.png"))
                         if rewards else "no reward logged"),
        "rewards_by_step": dg.MetadataValue.md(_reward_table(result)),
        "reward_queries": dg.MetadataValue.json(result.reward_stats),
        "notes": "\n".join(result.notes) or "none",
        **{f"dev exec match % ({label})": value for label, value in match.items()},
    }


@dg.multi_asset(
    outs={
        "rl_adapter": dg.AssetOut(group_name=GROUP, io_manager_key="json_io_manager", kinds={"trl"},
                                  is_required=False),
        "rl_predictions": dg.AssetOut(group_name=GROUP, io_manager_key="json_io_manager", kinds={"trl"},
                                      is_required=False),
    },
    ins={"lora_adapter": dg.AssetIn(), "training_dataset": dg.AssetIn()},
    code_version=code_version(grpo, grpo_eval, grpo_recipe, rewards, trl_shim, Path(recipes.RECIPES_DIR)),
    can_subset=False,
)
def rl_adapter(context: dg.AssetExecutionContext, trainer: TrainerResource, databases: DatabasesResource,
               lora_adapter: AdapterResult, training_dataset: Any):
    """GRPO after fine-tuning: TRL's GRPOTrainer on the train split's prompts, every rollout rewarded by
    execution on the read-only executor (`rl_adapter`), and greedy dev predictions of base, fine-tuned
    and GRPO models (`rl_predictions`, scored by eval_predictions beside the others).

    Off by default (`trainer.grpo: true` turns it on); the recipe is `trainer.grpo_recipe`.
    """
    if not trainer.grpo:
        context.log.info("rl_adapter is off; set the trainer resource's grpo: true to run GRPO")
        return
    recipe = trainer.load_grpo()
    folder = dataset_dir_of(training_dataset)
    model_path = Path(lora_adapter.base_model)  # the adapter's base, unless GRPO starts on a base of its own
    if recipe.start_from == "base" and (recipe.model_name_or_path or os.environ.get(recipe.model_env)):
        model_path = recipes.resolve_model_path(recipe)
    names = {p["database"] for split in ("train", "dev") for p in grpo.split_prompts(folder, split, recipe.dataset_format)}
    known = {db.name for db in databases.file().databases}
    targets = {name: eval_results.database_target(databases.get(name)) for name in names & known}
    out = _run_dir(context, "rl_adapters", trainer.recipe_name(trainer.grpo_recipe))

    def report(point: grpo.RewardPoint, total: int) -> None:
        parts = ", ".join(f"{k} {v:.3f}" for k, v in point.components.items())
        context.log.info(f"grpo: step {point.step}/{total}, reward {point.reward:.3f} ({parts})")

    context.log.info(f"GRPO {trainer.grpo_recipe} on {model_path} (start: {recipe.start_from}) -> {out}")
    result = grpo.train(recipe, recipe_name=trainer.recipe_name(trainer.grpo_recipe), model_path=model_path,
                        start_adapter=lora_adapter.path(), dataset_dir=folder, output_dir=out, targets=targets,
                        on_progress=report, audit=run_audit_target(context, "rewards"))
    runs = grpo_eval.dev_predictions(result, recipe, folder)
    match = grpo_eval.execution_match(runs, targets, recipe)
    context.log.info(f"dev execution match %: {match}")
    version = sha256_files([out / "adapter_model.safetensors", out / "adapter_config.json"])[:16]
    yield dg.Output(result, output_name="rl_adapter", metadata=_rl_metadata(result, match),
                    data_version=dg.DataVersion(version))
    yield dg.Output(runs, output_name="rl_predictions", data_version=dg.DataVersion(version),
                    metadata={"dev_rows": len(runs.runs[0]) if runs.runs else 0, "runs": ", ".join(r.label for r in runs.runs),
                              "decoding": f"greedy, {recipe.eval_max_new_tokens} new tokens",
                              **{f"exec match % ({label})": value for label, value in match.items()}})
