"""One answering path: question -> linked schema -> model -> SQL -> checks -> rows.

The served model sees the prompt the trainer built (the same prompt builder), so its answers
come from the distribution it was tuned on. What it writes is never trusted: the SQL is taken
out of the text, a statement that writes or defines is refused outright (no correction round
coaxes a model that emits DDL/DML into something else), and a query that does not parse, names
what does not exist or fails on the engine is shown back to the model with the error, up to
`max_corrections` times. With `samples > 1` every sample is executed and the result most
samples agree on wins (self-consistency voting).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from nl2sql_pipeline.core.ask.schema import AskSchema, question_language_of
from nl2sql_pipeline.core.evaluation.extract import extract
from nl2sql_pipeline.core.validation.dedup import result_fingerprint
from nl2sql_pipeline.core.validation.schema import unresolved
from nl2sql_pipeline.core.validation.syntax import parse_query

Stage = Literal["linking", "generating", "validating", "executing", "correcting", "done"]
Failure = Literal["unsafe", "syntax", "schema", "execution", "model"]
EventSink = Callable[[Stage, dict[str, Any]], None]

CORRECTION = {
    "zh": "上面的SQL无法使用：{error}\n请只输出一条修正后的SQL查询语句。",
    "en": "The SQL above cannot be used: {error}\nAnswer with one corrected SQL query and nothing else.",
}


class AskConfig(BaseModel):
    """How one question is answered; every field has a safe default."""

    max_corrections: int = Field(2, ge=0, le=10, description="correction rounds after a syntax, schema or execution error")
    samples: int = Field(1, ge=1, le=16, description="answers sampled per round; above 1 the majority result wins")
    temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature when samples > 1 (1 sample is greedy)")
    max_tokens: int = Field(512, ge=16, description="the model's answer length limit")
    row_cap: int = Field(200, ge=1, description="rows returned to the asker")


class ChatModel(Protocol):
    """Any chat endpoint: `n` answers to one conversation."""

    def chat(self, messages: list[dict[str, str]], *, n: int, temperature: float, max_tokens: int) -> list[str]: ...


class Attempt(BaseModel):
    """One candidate SQL and what became of it."""

    round: int
    output: str  # the model's raw text
    sql: str
    failed: Failure | None = None
    error: str | None = None
    row_count: int | None = None


class StageTimes(BaseModel):
    linking_s: float = 0.0
    model_s: float = 0.0
    validation_s: float = 0.0
    execution_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.linking_s + self.model_s + self.validation_s + self.execution_s


class Answer(BaseModel):
    question: str
    database: str
    dialect: str
    tables: list[str]  # what schema linking showed the model
    ok: bool
    sql: str = ""
    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    truncated: bool = False
    failed: Failure | None = None
    error: str | None = None
    votes: int = 0  # samples that returned the winning result (self-consistency)
    attempts: list[Attempt] = Field(default_factory=list)
    timings: StageTimes = Field(default_factory=StageTimes)


class _Run:
    """A successfully executed candidate, kept for voting."""

    def __init__(self, attempt: Attempt, columns: list[str], rows: list[tuple], truncated: bool) -> None:
        self.attempt, self.columns, self.rows, self.truncated = attempt, columns, rows, truncated
        self.key = result_fingerprint(len(columns), rows)


def answer_question(
    question: str, schema: AskSchema, model: ChatModel, config: AskConfig | None = None, on_event: EventSink | None = None
) -> Answer:
    """Answer `question` on `schema`'s database; never raises for what the model writes."""
    config = config or AskConfig()
    emit = on_event or (lambda stage, payload: None)
    times = StageTimes()
    started = time.perf_counter()
    emit("linking", {})
    messages, tables = schema.prompt(question)
    times.linking_s = time.perf_counter() - started
    answer = Answer(question=question, database=schema.database, dialect=schema.dialect, tables=tables, ok=False)
    for round_no in range(config.max_corrections + 1):
        emit("generating" if round_no == 0 else "correcting", {"round": round_no, "tables": tables})
        started = time.perf_counter()
        try:
            outputs = model.chat(messages, n=config.samples, temperature=config.temperature if config.samples > 1 else 0.0,
                                 max_tokens=config.max_tokens)
        except Exception as err:  # noqa: BLE001 (an unreachable endpoint is an answer to report)
            times.model_s += time.perf_counter() - started
            answer.failed, answer.error = "model", f"{type(err).__name__}: {err}"
            break
        times.model_s += time.perf_counter() - started
        runs = [run for output in outputs if (run := _try(output, round_no, schema, config, answer, times, emit))]
        if any(a.failed == "unsafe" for a in answer.attempts if a.round == round_no):
            unsafe = next(a for a in answer.attempts if a.round == round_no and a.failed == "unsafe")
            answer.failed, answer.error, answer.sql = "unsafe", unsafe.error, unsafe.sql
            break
        if runs:
            winner, votes = _vote(runs)
            answer.ok, answer.failed, answer.error = True, None, None
            answer.sql, answer.columns, answer.truncated, answer.votes = (
                winner.attempt.sql, winner.columns, winner.truncated, votes)
            answer.rows = [list(r) for r in winner.rows]
            break
        last = answer.attempts[-1]
        answer.failed, answer.error, answer.sql = last.failed, last.error, last.sql
        messages = [*messages, {"role": "assistant", "content": last.sql or last.output},
                    {"role": "user", "content": CORRECTION[question_language_of(question)].format(error=f"{last.failed}: {last.error}")}]
    answer.timings = times
    emit("done", {"ok": answer.ok, "failed": answer.failed})
    return answer


