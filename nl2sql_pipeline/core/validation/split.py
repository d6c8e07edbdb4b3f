"""A train/dev split in which no SQL template appears on both sides (no leakage by shape)."""

from __future__ import annotations

import hashlib
from collections import defaultdict


def split_by_template(templates: list[str], *, dev_ratio: float = 0.1, seed: int = 0,
                      train_only: list[bool] | None = None) -> list[str]:
    """'train' or 'dev' per item; whole template groups move together.

    Groups are visited in a seeded hash order and go to dev until it holds `dev_ratio` of the
    items, so the split is deterministic and independent of input order. A group holding a
    `train_only` item (a pair a user vouched for, which may become a golden-set item) stays in train.

    >>> split_by_template(["a", "a", "b", "c"], dev_ratio=0.25)
    ['train', 'train', 'train', 'dev']
    """
    if not templates:
        return []
    groups: dict[str, list[int]] = defaultdict(list)
    for i, template in enumerate(templates):
        groups[template].append(i)
    target = round(len(templates) * dev_ratio)
    pinned = {templates[i] for i, only in enumerate(train_only or []) if only}
    order = sorted((t for t in groups if t not in pinned), key=lambda t: hashlib.sha256(f"{seed}\x00{t}".encode()).hexdigest())
    labels = ["train"] * len(templates)
    dev = 0
    for template in order:
        members = groups[template]
        if dev >= target:
            break
        if dev + len(members) > target and dev > 0 and len(groups) > 1:
            continue  # a big group would overshoot: try smaller ones first
        for i in members:
            labels[i] = "dev"
        dev += len(members)
    if order and dev == len(templates) and len(groups) > 1:  # never an empty train side
        first = order[0]
        for i in groups[first]:
            labels[i] = "train"
    return labels
