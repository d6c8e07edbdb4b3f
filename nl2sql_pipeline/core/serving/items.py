"""The dev split as chat prompts, exactly as the model saw its training prompts.

`samples.jsonl` gives each dev pair's database, gold SQL, hardness and topic; the exported dev
file (ShareGPT, else Alpaca) gives the prompt, row for row in the same order.
"""

from __future__ import annotations

from pathlib import Path

from nl2sql_pipeline.core.serving.check import ProbeItem
from nl2sql_pipeline.core.training.dataset_dir import (
    DatasetError,
    dataset_file,
    dataset_names,
    read_rows,
    split_samples,
)


def _messages(row: dict) -> list[dict[str, str]]:
    """The prompt part of an exported row: ShareGPT messages up to the answer, or Alpaca fields."""
    if "messages" in row:
        messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        while messages and messages[-1]["role"] == "assistant":
            messages.pop()
        return messages
    user = "\n".join(part for part in (row.get("instruction", ""), row.get("input", "")) if part)
    system = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    return [*system, {"role": "user", "content": user}]


def dev_prompts(dataset_dir: Path) -> list[list[dict[str, str]]]:
    for fmt in ("sharegpt", "alpaca"):
        try:
            names = dataset_names(dataset_dir, "dev", fmt)  # type: ignore[arg-type]
        except DatasetError:
            continue
        return [_messages(row) for name in names for row in read_rows(dataset_file(dataset_dir, name))]
    raise DatasetError(f"{dataset_dir}/dataset_info.json registers no dev split.",
                       "re-export the dataset (the training_dataset asset) with a dev split.")


def dev_probe_items(dataset_dir: Path, limit: int = 0) -> list[ProbeItem]:
    """The first `limit` dev pairs (all with 0) with their prompts."""
    rows = split_samples(dataset_dir, "dev")
    prompts = dev_prompts(dataset_dir)
    if len(prompts) != len(rows):
        raise DatasetError(
            f"{dataset_dir}: samples.jsonl has {len(rows)} dev rows but the dev prompt files hold {len(prompts)}.",
            "re-export the dataset: the audit file and the split files come from one export run.",
        )
    items = [
        ProbeItem(index=i, database=row["database"], question=row["question"], gold_sql=row["sql"],
                  messages=messages, hardness=row.get("hardness"), topic=row.get("topic"))
        for i, (row, messages) in enumerate(zip(rows, prompts))
    ]
    return items[:limit] if limit else items
