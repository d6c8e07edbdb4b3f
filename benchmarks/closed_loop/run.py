"""Closed loop on CPU: generate -> validate -> export -> `llamafactory-cli train` -> predict -> execution match.

Proves the whole lifecycle end to end without a GPU. On a demo database the pipeline's own steps
(offline synthesizer, validation with its leakage-free split, export) make the dataset; a tiny
Qwen3 (random init, tokenizer trained on the exported text) is fully fine-tuned on the train split
with LLaMA-Factory for a few minutes; LLaMA-Factory's predict_with_generate runs on the dev split
for the untrained and the trained model; the evaluation code scores both by execution on the
database. Dev SQL templates never occur in train, so a match is generalisation, not recall.

    python benchmarks/closed_loop/run.py [--database concert_singer] [--budget 400] [--epochs 30]
    python benchmarks/closed_loop/run.py ... --grpo-steps 40    # plus the GRPO arm (grpo_arm.py)
    python benchmarks/closed_loop/run.py ... --context-arm      # plus linked- vs oracle-trained (context_arm.py)

Prints a before/after table and writes `<work>/closed_loop.json`. Set OMP_NUM_THREADS to the
cores you can spare.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import context_arm  # noqa: E402
import grpo_arm  # noqa: E402

from nl2sql_pipeline.core.cards import build_cards  # noqa: E402
from nl2sql_pipeline.core.config import DatabaseConfig  # noqa: E402
from nl2sql_pipeline.core.connection import resolve_url  # noqa: E402
from nl2sql_pipeline.core.evaluation.report import summarize  # noqa: E402
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_runs  # noqa: E402
from nl2sql_pipeline.core.execution import close_executors, executor_for  # noqa: E402
from nl2sql_pipeline.core.export import ExportConfig, export_dataset  # noqa: E402
from nl2sql_pipeline.core.planning import plan_topics  # noqa: E402
from nl2sql_pipeline.core.predictions import PredictionRuns  # noqa: E402
from nl2sql_pipeline.core.schema.catalog import read_schema  # noqa: E402
from nl2sql_pipeline.core.synthesis import synthesize  # noqa: E402
from nl2sql_pipeline.core.training import dataset_dir as ds  # noqa: E402
from nl2sql_pipeline.core.training import llamafactory as lf  # noqa: E402
from nl2sql_pipeline.core.training import predict  # noqa: E402
from nl2sql_pipeline.core.training.recipes import load_recipe  # noqa: E402
from nl2sql_pipeline.core.training.tiny_model import build_tiny_model  # noqa: E402
from nl2sql_pipeline.core.validation import validate_samples  # noqa: E402


SCHEMA_BUDGET_TOKENS = 200  # concert_singer's whole schema just fits; sales_cn's does not (the linker chooses)


def make_dataset(database: str, budget: int, folder: Path, *, oracle_dev: bool = False) -> context_arm.Dataset:
    db = DatabaseConfig(name=database, demo=database, sample_budget=budget, language="en")
    meta = read_schema(db)
    cards = build_cards(meta)
    try:
        raw = synthesize(plan_topics(cards, budget, db.planning), meta, executor_for(db), db)
        validated = validate_samples(raw, meta, executor_for(db), dev_ratio=0.15)
    finally:
        close_executors()
    config = ExportConfig(schema_budget_tokens=SCHEMA_BUDGET_TOKENS, oracle_dev=oracle_dev)
    report = export_dataset([validated], {db.name: cards}, folder, config)
    facts = {"generated": len(raw.samples), "exported": report.files, "hardness": report.counts["hardness"],
             "linking": report.linking[db.name]}
    return context_arm.Dataset(db=db, validated=validated, cards=cards, config=config, folder=folder, facts=facts)


def train_sft(recipe, *, base: Path, folder: Path, output: Path) -> float:
    """Full fine-tuning of the tiny model on the folder's train split; returns its wall seconds."""
    config = lf.train_config(recipe, model_path=base, dataset_dir=folder,
                             datasets=ds.dataset_names(folder, "train", "alpaca"), output_dir=output)
    config["finetuning_type"] = "full"  # LoRA on a random-init base would have nothing to adapt
    started = time.perf_counter()
    lf.run_cli("train", config, output, on_progress=lambda p: print(f"  {p.describe()}", flush=True))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="concert_singer", choices=["concert_singer", "sales_cn"])
    parser.add_argument("--budget", type=int, default=400, help="samples to generate before validation")
    parser.add_argument("--epochs", type=float, default=30)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--work", type=Path, default=Path("/tmp/closed_loop"))
    grpo_arm.add_arguments(parser)
    context_arm.add_arguments(parser)
    args = parser.parse_args()
    os.environ.setdefault("NL2SQL_HOME", str(args.work / "home"))
    started = time.perf_counter()

    folder = args.work / "dataset"
    dataset = make_dataset(args.database, args.budget, folder, oracle_dev=args.context_arm)
    db, facts = dataset.db, dataset.facts
    print(f"dataset: {facts}", flush=True)
    texts = [r["input"] + "\n" + r["output"] for r in ds.read_rows(folder / "alpaca_train.jsonl")]
    base = build_tiny_model(args.work / "base", hidden_size=args.hidden, num_layers=args.layers,
                            num_heads=args.hidden // 32, vocab_size=2048, corpus=texts)

    recipe = load_recipe("qwen3_4b_lora", {
        "model_name_or_path": str(base), "bf16": False, "cutoff_len": 1024, "learning_rate": args.lr,
        "num_train_epochs": args.epochs, "per_device_train_batch_size": args.batch, "gradient_accumulation_steps": 1,
        "lr_scheduler_type": "cosine", "logging_steps": 20, "save_steps": 10**6,
        "extra_args": {"disable_gradient_checkpointing": True},  # a tiny model has memory to spare
        "generation": {"max_new_tokens": 96, "per_device_eval_batch_size": 16},
    })
    trained = args.work / "trained"
    train_s = train_sft(recipe, base=base, folder=folder, output=trained)

    dev = ds.split_samples(folder, "dev")
    runs = []
    for label, model in (("base", base), ("trained", trained)):
        lines = predict.run_prediction(recipe, model_path=model, adapter_dir=None, dataset_dir=folder,
                                       output_dir=args.work / f"predict_{label}")
        runs.append(predict.to_prediction_set(label=label, model=str(model), predictions=lines, dev_samples=dev))
    target = DatabaseTarget(url=resolve_url(db).render_as_string(hide_password=False), dialect="sqlite")
    verdicts = evaluate_runs(PredictionRuns(runs=runs), {db.name: target}, EvalOptions(workers=1))
    metrics = {label: summarize(label, v) for label, v in verdicts.items()}

    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(f"\n{args.database}: {facts['exported']}; tiny Qwen3 hidden {args.hidden} x {args.layers} layers, "
          f"full fine-tuning {args.epochs} epochs (lr {args.lr}, batch {args.batch}) in {train_s:.0f} s on {device}\n")
    print("| model | dev items | syntax valid % | executed % | execution match % | matched |\n|---|---|---|---|---|---|")
    for label, m in metrics.items():
        print(f"| {label} | {m.items} | {m.syntax_valid:.1f} | {m.exec_success:.1f} | {m.exec_match:.1f} | {m.matched} |")
    for label, v in verdicts.items():
        for item, verdict in zip(runs[0 if label == "base" else 1].items, v):
            if verdict.match and label == "trained":
                print(f"  matched: {item.question!r} -> {verdict.pred_sql}")
    grpo_facts = None
    if args.grpo_steps:
        grpo_facts = grpo_arm.run(args, recipe=recipe, folder=folder, target=target, database=db.name, base=base,
                                  trained=trained, sft_train_s=train_s)
    context_facts = None
    if args.context_arm:
        context_facts = context_arm.run(args, recipe=recipe, linked=dataset, target=target, base=base, trained=trained,
                                        train=train_sft, linked_train_s=train_s)
    out = args.work / "closed_loop.json"
    out.write_text(json.dumps({"facts": facts, "device": device, "args": {k: str(v) for k, v in vars(args).items()},
                               "train_s": train_s, "total_s": time.perf_counter() - started,
                               "metrics": {k: m.model_dump(exclude={"by_topic"}) for k, m in metrics.items()},
                               "grpo_arm": grpo_facts, "context_arm": context_facts}, indent=1, ensure_ascii=False, default=str))
    print(f"\nwrote {out}")
    rose = metrics["trained"].exec_match > metrics["base"].exec_match
    print("execution match rose above the untrained model's" if rose else "execution match did NOT rise")
    return 0 if rose else 1


if __name__ == "__main__":
    sys.exit(main())
