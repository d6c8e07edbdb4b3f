"""Readers for what gets evaluated: Spider's files and LLaMA-Factory's generated_predictions.jsonl.

Spider: a gold file of `SQL<TAB>db_id` lines (or a dev.json list of {db_id, question, query}),
a prediction file of one SQL per line, a database folder `<db_id>/<db_id>.sqlite`.
LLaMA-Factory: one JSON object per line with prompt/predict/label (labels end with a newline).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.predictions import PredictionItem, PredictionSet


class EvalInputError(Nl2SqlError):
    """An evaluation input file is missing, unreadable or inconsistent."""


class GoldItem(BaseModel):
    database: str
    gold_sql: str
    question: str = ""


class LfPrediction(BaseModel):
    prompt: str
    predict: str
    label: str


def _read_text(path: Path, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise EvalInputError(f"The {what} file {path} does not exist.", "check the path.") from err
    except (OSError, UnicodeDecodeError) as err:
        raise EvalInputError(f"Cannot read the {what} file {path}: {err}.", "pass a UTF-8 text file.") from err


def read_gold(path: Path) -> list[GoldItem]:
    """Spider gold: `SQL<TAB>db_id` lines, or a dev.json list of {db_id, question, query}."""
    text = _read_text(path, "gold")
    if Path(path).suffix == ".json":
        try:
            rows = json.loads(text)
            return [GoldItem(database=r["db_id"], gold_sql=r["query"], question=r.get("question", "")) for r in rows]
        except (ValueError, KeyError, TypeError) as err:
            raise EvalInputError(
                f"The gold file {path} is not a Spider dev.json list of {{db_id, question, query}} ({err}).",
                "pass Spider's dev.json or a gold.sql file of SQL<TAB>db_id lines.",
            ) from err
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        sql, tab, db_id = line.rstrip().rpartition("\t")
        if not tab or not sql.strip() or not db_id.strip():
            raise EvalInputError(
                f"Line {number} of the gold file {path} is not `SQL<TAB>db_id`: {line[:80]!r}.",
                "use Spider's gold format, one query and its database id per line, tab-separated.",
            )
        items.append(GoldItem(database=db_id.strip(), gold_sql=sql.strip()))
    return items


def read_spider_predictions(path: Path) -> list[str]:
    """One predicted SQL per line (empty lines are empty predictions, as in Spider)."""
    lines = _read_text(path, "prediction").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_generated_predictions(path: Path) -> list[LfPrediction]:
    """LLaMA-Factory's generated_predictions.jsonl; labels keep their newline (strip to score)."""
    rows = []
    for number, line in enumerate(_read_text(path, "LLaMA-Factory predictions").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(LfPrediction.model_validate_json(line))
        except ValueError as err:
            raise EvalInputError(
                f"Line {number} of {path} is not a JSON object with prompt/predict/label ({str(err).splitlines()[0]}).",
                "pass the generated_predictions.jsonl that llamafactory-cli wrote with do_predict.",
            ) from err
    return rows


def prediction_set(
    gold: list[GoldItem], outputs: list[str], *, label: str, model: str, source: str
) -> PredictionSet:
    """Align raw outputs with gold items by position; a count mismatch is an error, not a guess."""
    if len(outputs) != len(gold):
        raise EvalInputError(
            f"{len(outputs)} predictions for {len(gold)} gold items.",
            "predict every item of the gold file, in its order (an empty line is an empty prediction).",
        )
    return PredictionSet(
        label=label,
        model=model,
        source=source,
        items=[
            PredictionItem(index=i, database=g.database, question=g.question, gold_sql=g.gold_sql, output=out)
            for i, (g, out) in enumerate(zip(gold, outputs))
        ],
    )


def spider_db_path(db_dir: Path, db_id: str) -> Path:
    """Spider's layout `<db_dir>/<db_id>/<db_id>.sqlite`."""
    return Path(db_dir) / db_id / f"{db_id}.sqlite"
