"""BIRD mini-dev's Soft-F1 and R-VES, as its evaluation_f1.py / evaluation_ves.py compute them.

Soft-F1 (per item, 0-1): both results de-duplicated keeping first occurrences; the i-th gold row
is paired with the i-th predicted row; in a pair, a predicted value found anywhere in the gold
row is a true positive, one that is not a false positive, a gold value missing from the
predicted row a false negative (each over the gold row's width); unpaired gold rows count as
one false negative, unpaired predicted rows as one false positive. Two empty results score 1.
So column order does not matter and a missing column costs only its share.

R-VES (per item): for a correct prediction, the gold/predicted time ratio over repeated
timings (outliers beyond 3 standard deviations dropped, then the mean) maps to a reward of
1.25 (ratio >= 2), 1 (>= 1), 0.75 (>= 0.5), 0.5 (>= 0.25) or 0.25; a wrong one gets 0. The
score is the mean of sqrt(reward) * 100 over items.

>>> soft_f1([(1, "a")], [("a", 1)])
1.0
>>> r_ves([1.25, 0.0])
55.90169943749474
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import fmean, pstdev
from typing import Any

Row = Sequence[Any]


def _row_match(pred: Row, gold: Row) -> tuple[float, float, float]:
    width = len(gold)
    if not width:
        return 0.0, float(len(pred) > 0), 0.0
    matches = sum(value in gold for value in pred)
    pred_only = len(pred) - matches
    gold_only = sum(value not in pred for value in gold)
    return matches / width, pred_only / width, gold_only / width


def soft_f1(pred: Sequence[Row], gold: Sequence[Row]) -> float:
    """BIRD's Soft-F1 of one item's predicted rows against the gold rows (0-1)."""
    if not pred and not gold:
        return 1.0
    if len(pred) == len(gold) and all(tuple(p) == tuple(g) for p, g in zip(pred, gold)) and len(set(map(tuple, gold))) == len(gold):
        return 1.0  # the same distinct rows in the same order: every pair matches in full
    pred_rows = list(dict.fromkeys(tuple(r) for r in pred))
    gold_rows = list(dict.fromkeys(tuple(r) for r in gold))
    tp = fp = fn = 0.0
    for i, gold_row in enumerate(gold_rows):
        if i >= len(pred_rows):
            fn += 1
            continue
        if pred_rows[i] == gold_row:  # every value found, none missing: the common pair, no scan
            tp += 1.0 if gold_row else 0.0
            continue
        match, pred_only, gold_only = _row_match(pred_rows[i], gold_row)
        tp, fp, fn = tp + match, fp + pred_only, fn + gold_only
    fp += max(0, len(pred_rows) - len(gold_rows))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def time_ratio(gold_times: Sequence[float], pred_times: Sequence[float]) -> float:
    """Mean of the per-repetition gold/predicted time ratios, outliers (3 sigma) dropped."""
    ratios = [g / p for g, p in zip(gold_times, pred_times) if p > 0]
    if len(ratios) < 2:  # one timing (the default): nothing to clean
        return ratios[0] if ratios else 0.0
    mean, spread = fmean(ratios), pstdev(ratios)
    kept = [r for r in ratios if mean - 3 * spread < r < mean + 3 * spread] or ratios  # all equal: keep all
    return fmean(kept)


def ves_reward(ratio: float, correct: bool) -> float:
    """BIRD mini-dev's reward for one item."""
    if not correct or ratio == 0:
        return 0.0
    if ratio >= 2:
        return 1.25
    if ratio >= 1:
        return 1.0
    if ratio >= 0.5:
        return 0.75
    if ratio >= 0.25:
        return 0.5
    return 0.25


def r_ves(rewards: Sequence[float]) -> float:
    """The R-VES score (0-~112) over per-item rewards."""
    return sum(math.sqrt(r) * 100 for r in rewards) / len(rewards) if rewards else 0.0
