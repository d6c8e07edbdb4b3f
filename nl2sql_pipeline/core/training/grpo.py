"""The `grpo` training branch: TRL's GRPOTrainer after LoRA fine-tuning, rewarded by execution.

Prompts are the train split's, built exactly as supervised training builds them
(`peft_trainer.to_messages` on the exported rows: the export step's system prompt, instruction,
schema and question), so GRPO follows any change to the prompt builder. TRL applies the
tokenizer's chat template to these conversational prompts, as the PEFT branch does.

The start model is the base with the fine-tuned adapter merged in (`start_from: adapter`) or the
base itself; a new LoRA (`lora_rank`) is trained on top, so with PEFT the KL reference is the
start model with that LoRA switched off: no second copy of the weights. Rollouts are generated
by TRL's colocated vLLM on a GPU machine and by transformers' generate on CPU.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from nl2sql_pipeline.core.training import dataset_dir as ds
from nl2sql_pipeline.core.training.grpo_recipe import GrpoRecipe
from nl2sql_pipeline.core.training.peft_trainer import to_messages
from nl2sql_pipeline.core.training.recipes import check_runnable, grpo_uses_vllm
from nl2sql_pipeline.core.training.results import TrainingError
from nl2sql_pipeline.core.audit import AuditTarget
from nl2sql_pipeline.core.training.rewards import SqlRewarder, Target
from nl2sql_pipeline.core.training.trl_shim import import_grpo, prepare_model

START_FILE = "grpo_start.json"  # beside the adapter: which base and fine-tuned adapter it sits on


class RewardPoint(BaseModel):
    """TRL's logged rollout statistics at one step (means over the step's rollouts)."""

    step: int
    reward: float
    reward_std: float | None = None
    components: dict[str, float] = Field(default_factory=dict)  # unweighted component means
    kl: float | None = None
    completion_length: float | None = None
    loss: float | None = None


class RlAdapterResult(BaseModel):
    """A GRPO-trained LoRA adapter, what it sits on, and its reward history."""

    adapter_dir: str
    base_model: str
    start_adapter: str | None  # the fine-tuned adapter merged into the base before GRPO, if any
    recipe: str
    dataset_dir: str
    dataset_version: str
    num_prompts: int
    global_step: int
    rewards: list[RewardPoint]
    rollouts: int
    train_s: float
    reward_s: float = 0.0  # of train_s, spent scoring rollouts (queries included)
    generation: Literal["vllm", "transformers"]
    trainable_params: int | None = None
    reward_stats: dict[str, int] = Field(default_factory=dict)  # queries run, cache hits, refused, timeouts
    notes: list[str] = Field(default_factory=list)

    def path(self) -> Path:
        return Path(self.adapter_dir)

    @property
    def rollouts_per_s(self) -> float:
        return self.rollouts / self.train_s if self.train_s else 0.0


def split_prompts(dataset_dir: Path, split: ds.Split, fmt: str = "auto") -> list[dict[str, Any]]:
    """The split's prompts as chat messages (without the answer), with database and gold SQL."""
    fmt = ds.resolve_format(dataset_dir, fmt)
    rows = [row for name in ds.dataset_names(dataset_dir, split, fmt)
            for row in ds.read_rows(ds.dataset_file(dataset_dir, name))]
    samples = ds.split_samples(dataset_dir, split)
    if len(rows) != len(samples):
        raise TrainingError(f"the {split} split of {dataset_dir} has {len(rows)} {fmt} rows but samples.jsonl "
                            f"has {len(samples)}.", "re-export the dataset: both must come from the same export.")
    prompts = []
    for i, (row, sample) in enumerate(zip(rows, samples, strict=True)):
        messages = to_messages(row)
        if " ".join(messages[-1]["content"].split()) != " ".join(str(sample["sql"]).split()):
            raise TrainingError(f"{split} row {i} answers {messages[-1]['content'][:60]!r} but samples.jsonl says "
                                f"{str(sample['sql'])[:60]!r}.", "re-export the dataset; the files are out of step.")
        prompts.append({"prompt": messages[:-1], "database": sample["database"], "gold_sql": sample["sql"],
                        "question": sample.get("question", ""), "hardness": sample.get("hardness"),
                        "topic": sample.get("topic")})
    return prompts


def load_start_model(model_path: Path, adapter_dir: Path | None, *, bf16: bool = False):
    """The base model, with the fine-tuned LoRA merged in when `adapter_dir` is given."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.bfloat16 if bf16 else torch.float32)
    if adapter_dir is None:
        return model
    from peft import PeftModel

    merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    if hasattr(merged, "peft_config"):  # left behind by merging; the LoRA put on top must be the only one
        del merged.peft_config
    return merged


def load_policy(result: RlAdapterResult, *, bf16: bool = False):
    """The trained policy for generation: base + merged fine-tuned adapter + the GRPO adapter."""
    from peft import PeftModel

    start = load_start_model(Path(result.base_model), Path(result.start_adapter) if result.start_adapter else None,
                             bf16=bf16)
    return PeftModel.from_pretrained(start, result.adapter_dir).eval()


def reward_history(log_history: list[dict[str, Any]], components: list[str]) -> list[RewardPoint]:
    """RewardPoints from the Trainer's log history (TRL logs `reward`, `rewards/<name>/mean`, `kl`)."""
    points = []
    for entry in log_history:
        if "reward" not in entry:
            continue
        points.append(RewardPoint(
            step=int(entry["step"]), reward=entry["reward"], reward_std=entry.get("reward_std"),
            components={c: entry[f"rewards/{c}/mean"] for c in components if f"rewards/{c}/mean" in entry},
            kl=entry.get("kl"), completion_length=entry.get("completions/mean_length"), loss=entry.get("loss"),
        ))
    return points