def _try(output: str, round_no: int, schema: AskSchema, config: AskConfig, answer: Answer, times: StageTimes,
         emit: EventSink) -> _Run | None:
    """Check and run one candidate; records its attempt and returns it when it executed."""
    emit("validating", {"round": round_no})
    started = time.perf_counter()
    sql, unsafe = extract(output)
    attempt = Attempt(round=round_no, output=output, sql=sql)
    answer.attempts.append(attempt)
    attempt.failed, attempt.error = ("unsafe", unsafe) if unsafe else _static_problem(sql, schema)
    times.validation_s += time.perf_counter() - started
    if attempt.failed:
        return None
    emit("executing", {"round": round_no, "sql": sql})
    result = schema.executor.execute(sql, row_cap=config.row_cap)
    times.execution_s += result.elapsed_s
    if not result.ok:
        kind = "unsafe" if result.error_kind == "rejected" else "execution"
        attempt.failed, attempt.error = kind, f"{result.error_kind}: {result.error}"
        return None
    attempt.row_count = result.row_count
    return _Run(attempt, result.columns, result.rows, result.truncated)


def _static_problem(sql: str, schema: AskSchema) -> tuple[Failure | None, str | None]:
    """Why a query must not run, before it reaches the engine (writing statements are caught by
    the extraction already; the gate's refusals here are forbidden functions and the like)."""
    if not _QUERY_START.match(sql):
        return "syntax", "the answer holds no SQL query (SELECT ... or WITH ...)"
    tree, verdict = parse_query(sql, schema.dialect)
    if tree is None:
        return ("unsafe" if verdict.kind == "rejected" else "syntax"), verdict.reason
    try:
        problems = unresolved(tree, schema.index, schema.dialect)
    except Exception as err:  # noqa: BLE001 (sqlglot's scope builder refuses some trees)
        problems = [f"cannot resolve names: {str(err).splitlines()[0][:200]}"]
    return ("schema", "; ".join(problems)) if problems else (None, None)


_QUERY_START = re.compile(r"\s*(?:\(\s*)*(?:SELECT|WITH|VALUES)\b", re.I)


def _vote(runs: list[_Run]) -> tuple[_Run, int]:
    """The first run of the result most runs returned."""
    counts = Counter(r.key for r in runs)
    best = max(counts.values())
    return next(r for r in runs if counts[r.key] == best), best
