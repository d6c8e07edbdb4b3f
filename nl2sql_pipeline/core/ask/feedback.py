"""Feedback on answers becomes data: an append-only file per database, read back as pairs.

Each event is one JSON line in `$NL2SQL_HOME/feedback/<database>.jsonl` (appended under an
exclusive lock, so concurrent askers never interleave lines). A confirmed answer (`correct`) or
a corrected one (`corrected` with the user's SQL) is a question/SQL pair a person vouched for;
`wrong` without a correction only counts. The latest verdict on the same question and SQL wins,
so a user can take a confirmation back.
"""

from __future__ import annotations

import fcntl
import json
from datetime import datetime, timezone
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from nl2sql_pipeline.core.ask.schema import question_language_of
from nl2sql_pipeline.core.config import nl2sql_home
from nl2sql_pipeline.core.evaluation.golden import GoldenItem, question_key
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.samples import RawSamples, Sample
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata

Verdict = Literal["correct", "wrong", "corrected"]
FEEDBACK_TOPIC = "feedback"


class FeedbackEvent(BaseModel):
    database: str
    question: str = Field(min_length=1, max_length=2000)
    sql: str = Field(max_length=20000, description="the SQL the user was shown")
    verdict: Verdict
    corrected_sql: str | None = Field(None, max_length=20000, description="the user's SQL, with verdict 'corrected'")
    note: str | None = Field(None, max_length=2000)
    time: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @model_validator(mode="after")
    def _corrected_has_sql(self) -> FeedbackEvent:
        if self.verdict == "corrected" and not (self.corrected_sql or "").strip():
            raise ValueError("verdict 'corrected' needs corrected_sql (the SQL that answers the question)")
        return self

    def pair(self) -> tuple[str, str] | None:
        """The (question, SQL) a person vouched for, if any."""
        if self.verdict == "correct":
            return self.question, self.sql
        if self.verdict == "corrected":
            return self.question, self.corrected_sql or ""
        return None


def feedback_path(database: str, home: Path | None = None) -> Path:
    return (home or nl2sql_home()) / "feedback" / f"{database}.jsonl"


def record_feedback(event: FeedbackEvent, home: Path | None = None) -> Path:
    path = feedback_path(event.database, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = event.model_dump_json() + "\n"
    with path.open("a", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        try:
            out.write(line)
            out.flush()
        finally:
            fcntl.flock(out, fcntl.LOCK_UN)
    return path


def read_feedback(database: str, home: Path | None = None) -> tuple[list[FeedbackEvent], list[str]]:
    """Every event of the database, and a note per line that could not be read (never fatal:
    one hand-edited line must not hide the rest)."""
    path = feedback_path(database, home)
    if not path.exists():
        return [], []
    events, notes = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            events.append(FeedbackEvent.model_validate(json.loads(line)))
        except ValueError as err:
            notes.append(f"{path.name} line {number} skipped: {str(err).splitlines()[0][:200]}")
    return events, notes


def feedback_samples(events: list[FeedbackEvent]) -> list[Sample]:
    """One sample per vouched (question, SQL), in first-seen order; a later `wrong` or correction
    of the same question and SQL withdraws it."""
    latest: dict[tuple[str, str], FeedbackEvent] = {}
    for event in events:
        shown = (event.question.strip(), event.sql.strip())
        if event.verdict != "correct":  # wrong, or replaced by the user's SQL
            latest.pop(shown, None)
        pair = event.pair()
        if pair:
            latest[(pair[0].strip(), pair[1].strip())] = event
    return [
        Sample(database=e.database, topic=FEEDBACK_TOPIC, question=q, sql=sql, source="feedback",
               language=question_language_of(q), meta={"verdict": e.verdict, "time": e.time})
        for (q, sql), e in latest.items()
    ]


class FeedbackPairs(BaseModel):
    """A database's vouched pairs after validation: training data (train split only) and
    golden-set candidates for a person to review."""

    database: str
    events: int
    verdicts: dict[str, int]
    accepted: list[Sample]
    rejected: list[dict[str, str]]  # question, sql, reason
    held_out: list[str] = Field(default_factory=list)  # questions already in the golden set: never trained on
    notes: list[str] = Field(default_factory=list)


def validate_feedback(database: str, meta: SchemaMetadata, executor: ReadOnlyExecutor | None,
                      home: Path | None = None, golden: Sequence[GoldenItem] = ()) -> FeedbackPairs:
    """Read the feedback file and run its pairs through the same three layers as generated ones.
    A question the golden set already holds is held out: a pair scores a model or trains it, never both."""
    from nl2sql_pipeline.core.validation import validate_samples

    events, notes = read_feedback(database, home)
    samples = feedback_samples(events)
    golden_keys = {question_key(g.question) for g in golden if g.database == database}
    held = sorted({s.question for s in samples if question_key(s.question) in golden_keys})
    samples = [s for s in samples if question_key(s.question) not in golden_keys]
    checked = validate_samples(RawSamples(database=database, dialect=meta.dialect, samples=samples), meta, executor)
    verdicts: dict[str, int] = {}
    for event in events:
        verdicts[event.verdict] = verdicts.get(event.verdict, 0) + 1
    return FeedbackPairs(
        database=database, events=len(events), verdicts=dict(sorted(verdicts.items())),
        accepted=[v.sample for v in checked.items if v.accepted],
        rejected=[{"question": v.sample.question, "sql": v.sample.sql,
                   "reason": f"{v.failed_layer}: {v.reason}" if v.failed_layer else f"duplicate: {v.duplicate_reason}"}
                  for v in checked.items if not v.accepted],
        held_out=held, notes=notes,
    )


def golden_candidates(pairs: FeedbackPairs) -> str:
    """JSONL (question, sql, note) of the accepted pairs, the golden-set import format."""
    return "".join(
        json.dumps({"question": s.question, "sql": s.sql, "note": f"user feedback: {s.meta.get('verdict')} at "
                    f"{s.meta.get('time')}"}, ensure_ascii=False) + "\n"
        for s in pairs.accepted
    )
