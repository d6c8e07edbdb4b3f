"""The closed loop's context arm: trained on linked-context vs on oracle-context prompts (issue 16).

The same validated pairs are exported twice through the one prompt builder: once as every export
does (`schema_context: linked`; a training prompt adds any gold table the linker missed) and once
with `schema_context: oracle` (the gold SQL's tables plus FK neighbours, what every prompt showed
before the linker existed). Both models start from the same base (weights and tokenizer) and train
with the same recipe, seed and steps on the same pairs in the same order, so the schema shown is
the only difference. Both are scored on the linked-context dev prompts, what a user's question
gets (the headline), and on the oracle-context dev prompts (the diagnostic an oracle evaluation
would have reported). Besides execution match, the table shows how many predictions read exactly
the gold tables, how many tables they read, and how often the first table they read is the first
one the prompt shows: oracle prompts list the gold tables first, a cue no deployed prompt gives.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nl2sql_pipeline.core.cards import TableCards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.evaluation.report import summarize
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, ItemVerdict, evaluate_runs
from nl2sql_pipeline.core.export import ExportConfig, export_dataset
from nl2sql_pipeline.core.linking import SchemaIndex, build_index
from nl2sql_pipeline.core.linking.measure import gold_tables
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.core.training import dataset_dir as ds
from nl2sql_pipeline.core.training import predict
from nl2sql_pipeline.core.training.recipes import LlamaFactoryRecipe
from nl2sql_pipeline.core.validation import ValidatedSamples

DEV_PROMPTS = {"dev": "linked (headline)", "oracle": "oracle (diagnostic)"}


@dataclass
class Dataset:
    """One export of the closed loop's pairs and what made it (so the arm can export them again)."""

    db: DatabaseConfig
    validated: ValidatedSamples
    cards: TableCards
    config: ExportConfig
    folder: Path
    facts: dict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--context-arm", action="store_true",
                        help="also train on oracle-context prompts; score both models on linked-context dev prompts")


def export_oracle(linked: Dataset, folder: Path) -> dict:
    """The same pairs with oracle-context prompts; returns the export's linking summary."""
    config = linked.config.model_copy(update={"schema_context": {linked.db.name: "oracle"}, "oracle_dev": False})
    return export_dataset([linked.validated], {linked.db.name: linked.cards}, folder, config).linking[linked.db.name]


def question_of(prompt_input: str) -> str:
    return prompt_input.rsplit("\nQuestion: ", 1)[-1]


def require_same_pairs(linked: Path, oracle: Path) -> int:
    """Both training files hold the same questions and answers in the same order (else the arms
    would differ in more than the schema); returns the number of training rows."""
    a, b = (ds.read_rows(f / "alpaca_train.jsonl") for f in (linked, oracle))
    pairs = [[(question_of(r["input"]), r["output"], r["instruction"], r["system"]) for r in rows] for rows in (a, b)]
    if pairs[0] != pairs[1]:
        raise SystemExit(f"{linked} and {oracle} train on different pairs: the context arm would compare more than the schema")
    return len(a)


FIRST_TABLE = re.compile(r'CREATE TABLE "?([^\s"(]+)')


def tables_read(verdicts: list[ItemVerdict], dev: list[dict], prompts: list[str], index: SchemaIndex) -> dict[str, float]:
    """Shares of predictions that read exactly the gold tables and whose first table read is the
    prompt's first table, and mean tables read by the syntax-valid predictions (next to the gold's)."""
    exact, first, counts = 0, 0, []
    for verdict in verdicts:
        gold = {t.lower() for t in dev[verdict.index]["tables"]}
        read = (gold_tables(verdict.pred_sql, index) or []) if verdict.syntax_ok else []  # in first-use order
        exact += bool(read) and {t.lower() for t in read} == gold
        shown = FIRST_TABLE.search(prompts[verdict.index])
        first += bool(read and shown) and read[0].lower() == shown.group(1).lower()
        if verdict.syntax_ok:
            counts.append(len(read))
    n = max(1, len(verdicts))
    return {"exact_tables": 100 * exact / n, "first_table_shown": 100 * first / n,
            "mean_tables_read": sum(counts) / len(counts) if counts else 0.0,
            "gold_mean_tables": sum(len(d["tables"]) for d in dev) / max(1, len(dev))}


