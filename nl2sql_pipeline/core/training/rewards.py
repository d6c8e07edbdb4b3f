"""Rewards for reinforcement learning from execution: every rollout judged on the read-only executor.

Components, each in [0, 1] before weighting (weights come from the GRPO recipe):

- `execution`: `match` (default 1.0) when the rollout's result equals the gold's under the
  evaluation's semantics, `executes` (0.1) when it runs but differs, `fails` (0.0) otherwise;
- `table_overlap` / `column_overlap`: F1 of the table / column names with the gold's (dense
  partial credit, which small models need early on when almost nothing matches);
- `syntax`: 1 when the database accepts the query's syntax (it ran, or failed at run time);
- `format`: 1 when the completion is exactly one query and nothing else (an optional ```sql
  fence and trailing semicolon allowed), else 0.

A hostile rollout earns 0 in every component: one whose query the executor refuses (writes,
several statements, file functions), one that writes such a statement after its query (the
evaluation would run only the query, but training must not pay for emitting `DELETE`), and one
that runs past the deadline (a query that holds the database must not be paid for looking
plausible). Nothing but the extracted query ever reaches the database, through the executor.

Verdicts follow the evaluation exactly: the same SQL extraction (`extract_sql`), the same
preprocessing (Spider's `> =` fix, optional DISTINCT stripping) and `compare.results_match` with
Spider's order rule. Queries run concurrently on a thread pool (the executor keeps one connection
per thread) and results are cached per (database, SQL), so the G rollouts of a prompt that agree,
and the gold queries seen every epoch, run once.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from pydantic import BaseModel, Field, model_validator
import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from nl2sql_pipeline.core.evaluation.compare import Semantics, gold_orders, results_match, spider_postprocess, strip_distinct
from nl2sql_pipeline.core.evaluation.extract import extract_sql
from nl2sql_pipeline.core.audit import AuditTarget, audited
from nl2sql_pipeline.core.config_loader import StrictModel
from nl2sql_pipeline.core.execution import ExecutionResult, ReadOnlyExecutor, parse_query

COMPONENTS = ("execution", "table_overlap", "column_overlap", "syntax", "format")
_ZERO_ALL = ("rejected", "timeout")  # the executor refused it, or it held the database to the deadline
_CACHE_LIMIT = 100_000
_FENCED = re.compile(r"\A```[ \t]*(?:sql|sqlite|postgresql|postgres|mysql)?[ \t]*\n(.*?)\n?```\Z", re.S | re.I)
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S | re.I)
_EMPTY_THINK = re.compile(r"\A\s*<think>\s*</think>", re.I)  # Qwen3 "no-think" answers start with one


class ExecutionCredit(StrictModel):
    """What an execution verdict is worth (Arctic-Text2SQL-R1's 1 / 0.1 / 0 by default)."""

    match: float = Field(1.0, ge=0, le=1, description="credit when the result equals the gold's")
    executes: float = Field(0.1, ge=0, le=1, description="credit when the query runs but its result differs")
    fails: float = Field(0.0, ge=0, le=1, description="credit when the query does not run")

    @model_validator(mode="after")
    def _ordered(self) -> ExecutionCredit:
        if not self.match >= self.executes >= self.fails:
            raise ValueError(f"execution credit must satisfy match >= executes >= fails; got "
                             f"{self.match} / {self.executes} / {self.fails}")
        return self


class RewardWeights(StrictModel):
    """Weight of each component in the total reward; 0 leaves a component out."""

    execution: float = Field(1.0, ge=0, description="weight of the execution verdict's credit")
    table_overlap: float = Field(0.0, ge=0, description="weight of the F1 of table names with the gold's")
    column_overlap: float = Field(0.0, ge=0, description="weight of the F1 of column names with the gold's")
    syntax: float = Field(0.0, ge=0, description="weight of 'the database accepts the syntax'")
    format: float = Field(0.0, ge=0, description="weight of 'the completion is exactly one query'")

    @model_validator(mode="after")
    def _something(self) -> RewardWeights:
        if not any(getattr(self, c) for c in COMPONENTS):
            raise ValueError(f"every reward weight is 0, so there is nothing to learn from; give one of "
                             f"{', '.join(COMPONENTS)} a positive weight")
        return self

    def active(self) -> dict[str, float]:
        return {c: getattr(self, c) for c in COMPONENTS if getattr(self, c) > 0}


class RewardSettings(StrictModel):
    """How a GRPO rollout is rewarded, judged as the evaluation judges."""

    weights: RewardWeights = Field(RewardWeights(), description="weight of each reward component")
    execution: ExecutionCredit = Field(ExecutionCredit(), description="what an execution verdict is worth")
    semantics: Semantics = Field("test-suite", description="result comparison: test-suite, set or ordered")
    strip_distinct: bool = Field(False, description="drop DISTINCT from both queries before comparing")
    timeout_s: float = Field(2.0, gt=0, description="seconds per rollout query, enforced inside the engine")
    row_cap: int = Field(10_000, ge=1, description="most rows read from one rollout query")
    workers: int = Field(4, ge=1, description="rollout queries run at once")


class RolloutScore(BaseModel):
    """One rollout's components, total and how the executor saw it."""

    execution: float = 0.0
    table_overlap: float = 0.0
    column_overlap: float = 0.0
    syntax: float = 0.0
    format: float = 0.0
    total: float = 0.0
    pred_sql: str = ""
    executed: bool = False
    match: bool = False
    error_kind: str | None = None
    hostile: bool = False  # every component is 0: see the module docstring


class Target(Protocol):
    url: str
    dialect: str


class Rollout(BaseModel):
    database: str
    gold_sql: str
    completion: str


def completion_text(completion: Any) -> str:
    """TRL hands plain strings for text prompts and `[{"role": "assistant", "content": ...}]` for chat ones."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def format_score(completion: str, dialect: str) -> float:
    """1.0 when the completion is one query and nothing else (fence and trailing `;` allowed)."""
    text = _EMPTY_THINK.sub("", completion).strip()
    fenced = _FENCED.match(text)
    text = (fenced.group(1) if fenced else text).strip().rstrip(";").strip()
    if not text or extract_sql(text).strip() != text:
        return 0.0
    return 1.0 if parse_query(text, dialect)[1].kind is None else 0.0


def _statement_like(text: str, dialect: str) -> bool:
    """Whether text opens like a statement rather than prose: a SQL keyword token, or an upper-case
    word (`START TRANSACTION`, `SAVEPOINT x` are plain words to the tokenizer)."""
    try:
        tokens = sqlglot.tokenize(text, read=dialect)
    except Exception:  # sqlglot raises several types on a stray quote: judge the first word alone
        word = text.split(None, 1)[0]
        return word.isalpha() and word.isupper()
    first = tokens[0] if tokens else None
    return first is not None and first.text[:1].isalpha() and (first.token_type != TokenType.VAR or first.text.isupper())


def writes_beside_query(completion: str, pred_sql: str, dialect: str) -> bool:
    """Whether the completion holds, before or after its query, a statement the executor's gate
    refuses: every `;`-separated piece, from each of its lines on, that opens like a statement."""
    rest = _THINK.sub(";", completion.replace(pred_sql, ";", 1) if pred_sql else completion)
    for piece in rest.split(";"):
        lines = piece.split("\n")
        for i in range(len(lines)):
            candidate = "\n".join(lines[i:]).strip().strip("`").strip()
            if (candidate and _statement_like(candidate, dialect)
                    and parse_query(candidate, dialect)[1].kind == "rejected"):
                return True
    return False


def _names(sql: str, dialect: str) -> tuple[set[str], set[str]] | None:
    """Table and column names a query reads (CTE names are not tables), or None if it does not parse."""
    tree, check = parse_query(sql, dialect)
    if tree is None or check.kind:
        return None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables = {t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes}
    columns = {c.name.lower() for c in tree.find_all(exp.Column) if c.name}
    return tables, columns


def _f1(pred: set[str], gold: set[str]) -> float:
    if not pred and not gold:
        return 1.0
    common = len(pred & gold)
    return 0.0 if common == 0 else 2 * common / (len(pred) + len(gold))


class SqlRewarder:
    """Scores rollouts against gold queries on configured databases; reusable across training steps."""

    def __init__(self, targets: Mapping[str, Target], settings: RewardSettings | None = None,
                 audit: AuditTarget | None = None) -> None:
        self.settings = settings or RewardSettings()
        self.audit = audit  # every rollout query recorded, as validation and evaluation queries are
        self.targets = dict(targets)
        self._executors: dict[str, ReadOnlyExecutor] = {}
        self._results: dict[tuple[str, str], ExecutionResult] = {}
        self._scores: dict[tuple[str, str, str], RolloutScore] = {}
        self._names: dict[tuple[str, str], tuple[set[str], set[str]] | None] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.stats = {"rollouts": 0, "queries_run": 0, "cache_hits": 0, "refused": 0, "timeouts": 0}
        self.seconds = 0.0  # wall time spent scoring, queries included

    # -- execution ---------------------------------------------------------------------------

    def _executor(self, database: str) -> ReadOnlyExecutor:
        executor = self._executors.get(database)
        if executor is None:
            target = self.targets[database]
            executor = audited(ReadOnlyExecutor(target.url, target.dialect, timeout_s=self.settings.timeout_s,
                                                row_cap=self.settings.row_cap), self.audit, database)
            self._executors[database] = executor
        return executor

    def _prepare(self, sql: str, dialect: str) -> str:
        sql = spider_postprocess(sql)
        return strip_distinct(sql, dialect) if self.settings.strip_distinct else sql

    def _run_all(self, queries: set[tuple[str, str]]) -> None:
        """Run every (database, SQL) not yet cached, concurrently."""
        missing = [q for q in queries if q not in self._results]
        self.stats["cache_hits"] += len(queries) - len(missing)
        if not missing:
            return
        executors = {db: self._executor(db) for db, _ in missing}
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="reward-sql")
        results = self._pool.map(lambda q: executors[q[0]].execute(q[1]), missing)
        if len(self._results) + len(missing) > _CACHE_LIMIT:
            self._results.clear()
        for query, result in zip(missing, results, strict=True):
            self._results[query] = result
        self.stats["queries_run"] += len(missing)

    # -- scoring -----------------------------------------------------------------------------

    def score(self, rollouts: Sequence[Rollout]) -> list[RolloutScore]:
        """Scores in the order given; a rollout on an unknown database is an error, not a zero."""
        unknown = sorted({r.database for r in rollouts} - set(self.targets))
        if unknown:
            raise KeyError(f"no database target for {', '.join(unknown)}; configure them in databases.yaml")
        with self._lock:
            started = time.perf_counter()
            todo = [r for r in dict.fromkeys((r.database, r.gold_sql, r.completion) for r in rollouts)
                    if r not in self._scores]
            prepared = {}
            queries: set[tuple[str, str]] = set()
            for db, gold, completion in todo:
                dialect = self.targets[db].dialect
                pred = extract_sql(completion)
                prepared[(db, gold, completion)] = (pred, self._prepare(gold, dialect), self._prepare(pred, dialect))
                queries.add((db, prepared[(db, gold, completion)][1]))
                if pred.strip():
                    queries.add((db, prepared[(db, gold, completion)][2]))
            self._run_all(queries)
            if len(self._scores) + len(todo) > _CACHE_LIMIT:
                self._scores.clear()
            for key in todo:
                self._scores[key] = self._judge(key, *prepared[key])
            self.stats["rollouts"] += len(rollouts)
            self.seconds += time.perf_counter() - started
            return [self._scores[(r.database, r.gold_sql, r.completion)] for r in rollouts]

    def _judge(self, key: tuple[str, str, str], pred_sql: str, gold_sql: str, run_sql: str) -> RolloutScore:
        db, _, completion = key
        dialect = self.targets[db].dialect
        score = RolloutScore(pred_sql=pred_sql)
        if not pred_sql.strip():
            return score
        pred = self._results[(db, run_sql)]
        score.error_kind = pred.error_kind
        gold = self._results[(db, gold_sql)]
        score.executed = pred.ok  # executed and match are the evaluation's verdicts, hostile or not
        if pred.ok and not pred.truncated and gold.ok and not gold.truncated:
            score.match = results_match(gold.rows, pred.rows, order_matters=gold_orders(gold_sql),
                                        semantics=self.settings.semantics)
        if pred.error_kind in _ZERO_ALL or writes_beside_query(completion, pred_sql, dialect):
            score.hostile = True
            self.stats["timeouts" if pred.error_kind == "timeout" else "refused"] += 1
            return score
        credit = self.settings.execution
        score.execution = credit.match if score.match else credit.executes if pred.ok else credit.fails
        score.syntax = 1.0 if pred.ok or pred.error_kind == "runtime" else 0.0
        score.format = format_score(completion, dialect)
        pred_names, gold_names = self._parsed(db, pred_sql), self._parsed(db, gold_sql)
        if pred_names is not None and gold_names is not None:
            score.table_overlap = _f1(pred_names[0], gold_names[0])
            score.column_overlap = _f1(pred_names[1], gold_names[1])
        score.total = sum(w * getattr(score, c) for c, w in self.settings.weights.active().items())
        return score

    def _parsed(self, db: str, sql: str) -> tuple[set[str], set[str]] | None:
        key = (db, sql)
        if key not in self._names:
            self._names[key] = _names(sql, self.targets[db].dialect)
        return self._names[key]

    # -- TRL ---------------------------------------------------------------------------------

    def reward_functions(self) -> tuple[list[Callable[..., list[float]]], list[float]]:
        """One TRL reward function per active component (TRL logs each as `rewards/<name>/mean`)
        and their weights. The dataset's `database` and `gold_sql` columns arrive as keyword lists."""

        def component(name: str) -> Callable[..., list[float]]:
            def reward(completions: list[Any], database: list[str], gold_sql: list[str], **_: Any) -> list[float]:
                rollouts = [Rollout(database=d, gold_sql=g, completion=completion_text(c))
                            for c, d, g in zip(completions, database, gold_sql, strict=True)]
                return [getattr(s, name) for s in self.score(rollouts)]

            reward.__name__ = name
            return reward

        active = self.settings.weights.active()
        return [component(name) for name in active], list(active.values())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for executor in self._executors.values():
            executor.close()
        self._executors.clear()

    def __enter__(self) -> SqlRewarder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
