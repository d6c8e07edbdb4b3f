"""Dev-split predictions before and after GRPO, and their execution match.

All runs ("base", "adapter" = the fine-tuned start, "grpo") decode the same dev prompts the same
way (greedy, `eval_max_new_tokens`), so their difference is the models', not the decoding's. The
prompts are built as in training (`grpo.split_prompts`); the verdicts are the evaluation's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nl2sql_pipeline.core.evaluation.report import summarize
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_runs
from nl2sql_pipeline.core.predictions import PredictionItem, PredictionRuns, PredictionSet
from nl2sql_pipeline.core.training.grpo import RlAdapterResult, load_policy, load_start_model, split_prompts
from nl2sql_pipeline.core.training.grpo_recipe import GrpoRecipe


def generate(model: Any, tokenizer: Any, prompts: list[list[dict]], *, max_new_tokens: int, batch_size: int) -> list[str]:
    """Greedy completions of chat prompts, batched with left padding."""
    import torch

    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = next(model.parameters()).device
    outputs: list[str] = []
    for start in range(0, len(prompts), batch_size):
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                 for p in prompts[start : start + batch_size]]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        outputs += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return outputs


def _prediction_set(label: str, model_name: str, outputs: list[str], dev: list[dict]) -> PredictionSet:
    items = [PredictionItem(index=i, database=row["database"], question=row["question"], gold_sql=row["gold_sql"],
                            output=out, hardness=row.get("hardness"), topic=row.get("topic"))
             for i, (row, out) in enumerate(zip(dev, outputs, strict=True))]
    return PredictionSet(label=label, model=model_name, source="transformers:greedy", items=items)


def dev_predictions(result: RlAdapterResult, recipe: GrpoRecipe, dataset_dir: Path) -> PredictionRuns:
    """"base" (when `predict_base`), "adapter" (the fine-tuned start, when GRPO started from one) and "grpo"."""
    from transformers import AutoTokenizer

    dev = split_prompts(dataset_dir, "dev", recipe.dataset_format)
    prompts = [row["prompt"] for row in dev]
    tokenizer = AutoTokenizer.from_pretrained(result.base_model)
    models: list[tuple[str, str, Any]] = []
    if recipe.predict_base:
        models.append(("base", result.base_model, lambda: load_start_model(Path(result.base_model), None, bf16=recipe.bf16)))
    if result.start_adapter:
        models.append(("adapter", result.start_adapter,
                       lambda: load_start_model(Path(result.base_model), Path(result.start_adapter), bf16=recipe.bf16)))
    models.append(("grpo", result.adapter_dir, lambda: load_policy(result, bf16=recipe.bf16)))
    runs = []
    for label, name, load in models:
        model = _to_device(load())
        outputs = generate(model, tokenizer, prompts, max_new_tokens=recipe.eval_max_new_tokens,
                           batch_size=recipe.eval_batch_size)
        runs.append(_prediction_set(label, name, outputs, dev))
        del model
    return PredictionRuns(runs=runs)


def _to_device(model: Any) -> Any:
    import torch

    return model.to("cuda").eval() if torch.cuda.is_available() else model.eval()


def execution_match(runs: PredictionRuns, targets: Mapping[str, DatabaseTarget], recipe: GrpoRecipe) -> dict[str, float]:
    """Execution match (%) per run label, judged by the evaluation with the reward's semantics."""
    options = EvalOptions(semantics=recipe.reward.semantics, strip_distinct=recipe.reward.strip_distinct,
                          timeout_s=recipe.reward.timeout_s, workers=1)
    verdicts = evaluate_runs(runs, targets, options)
    return {label: round(summarize(label, v).exec_match, 2) for label, v in verdicts.items()}
