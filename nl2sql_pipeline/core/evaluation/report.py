"""Summaries of verdicts: rates, breakdowns by hardness/topic/database, a before/after table.

Rates count only executable items (those whose gold query ran: an item whose gold fails says
nothing about the model); they are percentages, like the reference design's table.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from nl2sql_pipeline.core.evaluation.runner import ItemVerdict
from nl2sql_pipeline.core.evaluation.textmetrics import TextScores
from nl2sql_pipeline.core.hardness import HARDNESS_LEVELS


class Bucket(BaseModel):
    count: int  # executable items
    matched: int

    @property
    def rate(self) -> float:
        return 100 * self.matched / self.count if self.count else 0.0


class RunMetrics(BaseModel):
    label: str
    model: str = ""
    items: int
    executable: int
    matched: int
    syntax_valid: float
    exec_success: float
    exec_match: float
    both_empty_matches: int  # matches where both results were empty (weak evidence)
    pred_errors: dict[str, int]
    by_hardness: dict[str, Bucket]
    by_topic: dict[str, Bucket]
    by_database: dict[str, Bucket]
    text: TextScores | None = None


def _pct(part: int, whole: int) -> float:
    return 100 * part / whole if whole else 0.0


def _buckets(verdicts: Sequence[ItemVerdict], key: Callable[[ItemVerdict], str | None]) -> dict[str, Bucket]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in verdicts:
        name = key(v)
        if name is not None:
            counts[name][0] += 1
            counts[name][1] += v.match
    return {name: Bucket(count=c, matched=m) for name, (c, m) in sorted(counts.items())}


def summarize(label: str, verdicts: Sequence[ItemVerdict], *, model: str = "", text: TextScores | None = None) -> RunMetrics:
    runnable = [v for v in verdicts if v.executable]
    by_hardness = _buckets(runnable, lambda v: v.hardness)
    return RunMetrics(
        label=label,
        model=model,
        items=len(verdicts),
        executable=len(runnable),
        matched=sum(v.match for v in runnable),
        syntax_valid=_pct(sum(v.syntax_ok for v in runnable), len(runnable)),
        exec_success=_pct(sum(v.executed for v in runnable), len(runnable)),
        exec_match=_pct(sum(v.match for v in runnable), len(runnable)),
        both_empty_matches=sum(v.both_empty for v in runnable),
        pred_errors=dict(Counter(v.pred_error for v in runnable if v.pred_error)),
        by_hardness={h: by_hardness[h] for h in (*HARDNESS_LEVELS, *sorted(by_hardness)) if h in by_hardness},
        by_topic=_buckets(runnable, lambda v: v.topic),
        by_database=_buckets(runnable, lambda v: v.db_id),
        text=text,
    )


def spider_table(metrics: RunMetrics) -> str:
    """Spider's evaluation.py layout: counts and execution accuracy per hardness level, then all."""
    levels = [*HARDNESS_LEVELS, "all"]
    buckets = dict(metrics.by_hardness)
    buckets["all"] = Bucket(count=metrics.executable, matched=metrics.matched)
    row = "{:20} " + " ".join(["{:20}"] * len(levels))
    lines = [
        row.format("", *levels),
        row.format("count", *[str(buckets[lv].count if lv in buckets else 0) for lv in levels]),
        "=====================   EXECUTION ACCURACY     =====================",
        row.format("execution", *[f"{buckets[lv].rate / 100:.3f}" if lv in buckets else "-" for lv in levels]),
    ]
    notes = f"{metrics.items - metrics.executable} of {metrics.items} items skipped: their gold query fails."
    extra = f"{metrics.both_empty_matches} matches have two empty results; syntax-valid {metrics.syntax_valid:.1f}%, executed {metrics.exec_success:.1f}%."
    return "\n".join([*lines, "", notes if metrics.items != metrics.executable else "", extra]).replace("\n\n\n", "\n\n")


def _metric_rows(m: RunMetrics) -> list[tuple[str, float | None]]:
    rows: list[tuple[str, float | None]] = [
        ("Execution match %", m.exec_match),
        ("Execution success %", m.exec_success),
        ("Syntax-valid %", m.syntax_valid),
    ]
    rows += [(f"Execution match % ({h})", b.rate) for h, b in m.by_hardness.items()]
    t = m.text
    if t is not None:
        rows += [
            ("Exact match %", 100 * t.exact_match),
            ("Token F1 %", 100 * t.token_f1),
            ("BLEU-4 (LLaMA-Factory)", t.lf_bleu4),
            ("ROUGE-1 (LLaMA-Factory)", t.lf_rouge1),
            ("ROUGE-2 (LLaMA-Factory)", t.lf_rouge2),
            ("ROUGE-L (LLaMA-Factory)", t.lf_rougeL),
            ("BLEU-4 (sacrebleu)", t.sacrebleu_bleu4),
            ("ROUGE-1 (rouge-score)", t.rouge_score_rouge1),
            ("ROUGE-2 (rouge-score)", t.rouge_score_rouge2),
            ("ROUGE-L (rouge-score)", t.rouge_score_rougeL),
        ]
    return rows


def _delta(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "n/a"
    diff = after - before
    relative = f" ({diff / before:+.0%})" if before else ""
    return f"{diff:+.2f}{relative}"


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def before_after_markdown(before: RunMetrics, after: RunMetrics) -> str:
    """| Metric | Before | After | Δ | — the reference design's table, execution match first."""
    after_rows = dict(_metric_rows(after))
    lines = [
        f"| Metric | Before ({before.label}) | After ({after.label}) | Δ |",
        "|---|---:|---:|---:|",
    ]
    for name, value in _metric_rows(before):
        if name in after_rows:
            lines.append(f"| {name} | {_cell(value)} | {_cell(after_rows[name])} | {_delta(value, after_rows[name])} |")
    lines.append(f"\n{after.executable} executable of {after.items} items; both-empty matches: "
                 f"{before.both_empty_matches} before, {after.both_empty_matches} after.")
    return "\n".join(lines)


def breakdown_markdown(runs: Sequence[RunMetrics], attribute: str = "by_database") -> str:
    """Execution match % per bucket (hardness, topic or database), one column per run."""
    names = sorted({name for m in runs for name in getattr(m, attribute)})
    lines = [
        "| " + attribute.removeprefix("by_") + " | n | " + " | ".join(m.label for m in runs) + " |",
        "|---|---:|" + "---:|" * len(runs),
    ]
    for name in names:
        buckets = [getattr(m, attribute).get(name) for m in runs]
        count = next((b.count for b in buckets if b), 0)
        lines.append(f"| {name} | {count} | " + " | ".join(_cell(b.rate if b else None) for b in buckets) + " |")
    return "\n".join(lines)
