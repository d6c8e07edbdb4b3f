"""PEFT backend (the DeepSeek-Coder branch): one transformers Trainer + a peft LoRA for all epochs.

Differences from the public implementation this branch follows: the loss covers the response tokens
only (the prompt's labels are -100; that implementation trained on the prompt too), every response
ends in EOS so the model learns to stop, and early stopping watches the dev split's loss.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nl2sql_pipeline.core.training import dataset_dir as ds
from nl2sql_pipeline.core.training.llamafactory import OnProgress
from nl2sql_pipeline.core.training.recipes import PeftRecipe, check_runnable
from nl2sql_pipeline.core.training.results import AdapterResult, LossPoint, Progress, TrainingError

IGNORE = -100
ALPACA_PROMPT = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"


def to_messages(row: dict) -> list[dict]:
    """An Alpaca or ShareGPT row as chat messages ending with the assistant's answer."""
    if "messages" in row or "conversations" in row:
        turns = row.get("messages") or row.get("conversations") or []
        role_map = {"human": "user", "gpt": "assistant"}
        msgs = [{"role": role_map.get(t.get("role", t.get("from")), t.get("role", t.get("from"))),
                 "content": t.get("content", t.get("value", ""))} for t in turns]
    elif "instruction" in row and "output" in row:
        user = "\n".join(x for x in (row.get("instruction", ""), row.get("input", "")) if x)
        msgs = [{"role": "system", "content": row["system"]}] if row.get("system") else []
        msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]
    else:
        raise TrainingError(f"a dataset row is neither Alpaca nor ShareGPT (keys: {sorted(row)}).",
                            "re-export the dataset; set dataset_format explicitly if the detection is wrong.")
    if not msgs or msgs[-1]["role"] != "assistant":
        raise TrainingError("a ShareGPT row does not end with an assistant turn.", "re-export the dataset.")
    return msgs


def encode(tokenizer, messages: list[dict], cutoff_len: int) -> dict[str, list[int]] | None:
    """Token ids with labels on the answer (+ EOS) only; None when the prompt alone exceeds cutoff_len."""
    if tokenizer.chat_template:
        prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    else:
        user = "\n".join(m["content"] for m in messages[:-1])
        prompt = (tokenizer.bos_token or "") + ALPACA_PROMPT.format(instruction=user, input="")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if len(prompt_ids) >= cutoff_len:
        return None
    answer_ids = answer_ids[: cutoff_len - len(prompt_ids)]
    return {"input_ids": prompt_ids + answer_ids, "labels": [IGNORE] * len(prompt_ids) + answer_ids}


def load_examples(tokenizer, dataset_dir: Path, split: str, fmt: str, cutoff_len: int) -> tuple[list[dict], int]:
    """Encoded examples of a split and how many rows were too long to keep."""
    rows = [row for name in ds.dataset_names(dataset_dir, split, fmt)
            for row in ds.read_rows(ds.dataset_file(dataset_dir, name))]
    encoded = [encode(tokenizer, to_messages(row), cutoff_len) for row in rows]
    kept = [e for e in encoded if e is not None]
    if not kept:
        raise ds.DatasetError(f"the {split} split in {dataset_dir} has no usable examples ({len(rows)} rows).",
                              "export more samples, or raise cutoff_len if the prompts are longer than it.")
    return kept, len(encoded) - len(kept)


class _Collator:
    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        width = max(len(b["input_ids"]) for b in batch)

        def pad(key: str, value: int) -> torch.Tensor:
            return torch.tensor([b[key] + [value] * (width - len(b[key])) for b in batch])

        ids = pad("input_ids", self.pad_id)
        mask = torch.tensor([[1] * len(b["input_ids"]) + [0] * (width - len(b["input_ids"])) for b in batch])
        return {"input_ids": ids, "attention_mask": mask, "labels": pad("labels", IGNORE)}


def train(recipe: PeftRecipe, *, recipe_name: str, model_path: Path, dataset_dir: Path, output_dir: Path,
          on_progress: OnProgress | None = None, cuda: bool | None = None) -> AdapterResult:
    """Train a LoRA adapter with early stopping on the dev loss; `save_pretrained` it to `output_dir`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, EarlyStoppingCallback, Trainer,
                              TrainerCallback, TrainingArguments)

    check_runnable(recipe, cuda=cuda)
    fmt = ds.resolve_format(dataset_dir, recipe.dataset_format)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.eos_token_id is None:
        raise TrainingError(f"the tokenizer of {model_path} has no EOS token.", "use a model whose tokenizer defines one.")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train_set, dropped = load_examples(tokenizer, dataset_dir, "train", fmt, recipe.cutoff_len)
    eval_set, _ = load_examples(tokenizer, dataset_dir, "dev", fmt, recipe.cutoff_len)

    torch.manual_seed(recipe.seed)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.bfloat16 if recipe.bf16 else torch.float32)
    model = get_peft_model(model, LoraConfig(
        r=recipe.lora_rank, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
        target_modules=list(recipe.target_modules), task_type="CAUSAL_LM",
    ))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())

    class _Report(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 - Trainer's signature
            if on_progress and logs and "loss" in logs:
                on_progress(Progress(step=state.global_step, total=state.max_steps, loss=logs["loss"],
                                     learning_rate=logs.get("learning_rate"), epoch=logs.get("epoch")))

    output_dir = Path(output_dir)
    checkpoints = output_dir / "checkpoints"
    args = TrainingArguments(
        output_dir=str(checkpoints), num_train_epochs=recipe.num_train_epochs, max_steps=recipe.max_steps or -1,
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        per_device_eval_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps, learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler_type, warmup_steps=recipe.warmup_ratio, bf16=recipe.bf16,
        logging_steps=recipe.logging_steps, eval_strategy="steps", eval_steps=recipe.eval_steps,
        save_strategy="steps", save_steps=recipe.eval_steps, save_total_limit=2, load_best_model_at_end=True,
        metric_for_best_model="eval_loss", greater_is_better=False, report_to=[], seed=recipe.seed,
        remove_unused_columns=False, disable_tqdm=True, use_cpu=not (cuda if cuda is not None else torch.cuda.is_available()),
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=train_set, eval_dataset=eval_set, data_collator=_Collator(pad_id),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=recipe.early_stopping_patience), _Report()],
    )
    trainer.train()
    model.save_pretrained(output_dir)  # the best checkpoint's weights (load_best_model_at_end)
    tokenizer.save_pretrained(output_dir)
    shutil.rmtree(checkpoints, ignore_errors=True)

    state = trainer.state
    losses = [LossPoint(step=h["step"], loss=h["loss"], learning_rate=h.get("learning_rate"), epoch=h.get("epoch"))
              for h in state.log_history if "loss" in h]
    evals = [LossPoint(step=h["step"], loss=h["eval_loss"], epoch=h.get("epoch"))
             for h in state.log_history if "eval_loss" in h]
    notes = [f"{dropped} training rows longer than cutoff_len={recipe.cutoff_len} were left out"] if dropped else []
    return AdapterResult(
        adapter_dir=str(output_dir), base_model=str(model_path), backend="peft", recipe=recipe_name,
        dataset_dir=str(dataset_dir), dataset_version=ds.dataset_version(dataset_dir),
        datasets=ds.dataset_names(dataset_dir, "train", fmt), num_examples=len(train_set),
        losses=losses, eval_losses=evals, final_loss=losses[-1].loss if losses else None,
        best_loss=state.best_metric, trainable_params=trainable, all_params=total, global_step=state.global_step,
        stopped_early=state.global_step < state.max_steps, notes=notes,
    )
