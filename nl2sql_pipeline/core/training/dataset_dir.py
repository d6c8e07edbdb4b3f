"""Reading an exported LLaMA-Factory dataset folder: `dataset_info.json`, the JSONL files, `samples.jsonl`.

The export step registers each file in `dataset_info.json` (LLaMA-Factory's convention: an entry
without `formatting` is Alpaca, `formatting: sharegpt` is ShareGPT). Entries are matched to a split
by name, so `sql_train_alpaca` / `sql_dev_sharegpt` style names work without further config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.fsutil import sha256_files

Split = Literal["train", "dev", "oracle"]  # oracle: dev questions over the gold tables' schema (a diagnostic)
Format = Literal["alpaca", "sharegpt"]
_SPLIT_WORDS: dict[str, tuple[str, ...]] = {"train": ("train",), "dev": ("dev", "eval", "valid", "test"),
                                             "oracle": ("oracle",)}


class DatasetError(Nl2SqlError):
    """The exported dataset folder cannot be used for training or prediction."""


def read_info(dataset_dir: Path) -> dict[str, dict]:
    path = Path(dataset_dir) / "dataset_info.json"
    if not path.exists():
        raise DatasetError(f"{path} does not exist.", "materialize the training_dataset asset (the export step) first.")
    return json.loads(path.read_text(encoding="utf-8"))


def entry_format(entry: dict) -> Format:
    return "sharegpt" if entry.get("formatting") == "sharegpt" else "alpaca"


def dataset_names(dataset_dir: Path, split: Split, fmt: Format) -> list[str]:
    """Names in `dataset_info.json` for this split and format, e.g. `["sql_train_alpaca"]`."""
    info = read_info(dataset_dir)
    words = _SPLIT_WORDS[split]
    excluded = _SPLIT_WORDS["oracle"] if split != "oracle" else ()  # `x_dev_oracle` is the diagnostic, not dev
    names = [
        name for name, entry in info.items()
        if entry_format(entry) == fmt and any(w in name.lower() for w in words)
        and not any(w in name.lower() for w in excluded)
    ]
    if not names:
        raise DatasetError(
            f"{Path(dataset_dir) / 'dataset_info.json'} registers no {fmt} dataset for the {split} split "
            f"(entries: {', '.join(info) or 'none'}).",
            f"re-export the dataset, or set dataset_format to one of the formats it has.",
        )
    return sorted(names)


def has_split(dataset_dir: Path, split: Split) -> bool:
    """Whether `dataset_info.json` registers any file for the split (in either format)."""
    return any(w in name.lower() for name in read_info(dataset_dir) for w in _SPLIT_WORDS[split])


def resolve_format(dataset_dir: Path, wanted: str) -> Format:
    """`auto` picks Alpaca when the export registers it, else ShareGPT."""
    if wanted in ("alpaca", "sharegpt"):
        return wanted  # type: ignore[return-value]
    info = read_info(dataset_dir)
    return "alpaca" if any(entry_format(e) == "alpaca" for e in info.values()) else "sharegpt"


def dataset_version(dataset_dir: Path) -> str:
    """A content digest of the files the export registered (plus dataset_info.json and samples.jsonl)."""
    info = read_info(dataset_dir)
    files = [Path(dataset_dir) / e["file_name"] for e in info.values()] + [Path(dataset_dir) / "dataset_info.json"]
    files += [p for p in [Path(dataset_dir) / "samples.jsonl"] if p.exists()]
    return sha256_files(sorted(set(files)))[:16]


def dataset_file(dataset_dir: Path, name: str) -> Path:
    return Path(dataset_dir) / read_info(dataset_dir)[name]["file_name"]


def read_rows(path: Path) -> list[dict]:
    """Rows of a JSONL file (or of a JSON array file, which LLaMA-Factory also accepts)."""
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def count_examples(dataset_dir: Path, names: list[str]) -> int:
    return sum(len(read_rows(dataset_file(dataset_dir, n))) for n in names)


def require_examples(dataset_dir: Path, names: list[str]) -> int:
    """The number of examples; an empty split is an error before any process starts."""
    n = count_examples(dataset_dir, names)
    if n == 0:
        raise DatasetError(
            f"the dataset {', '.join(names)} in {dataset_dir} has no examples.",
            "generate and validate more samples (sample_budget) before training.",
        )
    return n


def split_samples(dataset_dir: Path, split: Split) -> list[dict]:
    """The audit rows of `samples.jsonl` for one split, in export order (same order as the split's files)."""
    path = Path(dataset_dir) / "samples.jsonl"
    if not path.exists():
        raise DatasetError(f"{path} does not exist.", "re-export the dataset with the current export step.")
    return [row for row in read_rows(path) if row.get("split") == split]
