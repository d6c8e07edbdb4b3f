"""The closed loop's GRPO arm: base vs SFT vs SFT+GRPO on the same dev prompts, with a same-compute control.

After `run.py`'s supervised run, GRPO (the project's `grpo.train`, TRL's GRPOTrainer, rewards on
the demo database through the read-only executor) trains a LoRA on top of the fine-tuned model
for `--grpo-steps`. The control spends the same wall time on more supervised fine-tuning (the
SFT run's seconds per epoch decide how many extra epochs fit), so "GRPO helped" means it beat
more of the same, not just more training. All four models then decode the same dev prompts
(built as in training) greedily with the same token budget, and the evaluation code scores them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nl2sql_pipeline.core.evaluation.report import RunMetrics, summarize
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_runs
from nl2sql_pipeline.core.predictions import PredictionItem, PredictionRuns, PredictionSet
from nl2sql_pipeline.core.training import dataset_dir as ds
from nl2sql_pipeline.core.training import grpo, grpo_eval
from nl2sql_pipeline.core.training import llamafactory as lf
from nl2sql_pipeline.core.training.recipes import LlamaFactoryRecipe, load_recipe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grpo-steps", type=int, default=0, help="GRPO steps after SFT (0: no GRPO arm)")
    parser.add_argument("--grpo-lr", type=float, default=2e-4)
    parser.add_argument("--grpo-g", type=int, default=8, help="rollouts per prompt")
    parser.add_argument("--grpo-prompts", type=int, default=2, help="prompts per step")
    parser.add_argument("--grpo-completion", type=int, default=64, help="max_completion_length")


def _policies(base: Path, trained: Path, more: Path, rl: grpo.RlAdapterResult):
    from transformers import AutoModelForCausalLM

    yield "base", str(base), AutoModelForCausalLM.from_pretrained(base)
    yield "sft", str(trained), AutoModelForCausalLM.from_pretrained(trained)
    yield "sft + more sft (same time)", str(more), AutoModelForCausalLM.from_pretrained(more)
    yield "sft + grpo", rl.adapter_dir, grpo.load_policy(rl)


def run(args: argparse.Namespace, *, recipe: LlamaFactoryRecipe, folder: Path, target: DatabaseTarget, database: str,
        base: Path, trained: Path, sft_train_s: float) -> dict:
    from transformers import AutoTokenizer

    g, prompts = args.grpo_g, args.grpo_prompts
    rl_recipe = load_recipe("qwen3_4b_grpo", {
        "model_name_or_path": str(trained), "start_from": "base", "bf16": False, "gradient_checkpointing": False,
        "num_generations": g, "per_device_train_batch_size": g * prompts, "gradient_accumulation_steps": 1,
        "max_steps": args.grpo_steps, "learning_rate": args.grpo_lr, "max_completion_length": args.grpo_completion,
        "max_prompt_length": 1024, "logging_steps": 1, "save_steps": 10**6, "reward": {"workers": 2},
    })
    print(f"\nGRPO: {args.grpo_steps} steps x {prompts} prompts x {g} rollouts on the SFT model", flush=True)
    rl = grpo.train(rl_recipe, recipe_name="qwen3_4b_grpo", model_path=trained, start_adapter=None, dataset_dir=folder,
                    output_dir=args.work / "grpo", targets={database: target},
                    on_progress=lambda p, total: print(f"  step {p.step}/{total} reward {p.reward:.3f} "
                                                       f"{ {k: round(v, 3) for k, v in p.components.items()} }", flush=True))

    epoch_s = sft_train_s / args.epochs
    extra_epochs = max(0.1, round(rl.train_s / epoch_s, 2))
    print(f"\ncontrol: {extra_epochs} more SFT epochs (~{rl.train_s:.0f} s, GRPO's wall time)", flush=True)
    more = args.work / "trained_more"
    config = lf.train_config(recipe.model_copy(update={"num_train_epochs": extra_epochs}), model_path=trained,
                             dataset_dir=folder, datasets=ds.dataset_names(folder, "train", "alpaca"), output_dir=more)
    config["finetuning_type"] = "full"
    started = time.perf_counter()
    lf.run_cli("train", config, more)
    more_s = time.perf_counter() - started

    dev = grpo.split_prompts(folder, "dev", "alpaca")
    tokenizer = AutoTokenizer.from_pretrained(trained)
    runs = []
    for label, name, model in _policies(base, trained, more, rl):
        outputs = grpo_eval.generate(model.eval(), tokenizer, [r["prompt"] for r in dev],
                                     max_new_tokens=rl_recipe.eval_max_new_tokens, batch_size=16)
        runs.append(PredictionSet(label=label, model=name, source="transformers:greedy", items=[
            PredictionItem(index=i, database=r["database"], question=r["question"], gold_sql=r["gold_sql"], output=o,
                           hardness=r["hardness"], topic=r["topic"]) for i, (r, o) in enumerate(zip(dev, outputs))]))
    verdicts = evaluate_runs(PredictionRuns(runs=runs), {database: target}, EvalOptions(workers=1))
    metrics = {label: summarize(label, v) for label, v in verdicts.items()}
    _print(metrics, rl, extra_epochs, more_s)
    return {"grpo": rl.model_dump(), "control_epochs": extra_epochs, "control_s": more_s,
            "metrics": {k: m.model_dump(exclude={"by_topic", "by_database"}) for k, m in metrics.items()}}


def _print(metrics: dict[str, RunMetrics], rl: grpo.RlAdapterResult, extra_epochs: float, more_s: float) -> None:
    print(f"\nSame dev prompts, greedy, same token budget; GRPO {rl.global_step} steps in {rl.train_s:.0f} s "
          f"({rl.rollouts} rollouts, {rl.rollouts_per_s:.1f}/s, rewards {rl.reward_s:.1f} s), control "
          f"{extra_epochs} SFT epochs in {more_s:.0f} s\n")
    print("| model | dev items | syntax valid % | executed % | execution match % | matched |\n|---|---|---|---|---|---|")
    for label, m in metrics.items():
        print(f"| {label} | {m.items} | {m.syntax_valid:.1f} | {m.exec_success:.1f} | {m.exec_match:.1f} | {m.matched} |")
    curve = ", ".join(f"{p.step}:{p.reward:.3f}" for p in rl.rewards)
    print(f"\nmean reward by step: {curve}")
    print(f"reward queries: {rl.reward_stats}")