def grpo_config(recipe: GrpoRecipe, output_dir: Path, *, cuda: bool, weights: list[float]):
    """TRL's GRPOConfig for the recipe (checkpoints under `output_dir`)."""
    _, GRPOConfig = import_grpo()
    use_vllm = grpo_uses_vllm(recipe, cuda=cuda)
    return GRPOConfig(
        output_dir=str(output_dir), max_steps=recipe.max_steps, per_device_train_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps, learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler_type, warmup_steps=int(recipe.warmup_ratio * recipe.max_steps), logging_steps=recipe.logging_steps,
        save_strategy="steps", save_steps=recipe.save_steps, save_total_limit=1, bf16=recipe.bf16, use_cpu=not cuda,
        gradient_checkpointing=recipe.gradient_checkpointing, seed=recipe.seed, report_to=[], disable_tqdm=True,
        num_generations=recipe.num_generations, temperature=recipe.temperature, top_p=recipe.top_p,
        beta=recipe.beta, epsilon=recipe.epsilon, epsilon_high=recipe.epsilon_high, num_iterations=recipe.num_iterations,
        loss_type=recipe.loss_type, scale_rewards=recipe.scale_rewards, max_prompt_length=recipe.max_prompt_length,
        max_completion_length=recipe.max_completion_length, reward_weights=weights, remove_unused_columns=False,
        use_vllm=use_vllm, vllm_mode="colocate", vllm_gpu_memory_utilization=recipe.vllm_gpu_memory_utilization,
        log_completions=False,
    )


def train(recipe: GrpoRecipe, *, recipe_name: str, model_path: Path, start_adapter: Path | None, dataset_dir: Path,
          output_dir: Path, targets: Mapping[str, Target], on_progress: Callable[[RewardPoint, int], None] | None = None,
          cuda: bool | None = None, audit: AuditTarget | None = None) -> RlAdapterResult:
    """GRPO on the train split's prompts; saves the new LoRA adapter (and tokenizer) to `output_dir`.
    With `audit`, every rollout query the rewards run is recorded in the run's audit file."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, TrainerCallback

    cuda = torch.cuda.is_available() if cuda is None else cuda
    check_runnable(recipe, cuda=cuda)
    if recipe.start_from == "adapter" and start_adapter is None:
        raise TrainingError("the GRPO recipe starts from the fine-tuned adapter (start_from: adapter), but none was given.",
                            "materialize lora_adapter first, or set start_from: base in the recipe.")
    start = start_adapter if recipe.start_from == "adapter" else None
    prompts = split_prompts(dataset_dir, "train", recipe.dataset_format)
    missing = sorted({p["database"] for p in prompts} - set(targets))
    if missing:
        raise TrainingError(f"train prompts name databases with no connection to reward them on: {', '.join(missing)}.",
                            "configure those databases in databases.yaml (the rewards run every rollout on them).")
    GRPOTrainer, _ = import_grpo()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.padding_side = "left"  # generation pads on the left
    lengths = [len(tokenizer(tokenizer.apply_chat_template(p["prompt"], tokenize=False, add_generation_prompt=True),
                             add_special_tokens=False)["input_ids"]) for p in prompts]
    too_long = sum(n > recipe.max_prompt_length for n in lengths)
    notes = [f"{too_long} of {len(prompts)} train prompts exceed max_prompt_length={recipe.max_prompt_length} "
             f"tokens (longest {max(lengths)}); TRL keeps their last tokens, cutting the schema's start: raise "
             "max_prompt_length"] if too_long else []
    torch.manual_seed(recipe.seed)
    model = prepare_model(load_start_model(model_path, start, bf16=recipe.bf16))
    output_dir = Path(output_dir)
    checkpoints = output_dir / "checkpoints"
    rewarder = SqlRewarder(targets, recipe.reward, audit)
    funcs, weights = rewarder.reward_functions()
    names = [f.__name__ for f in funcs]

    class _Report(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 - Trainer's signature
            points = reward_history([{**(logs or {}), "step": state.global_step}], names)
            if on_progress and points:
                on_progress(points[0], state.max_steps)

    trainer = GRPOTrainer(
        model=model, reward_funcs=funcs, args=grpo_config(recipe, checkpoints, cuda=cuda, weights=weights),
        train_dataset=Dataset.from_list(prompts), processing_class=tokenizer, callbacks=[_Report()],
        peft_config=LoraConfig(r=recipe.lora_rank, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                               target_modules=list(recipe.lora_target), task_type="CAUSAL_LM"),
    )
    started = time.perf_counter()
    try:
        trainer.train()
    finally:
        rewarder.close()
    train_s = time.perf_counter() - started
    trainer.model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    shutil.rmtree(checkpoints, ignore_errors=True)
    (output_dir / START_FILE).write_text(json.dumps({"base_model": str(model_path), "start_adapter": str(start) if start else None},
                                                    indent=2), encoding="utf-8")
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    state = trainer.state
    return RlAdapterResult(
        adapter_dir=str(output_dir), base_model=str(model_path), start_adapter=str(start) if start else None,
        recipe=recipe_name, dataset_dir=str(dataset_dir), dataset_version=ds.dataset_version(dataset_dir),
        num_prompts=len(prompts), global_step=state.global_step, rewards=reward_history(state.log_history, names),
        rollouts=state.global_step * recipe.per_device_train_batch_size * recipe.gradient_accumulation_steps
        // recipe.num_iterations,  # each generation batch serves num_iterations updates
        train_s=train_s, generation="vllm" if grpo_uses_vllm(recipe, cuda=cuda) else "transformers",
        trainable_params=trainable, reward_stats=dict(rewarder.stats), reward_s=rewarder.seconds, notes=notes,
    )
