"""Summaries of verdicts: rates, breakdowns by hardness/topic/database, a before/after table.

Rates count only the headline items: those whose gold query can judge (it ran, returned rows
and is not tie-dependent; see `hygiene`). Flagged gold is listed and counted apart. Rates are
percentages, like the reference design's table. With neighbour databases, execution match is
test-suite accuracy and the one-database figure stands beside it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from nl2sql_pipeline.core.evaluation.bird import r_ves
from nl2sql_pipeline.core.evaluation.runner import ItemVerdict
from nl2sql_pipeline.core.evaluation.taxonomy import FailureExample, taxonomy
from nl2sql_pipeline.core.evaluation.textmetrics import TextScores
from nl2sql_pipeline.core.hardness import HARDNESS_LEVELS


EXAMPLES_SHOWN = 2  # failure examples per kind in tables


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
    headline: int = 0  # items whose gold can judge: the denominator of every rate
    single_db_exec_match: float = 0.0  # on the database alone (= exec_match without neighbours)
    test_suite: bool = False  # neighbour databases were used
    unsafe: int = 0  # outputs that write or define (all items)
    unsafe_rate: float = 0.0  # % of all items
    gold_flags: dict[str, int] = {}  # flagged gold per reason (kept out of the headline)
    flagged_items: list[int] = []  # indices of flagged gold items (first 200)
    soft_f1: float = 0.0  # BIRD Soft-F1, mean over the headline, 0-100
    r_ves: float = 0.0  # BIRD mini-dev R-VES over the headline
    failures: dict[str, int] = {}  # failure kind -> count (headline)
    failure_examples: dict[str, list[FailureExample]] = {}


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
    headline = [v for v in runnable if v.gold_flag is None]
    by_hardness = _buckets(headline, lambda v: v.hardness)
    single = [v.match if v.single_db_match is None else v.single_db_match for v in headline]
    failures, examples = taxonomy(headline)
    flagged = [v for v in verdicts if v.gold_flag is not None]
    unsafe = sum(v.pred_error == "unsafe" for v in verdicts)
    return RunMetrics(
        label=label,
        model=model,
        items=len(verdicts),
        executable=len(runnable),
        matched=sum(v.match for v in headline),
        syntax_valid=_pct(sum(v.syntax_ok for v in headline), len(headline)),
        exec_success=_pct(sum(v.executed for v in headline), len(headline)),
        exec_match=_pct(sum(v.match for v in headline), len(headline)),
        both_empty_matches=sum(v.both_empty for v in runnable),
        pred_errors=dict(Counter(v.pred_error for v in headline if v.pred_error)),
        by_hardness={h: by_hardness[h] for h in (*HARDNESS_LEVELS, *sorted(by_hardness)) if h in by_hardness},
        by_topic=_buckets(headline, lambda v: v.topic),
        by_database=_buckets(headline, lambda v: v.db_id),
        text=text,
        headline=len(headline),
        single_db_exec_match=_pct(sum(single), len(headline)),
        test_suite=any(v.neighbours_checked for v in verdicts),
        unsafe=unsafe,
        unsafe_rate=_pct(unsafe, len(verdicts)),
        gold_flags=dict(Counter(v.gold_flag for v in flagged if v.gold_flag)),
        flagged_items=[v.index for v in flagged][:200],
        soft_f1=100 * sum(v.soft_f1 or 0.0 for v in headline) / len(headline) if headline else 0.0,
        r_ves=r_ves([v.ves_reward or 0.0 for v in headline]),
        failures=failures,
        failure_examples=examples,
    )


def spider_table(metrics: RunMetrics) -> str:
    """Spider's evaluation.py layout: counts and execution accuracy per hardness level, then all."""
    levels = [*HARDNESS_LEVELS, "all"]
    buckets = dict(metrics.by_hardness)
    buckets["all"] = Bucket(count=metrics.headline, matched=metrics.matched)
    row = "{:20} " + " ".join(["{:20}"] * len(levels))
    lines = [
        row.format("", *levels),
        row.format("count", *[str(buckets[lv].count if lv in buckets else 0) for lv in levels]),
        "=====================   EXECUTION ACCURACY     =====================",
        row.format("execution", *[f"{buckets[lv].rate / 100:.3f}" if lv in buckets else "-" for lv in levels]),
    ]
    if metrics.test_suite:
        lines.insert(3, row.format("single database", *[f"{metrics.single_db_exec_match / 100:.3f}" if lv == "all" else ""
                                                            for lv in levels]))
    flags = ", ".join(f"{n} {flag}" for flag, n in metrics.gold_flags.items())
    notes = (f"{metrics.items - metrics.headline} of {metrics.items} items kept out of the headline: their gold "
             f"cannot judge ({flags})." if metrics.gold_flags else "")
    extra = (f"{metrics.both_empty_matches} matches have two empty results; syntax-valid {metrics.syntax_valid:.1f}%, "
             f"executed {metrics.exec_success:.1f}%; unsafe outputs {metrics.unsafe} ({metrics.unsafe_rate:.1f}%); "
             f"Soft-F1 {metrics.soft_f1:.1f}, R-VES {metrics.r_ves:.1f}.")
    return "\n".join([*lines, "", notes, extra]).replace("\n\n\n", "\n\n")


def failures_markdown(metrics: RunMetrics, limit: int = EXAMPLES_SHOWN) -> str:
    """The error taxonomy: counts per kind and the first examples of each."""
    lines = ["| failure | count | example (index, db): reason |", "|---|---:|---|"]
    for kind, count in metrics.failures.items():
        shown = "; ".join(f"#{e.index} {e.db_id}: {e.reason[:120]}" for e in metrics.failure_examples.get(kind, [])[:limit])
        lines.append(f"| {kind} | {count} | {shown.replace('|', '/')} |")
    return "\n".join(lines)


def _metric_rows(m: RunMetrics) -> list[tuple[str, float | None]]:
    rows: list[tuple[str, float | None]] = [
        ("Execution match % (test-suite)" if m.test_suite else "Execution match %", m.exec_match),
    ]
    if m.test_suite:
        rows.append(("Execution match % (single database)", m.single_db_exec_match))
    rows += [
        ("Execution success %", m.exec_success),
        ("Syntax-valid %", m.syntax_valid),
        ("Unsafe outputs %", m.unsafe_rate),
        ("Soft-F1 (BIRD)", m.soft_f1),
        ("R-VES (BIRD)", m.r_ves),
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
    lines.append(f"\n{after.headline} of {after.items} items in the headline ({after.items - after.headline} with gold "
                 f"that cannot judge); both-empty matches: {before.both_empty_matches} before, {after.both_empty_matches} after.")
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


def trust_markdown(runs: Sequence[RunMetrics]) -> str:
    """Per run: test-suite and single-database EX, unsafe outputs, and the gold kept out."""
    lines = ["| run | EX test-suite % | EX single database % | unsafe outputs % | headline items | gold kept out |",
             "|---|---:|---:|---:|---:|---|"]
    for m in runs:
        flags = ", ".join(f"{n} {flag}" for flag, n in m.gold_flags.items()) or "none"
        suite = _cell(m.exec_match) if m.test_suite else "n/a"
        lines.append(f"| {m.label} | {suite} | {_cell(m.single_db_exec_match)} | {_cell(m.unsafe_rate)} | "
                     f"{m.headline} of {m.items} | {flags} |")
    return "\n".join(lines)