def score(work: Path, linked: Dataset, target: DatabaseTarget) -> dict[str, dict]:
    """Evaluate the four prediction files (`predict_<trained on>_on_<dev prompts>` in `work`)."""
    dev = ds.split_samples(linked.folder, "dev")
    runs, prompts = [], {}
    for context in ("linked", "oracle"):
        for split in DEV_PROMPTS:
            lines = work / f"predict_{context}_on_{split}" / predict.PREDICTIONS_FILE
            runs.append(predict.to_prediction_set(label=f"{context}|{split}", model=context, predictions=lines,
                                                  dev_samples=dev))
            prompts[split] = [r["input"] for r in ds.read_rows(linked.folder / f"alpaca_{split}.jsonl")]
    verdicts = evaluate_runs(PredictionRuns(runs=runs), {linked.db.name: target}, EvalOptions(workers=1))
    index = build_index(linked.cards)
    results = {}
    for label, v in verdicts.items():
        m = summarize(label, v)
        results[label] = {"items": m.items, "syntax_valid": m.syntax_valid, "exec_success": m.exec_success,
                          "exec_match": m.exec_match, "matched": m.matched,
                          **tables_read(v, dev, prompts[label.split("|")[1]], index)}
    return results


def run(args: argparse.Namespace, *, recipe: LlamaFactoryRecipe, linked: Dataset, target: DatabaseTarget, base: Path,
        trained: Path, train: Callable[..., float], linked_train_s: float) -> dict:
    oracle_folder = args.work / "dataset_oracle"
    oracle_linking = export_oracle(linked, oracle_folder)
    rows = require_same_pairs(linked.folder, oracle_folder)
    print(f"\ncontext arm: {rows} training pairs with oracle-context prompts, same base, recipe and seed", flush=True)
    oracle_trained = args.work / "trained_oracle"
    oracle_train_s = train(recipe, base=base, folder=oracle_folder, output=oracle_trained)

    models = {"linked": trained, "oracle": oracle_trained}
    for context, model in models.items():
        for split in DEV_PROMPTS:
            predict.run_prediction(recipe, model_path=model, adapter_dir=None, dataset_dir=linked.folder,
                                   output_dir=args.work / f"predict_{context}_on_{split}", split=split)
    results = score(args.work, linked, target)
    dev = ds.split_samples(linked.folder, "dev")
    train_linking = {"linked": linked.facts["linking"]["train"], "oracle": oracle_linking["train"]}
    seconds = {"linked": linked_train_s, "oracle": oracle_train_s}
    dev_linking = linked.facts["linking"]["dev"]
    print(f"\n{args.database}: {rows} train / {len(dev)} dev pairs; linked dev prompts: gold recall "
          f"{dev_linking['gold_recall']:.1%}, mean {dev_linking['mean_tables']} tables, {dev_linking['mean_tokens']} tokens; "
          f"gold queries read {results['linked|dev']['gold_mean_tables']:.2f} tables on average\n")
    print("| trained on | train prompts: mean tables / tokens | training s | dev prompts | syntax valid % | executed % "
          "| execution match % | matched | reads exactly the gold tables % | first table read is the first shown % "
          "| mean tables read |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for context in models:
        t = train_linking[context]
        for split, name in DEV_PROMPTS.items():
            r = results[f"{context}|{split}"]
            print(f"| {context} context | {t['mean_tables']} / {t['mean_tokens']} | {seconds[context]:.0f} | {name} | "
                  f"{r['syntax_valid']:.1f} | {r['exec_success']:.1f} | {r['exec_match']:.1f} | {r['matched']}/{r['items']} | "
                  f"{r['exact_tables']:.1f} | {r['first_table_shown']:.1f} | {r['mean_tables_read']:.2f} |")
    return {"train_rows": rows, "train_linking": train_linking, "dev_linking": dev_linking, "train_s": seconds,
            "results": results}
