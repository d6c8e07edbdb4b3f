"""How well linking did on a set of prompts: gold-table recall, precision, tables and tokens shown.

Recall here is strict (a prompt counts only when it shows every table the gold SQL reads), the
share a model can possibly answer. Training prompts are scored on what the linker chose before
missed gold tables were added, and the additions are counted: the miss rate is reported, not hidden.
"""

from __future__ import annotations

from pydantic import BaseModel

from nl2sql_pipeline.core.linking.linker import LinkedSchema


class GoldMatch(BaseModel):
    recalled: bool  # every gold table chosen
    table_recall: float
    precision: float


def gold_match(chosen: list[str], gold: list[str]) -> GoldMatch:
    picked = {t.lower() for t in chosen}
    wanted = {t.lower() for t in gold}
    hit = len(picked & wanted)
    return GoldMatch(recalled=wanted <= picked, table_recall=hit / len(wanted) if wanted else 1.0,
                     precision=hit / len(picked) if picked else 0.0)


class LinkingTally:
    """Accumulates one database's prompts; `summary()` is what the export report shows."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.rows: dict[str, list[tuple[GoldMatch, int, int, int]]] = {}

    def add(self, split: str, gold: list[str], linked: LinkedSchema) -> None:
        added = {t.lower() for t in linked.added_gold}
        by_linker = [t for t in linked.tables if t.lower() not in added]
        self.rows.setdefault(split, []).append(
            (gold_match(by_linker, gold), len(linked.tables), linked.tokens, len(linked.added_gold)))

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"schema_context": self.mode}
        for split, rows in sorted(self.rows.items()):
            n = len(rows)
            out[split] = {
                "prompts": n,
                "gold_recall": round(sum(m.recalled for m, *_ in rows) / n, 4),
                "table_recall": round(sum(m.table_recall for m, *_ in rows) / n, 4),
                "precision": round(sum(m.precision for m, *_ in rows) / n, 4),
                "mean_tables": round(sum(t for _, t, _, _ in rows) / n, 2),
                "mean_tokens": round(sum(k for _, _, k, _ in rows) / n, 1),
                "prompts_with_added_gold": sum(1 for *_, a in rows if a),
                "added_gold_tables": sum(a for *_, a in rows),
            }
        return out


def linking_markdown(linking: dict[str, dict[str, object]]) -> list[str]:
    """Report lines: one row per database and split."""
    lines = ["## Schema linking", "",
             "| database | context | split | prompts | gold recall | precision | mean tables | mean tokens | gold added (train) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for db, facts in linking.items():
        for split, s in facts.items():
            if isinstance(s, dict):
                lines.append(f"| {db} | {facts['schema_context']} | {split} | {s['prompts']} | {s['gold_recall']:.1%} | "
                             f"{s['precision']:.1%} | {s['mean_tables']} | {s['mean_tokens']} | {s['added_gold_tables']} |")
    return lines + [""]
