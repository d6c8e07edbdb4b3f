"""A golden set per database: human-verified (question, SQL) pairs held out from training.

Files: `<golden_dir>/<database>.jsonl` (golden_dir defaults to `$NL2SQL_HOME/golden`) (one {"question", "sql", "note"?} object a line) or
`<database>.csv` (header `question,sql[,note]`). Pairs can also be promoted from reviewed dev
pairs (`promote`). A golden item is scored on the predictions made for the same question of the
same database, with the golden SQL as the gold, apart from the dev split; `promotion_verdict`
is the promotion criterion: a run is better only if it beats the baseline by a margin.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ValidationError

from nl2sql_pipeline.core.evaluation.inputs import EvalInputError
from nl2sql_pipeline.core.fsutil import atomic_write_text
from nl2sql_pipeline.core.predictions import PredictionRuns, PredictionSet


class GoldenItem(BaseModel):
    database: str
    question: str
    sql: str
    note: str = ""


def question_key(question: str) -> str:
    return " ".join(question.split()).casefold()


def golden_folder(configured: str = "") -> Path | None:
    """The golden-set folder: the configured one, else `$NL2SQL_HOME/golden` when it exists."""
    from nl2sql_pipeline.core.config import nl2sql_home

    if configured:
        return Path(configured)
    default = nl2sql_home() / "golden"
    return default if default.is_dir() else None


def read_golden_file(path: Path, database: str) -> list[GoldenItem]:
    """A database's golden pairs from JSONL or CSV; a malformed line names its number and fields."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise EvalInputError(f"Cannot read the golden set {path}: {err}.", "pass a UTF-8 .jsonl or .csv file.") from err
    if Path(path).suffix == ".csv":
        rows: Iterable[tuple[int, object]] = enumerate(csv.DictReader(io.StringIO(text)), 2)
    else:
        rows = ((n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip())
    items = []
    for number, row in rows:
        try:
            data = json.loads(row) if isinstance(row, str) else dict(row)  # type: ignore[arg-type]
            items.append(GoldenItem(database=database, question=data["question"], sql=data["sql"],
                                    note=data.get("note") or ""))
        except (ValueError, KeyError, TypeError, ValidationError) as err:
            raise EvalInputError(
                f"Line {number} of the golden set {path} is not a pair with question and sql ({err}).",
                "write one {\"question\": ..., \"sql\": ..., \"note\": ...} object per line (JSONL), "
                "or a CSV with the header question,sql,note.",
            ) from err
    return items


def read_golden_dir(folder: Path) -> list[GoldenItem]:
    """Every `<database>.jsonl` / `<database>.csv` of a folder."""
    if not Path(folder).is_dir():
        raise EvalInputError(f"The golden-set folder {folder} does not exist.", "create it with one <database>.jsonl per database.")
    items = []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix in (".jsonl", ".csv"):
            items += read_golden_file(path, path.stem)
    return items


def promote(reviewed: Sequence[GoldenItem], folder: Path) -> list[Path]:
    """Append reviewed dev pairs to their databases' golden files (a pair already there is kept once)."""
    written = []
    for database in sorted({item.database for item in reviewed}):
        path = Path(folder) / f"{database}.jsonl"
        existing = read_golden_file(path, database) if path.exists() else []
        known = {question_key(item.question) for item in existing}
        new = [i for i in reviewed if i.database == database and question_key(i.question) not in known]
        lines = [json.dumps({"question": i.question, "sql": i.sql, "note": i.note}, ensure_ascii=False)
                 for i in [*existing, *new]]
        written.append(atomic_write_text(path, "\n".join(lines) + "\n"))
    return written


def training_questions(samples_jsonl: Path) -> list[tuple[str, str]]:
    """(database, question) of the training split in the exported dataset's samples.jsonl."""
    if not Path(samples_jsonl).is_file():
        return []
    rows = (json.loads(line) for line in Path(samples_jsonl).read_text(encoding="utf-8").splitlines() if line.strip())
    return [(r["database"], r["question"]) for r in rows if r.get("split") == "train"]


def leaked(golden: Sequence[GoldenItem], training_questions: Iterable[tuple[str, str]]) -> list[GoldenItem]:
    """Golden items whose (database, question) also appears in the training data."""
    seen = {(db, question_key(q)) for db, q in training_questions}
    return [item for item in golden if (item.database, question_key(item.question)) in seen]


def golden_runs(runs: PredictionRuns, golden: Sequence[GoldenItem]) -> PredictionRuns:
    """Each run's predictions for the golden questions, judged against the golden SQL."""
    by_question = {(g.database, question_key(g.question)): g for g in golden}
    out = []
    for run in runs.runs:
        items = []
        for item in run.items:
            match = by_question.get((item.database, question_key(item.question)))
            if match is not None:
                items.append(item.model_copy(update={"gold_sql": match.sql, "index": len(items)}))
        if items:
            out.append(PredictionSet(label=run.label, model=run.model, source=run.source, items=items))
    return PredictionRuns(runs=out)


class PromotionVerdict(BaseModel):
    passed: bool
    lines: list[str]


def promotion_verdict(scores: dict[str, float], *, baseline: str, margin: float,
                      previous: float | None = None) -> PromotionVerdict:
    """Every run other than the baseline must beat it (and a previous adapter's score, when
    given) by `margin` percentage points of golden-set execution match."""
    if baseline not in scores:
        return PromotionVerdict(passed=False, lines=[f"no {baseline!r} run was scored on the golden set"])
    bar = max(scores[baseline], previous if previous is not None else float("-inf"))
    lines, passed = [], True
    candidates = {label: score for label, score in scores.items() if label != baseline}
    if not candidates:
        return PromotionVerdict(passed=False, lines=["only the baseline was scored on the golden set"])
    for label, score in sorted(candidates.items()):
        ok = score >= bar + margin
        passed &= ok
        lines.append(f"{label}: {score:.2f}% {'>=' if ok else '<'} {bar:.2f}% + {margin:.2f} (baseline {baseline}"
                     + (f", previous adapter {previous:.2f}%" if previous is not None else "") + ")")
    return PromotionVerdict(passed=passed, lines=lines)
