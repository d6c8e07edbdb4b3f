"""A bar chart of the before/after metrics (PNG), for the eval_metrics asset and reports: the
rates on top, the failure taxonomy (counts per kind and run) below."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nl2sql_pipeline.core.evaluation.report import RunMetrics
from nl2sql_pipeline.core.evaluation.taxonomy import FAILURE_KINDS
from nl2sql_pipeline.core.fsutil import atomic_write


def _bars(m: RunMetrics) -> dict[str, float]:
    bars = {"exec match %": m.exec_match}
    if m.test_suite:
        bars["exec match % (1 db)"] = m.single_db_exec_match
    bars |= {"exec success %": m.exec_success, "syntax-valid %": m.syntax_valid, "Soft-F1": m.soft_f1,
             "unsafe %": m.unsafe_rate}
    if m.text is not None:
        bars["exact match %"] = 100 * m.text.exact_match
        if m.text.lf_bleu4 is not None and m.text.lf_rougeL is not None:
            bars["BLEU-4 (LF)"] = m.text.lf_bleu4
            bars["ROUGE-L (LF)"] = m.text.lf_rougeL
    return bars


def metrics_chart(runs: Sequence[RunMetrics], path: Path, title: str = "Evaluation: base vs adapter") -> Path:
    """Grouped bars, one group per metric and one bar per run; written atomically to `path`."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in Dagster run workers
    import matplotlib.pyplot as plt

    per_run = [_bars(m) for m in runs]
    names = [n for n in per_run[0] if all(n in b for b in per_run)] if per_run else []
    kinds = [k for k in FAILURE_KINDS if any(m.failures.get(k) for m in runs)]
    width = 0.8 / max(len(runs), 1)
    fig, (ax, low) = plt.subplots(2, 1, figsize=(max(7, 1.3 * max(len(names), len(kinds))), 7), dpi=100)
    for i, (m, bars) in enumerate(zip(runs, per_run)):
        xs = [x + i * width for x in range(len(names))]
        drawn = ax.bar(xs, [bars[n] for n in names], width, label=m.label)
        ax.bar_label(drawn, fmt="%.1f", fontsize=7)
        counted = low.bar([x + i * width for x in range(len(kinds))], [m.failures.get(k, 0) for k in kinds], width, label=m.label)
        low.bar_label(counted, fontsize=7)
    ax.set_xticks([x + width * (len(runs) - 1) / 2 for x in range(len(names))], names, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize=8)
    low.set_xticks([x + width * (len(runs) - 1) / 2 for x in range(len(kinds))], [k.replace("_", " ") for k in kinds], fontsize=8)
    low.set_title("failures by kind (headline items)", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path
