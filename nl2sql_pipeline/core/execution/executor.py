"""The read-only executor: the gate, an engine session, a deadline held from outside the engine.

Each session's statements run on that session's own worker thread while the calling thread
holds the deadline, measured from the start of the call: at the budget (plus a small grace)
it asks the engine to cancel (SQLite `interrupt()`, libpq's cancel request, `KILL QUERY` from a
second MariaDB connection); if the statement still runs at 1.2x the budget (one long built-in
call that never reaches the engine's interrupt checks), the connection is cut and abandoned and
the call returns a timeout. A result that arrives after the budget is a timeout too, never ok.

The exception: a SQLite query that calls only functions of linear cost, matches no pattern and
does not recurse (`QueryCheck.linear_calls`) cannot run long between two calls of SQLite's
progress handler, the engine's own deadline, so it runs on the calling thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution.authorizer import NEEDS_WATCH, EngineGate, first_word_problem
from nl2sql_pipeline.core.execution.errors import ErrorKind, classify_error
from nl2sql_pipeline.core.execution.gate import KnownVerdicts, QueryCheck, _rejected, parse_query
from nl2sql_pipeline.core.execution.limits import DEFAULT_LIMITS, QueryLimits, text_problem
from nl2sql_pipeline.core.execution.sessions import (
    ROW_CAP_MARKER,
    SESSIONS,
    ResultTooLarge,
    Session,
    SessionSetupError,
)
from nl2sql_pipeline.core.execution.statement_thread import StatementThread

_NATIVE_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
_GRACE_S = 0.05
_MAX_ABANDONED = 8


class ExecutionResult(BaseModel):
    """What one query did: rows and columns, or a typed failure with a human-readable reason."""

    ok: bool
    columns: list[str] = []
    rows: list[tuple] = []
    row_count: int = 0  # rows fetched (at most row_cap)
    truncated: bool = False  # more rows existed than row_cap
    elapsed_s: float = 0.0
    error_kind: ErrorKind | None = None
    error: str | None = None


class ReadOnlyExecutor:
    """Runs untrusted queries read-only, with a time budget, a row cap and byte caps; `execute`
    never raises.

    `schema`, `include`, `exclude`: the configured tables a query may read (default: the
    connection's default schema, all of it); `allowed_sources`: opt-in `schema.table` patterns
    outside it (`information_schema.*`); `limits`: the parser-safe and byte limits;
    `kept_verdicts`: how many recent texts' gate verdicts (and trees) it keeps; `engine_gate`:
    on SQLite, SQLite's own authorizer is the gate instead of sqlglot's parse (authorizer.py; for
    callers that need no tree, such as the evaluation's predictions; ignored on other engines).

    >>> import sqlite3, tempfile
    >>> from nl2sql_pipeline.core.connection import sqlite_url
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sqlite3.connect(f"{tmp}/x.db").close()
    ...     with ReadOnlyExecutor(sqlite_url(f"{tmp}/x.db", read_only=True), "sqlite") as ex:
    ...         ex.execute("SELECT 1").rows, ex.execute("CREATE TABLE t (a)").error
    ([(1,)], 'only queries (SELECT / WITH) may run, not CREATE')
    """

    def __init__(self, url: URL | str, dialect: str, *, timeout_s: float = 5.0, row_cap: int = 1000,
                 schema: str | None = None, include: Sequence[str] = ("*",), exclude: Sequence[str] = (),
                 allowed_sources: Sequence[str] = (), limits: QueryLimits | None = None,
                 kept_verdicts: int = 4096, engine_gate: bool = False) -> None:
        self.url = make_url(url) if isinstance(url, str) else url
        self.dialect = dialect
        self.timeout_s = timeout_s
        self.row_cap = row_cap
        self.schema, self.include, self.exclude = schema, list(include), list(exclude)
        self.allowed_sources = tuple(allowed_sources)
        self.limits = limits or DEFAULT_LIMITS
        self.backend = self.url.get_backend_name()
        self._native = _NATIVE_DIALECTS.get(self.backend)
        self.engine_gate = engine_gate and self.backend == "sqlite"
        if self.backend not in SESSIONS:
            raise ValueError(f"no read-only executor for {self.backend!r}; supported: {', '.join(SESSIONS)}")
        connect_args: dict[str, Any] = {}
        if self.backend == "sqlite":
            connect_args["check_same_thread"] = False  # the session's worker thread runs its statements
        else:
            connect_args["connect_timeout"] = 10
        # NullPool: the executor keeps its own per-thread connections; close() really closes.
        self._engine = sa.create_engine(self.url, poolclass=NullPool, connect_args=connect_args)
        self._local = threading.local()
        self._sessions: list[Session] = []
        self._lock = threading.Lock()
        self._closed = False
        self._abandoned = 0
        self._verdicts = KnownVerdicts(kept_verdicts)  # the table policy still runs on every execution

    def _session(self) -> Session:
        session = getattr(self._local, "session", None)
        if session is None:
            if self._closed:
                raise RuntimeError("this ReadOnlyExecutor is closed")
            raw = self._engine.raw_connection()
            try:
                session = SESSIONS[self.backend](raw, self.schema, self.include, self.exclude,
                                                 self.allowed_sources, self.limits, self._engine.raw_connection)
            except BaseException:
                raw.close()
                raise
            if self.engine_gate:
                session.use_engine_gate()  # type: ignore[attr-defined]
            session.worker = StatementThread()  # type: ignore[attr-defined]
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _drop_session(self, *, abandoned: bool = False) -> None:
        session = getattr(self._local, "session", None)
        self._local.session = None
        if session is None:
            return
        with self._lock:
            if session in self._sessions:
                self._sessions.remove(session)
        # Closed by its own worker once the statement it may still be running returns.
        session.worker.stop(then=session.close)  # type: ignore[attr-defined]
        if abandoned:
            self._abandoned += 1

    def check(self, sql: str) -> QueryCheck:
        """Layer 1 alone: may this string run at all (before table sources, which need the database)?

        A configured dialect that differs from the engine's (say `mysql` on PostgreSQL) would
        split strings differently (`'a\\' ; DELETE ...`): the engine's own dialect must agree.
        """
        return self.checked(sql)[1]

    def reads_as(self, dialect: str) -> bool:
        """Whether `checked()` trees are what `parse_query(sql, dialect)` gives (default limits)."""
        return self.dialect == dialect and self._native in (None, dialect) and self.limits == DEFAULT_LIMITS

    def checked(self, sql: str) -> tuple[Any, QueryCheck]:
        """The gate's verdict and tree for `sql`, shared with this executor's own runs (a text it
        has run before costs no parse): read the tree, never change it."""
        problem = text_problem(sql, self.limits)
        if problem:  # before the verdicts are kept: an oversized text is never kept as a key
            return None, _rejected(problem)
        return self._verdicts.get(sql, self._gate)

    def _gate(self, sql: str) -> tuple[Any, QueryCheck]:
        tree, verdict = parse_query(sql, self.dialect, self.limits)
        if verdict.kind is None and self._native not in (None, self.dialect):
            native_tree, native = parse_query(sql, self._native, self.limits)
            if native.kind:
                return None, _rejected(f"as {self._native}, which the engine speaks: {native.reason}")
            return native_tree, native  # the engine's reading decides how it is run
        return tree, verdict

    def execute(self, sql: str, *, timeout_s: float | None = None, row_cap: int | None = None) -> ExecutionResult:
        started = time.perf_counter()
        timeout = self.timeout_s if timeout_s is None else timeout_s
        cap = self.row_cap if row_cap is None else row_cap

        def failed(kind: ErrorKind, reason: str) -> ExecutionResult:
            return ExecutionResult(ok=False, elapsed_s=time.perf_counter() - started, error_kind=kind, error=reason)

        try:
            return self._execute(sql if isinstance(sql, str) else "", started, timeout, cap, failed)
        except BaseException as err:  # noqa: BLE001 - the documented promise: execute() never raises
            if isinstance(err, KeyboardInterrupt):
                raise
            return failed("runtime", f"the executor failed: {type(err).__name__}")

    def _execute(self, sql: str, started: float, timeout: float, cap: int, failed: Any) -> ExecutionResult:
        tree, verdict = (None, None) if self.engine_gate else self.checked(sql)
        if verdict is None and (problem := text_problem(sql, self.limits)):
            return failed("rejected", problem)
        if verdict is not None and verdict.kind:
            return failed(verdict.kind, verdict.reason or verdict.kind)
        if self._abandoned >= _MAX_ABANDONED:
            return failed("runtime", f"{self._abandoned} statements ignored their deadline and may still run; "
                          "this executor refuses more (close it and check the database)")
        setup_started = time.perf_counter()
        try:
            session = self._session()
        except SessionSetupError as err:
            return failed("runtime", f"refusing to run: {err}")
        except Exception as err:
            return failed("runtime", f"cannot connect: {classify_error(err)[1]}")
        problem = session.policy.problem(tree) if verdict is not None else None
        if problem:
            return failed("rejected", problem)
        # Connecting (once per session) has its own connect_timeout; the gate's time counts.
        started += time.perf_counter() - setup_started
        budget = timeout - (time.perf_counter() - started)
        if budget <= 0:
            return failed("timeout", f"the time budget of {timeout:g} s was spent before the query could run")
        text = sql.strip().rstrip(";")
        gate = session.gate
        if gate is not None:
            if not text.strip():
                return failed("syntax", "the query is empty")
            if problem := first_word_problem(text):
                return failed("rejected", problem)
            outcome = self._run_engine_gated(session, gate, text, started + timeout, cap)
        elif session.stops_itself(verdict):
            # The engine's own checks hold this query's deadline: run it on this thread, without
            # the two thread wake-ups of a hand-off.
            outcome = _run_here(session, text, budget, cap)
        else:
            outcome = self._run_watched(session, text, budget, cap)
        if outcome is None:
            return failed("timeout", f"the query ran past {timeout:g} s and was cut off")
        ok, value = outcome
        if not ok and gate is not None and (refusal := gate.refusal(value)):
            return failed("rejected", refusal)
        if not ok:
            if isinstance(value, ResultTooLarge):
                return failed("runtime", f"result too large: {value}")
            if ROW_CAP_MARKER in (str(value).splitlines() or [""])[0]:
                return failed("runtime", f"result too large: a row is over the per-cell cap of "
                              f"{self.limits.max_cell_bytes:,} bytes (QueryLimits.max_cell_bytes)")
            kind, message = classify_error(value, text)
            if _connection_lost(session) or isinstance(value, (SessionSetupError, OSError)):
                self._drop_session()  # the next call reconnects
            return failed(kind, message)
        elapsed = time.perf_counter() - started
        if elapsed > timeout:  # the grace above is for cancelling, never for a late result
            return failed("timeout", f"the query took {elapsed:.2f} s, past its budget of {timeout:g} s")
        columns, rows, truncated = value
        # The session built these types itself; validating every row again cost as much as
        # fetching small results.
        return ExecutionResult.model_construct(ok=True, columns=columns, rows=rows, row_count=len(rows),
                                               truncated=truncated, elapsed_s=elapsed, error_kind=None, error=None)

    def _run_engine_gated(self, session: Session, gate: EngineGate, text: str, deadline: float,
                          cap: int) -> tuple[bool, Any] | None:
        """Here first, the gate refusing calls the engine cannot stop in time; when that was the
        only refusal, again on the watched thread (a second prepare, microseconds)."""
        gate.denied, gate.linear_only = None, True
        outcome = _run_here(session, text, deadline - time.perf_counter(), cap)
        if outcome[0] or gate.denied != NEEDS_WATCH:
            return outcome
        gate.denied, gate.linear_only = None, False
        return self._run_watched(session, text, deadline - time.perf_counter(), cap)

    def _run_watched(self, session: Session, text: str, budget: float, cap: int) -> tuple[bool, Any] | None:
        """(ok, result or error) from the session's statement thread while this thread holds the
        deadline; None when the statement ignored the cancel and its connection was cut."""
        box, done = session.worker.submit(session.run, text, budget, cap)  # type: ignore[attr-defined]
        if not done.wait(budget + _GRACE_S):
            # On its own thread: MariaDB's KILL QUERY needs a second connection, which takes time.
            canceller = threading.Thread(target=_quietly, args=(session.cancel,), daemon=True)
            canceller.start()
            if not done.wait(budget * 0.2):
                session.abort()
                self._drop_session(abandoned=True)
                return None
            canceller.join(budget * 0.1)
            if canceller.is_alive():
                self._drop_session()  # a late KILL QUERY must not hit this session's next query
        return box[0]

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
            self._closed = True
        for session in sessions:
            session.worker.stop(then=session.close)  # type: ignore[attr-defined]
            session.worker.thread.join(timeout=2)  # type: ignore[attr-defined]
        self._local = threading.local()
        self._engine.dispose()

    def __enter__(self) -> ReadOnlyExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _run_here(session: Session, text: str, budget: float, cap: int) -> tuple[bool, Any]:
    """(ok, result or error) of a statement run on the calling thread."""
    try:
        return True, session.run(text, budget, cap)
    except Exception as err:  # noqa: BLE001 - classified by the caller, as one from the statement thread
        return False, err


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception:  # a failed cancel is followed by the cut, which needs no server
        pass


def _connection_lost(session: Session) -> bool:
    """Whether the server side went away (psycopg2 `.closed`, PyMySQL `.open`)."""
    conn = session.conn
    if isinstance(getattr(conn, "closed", None), int):
        return bool(conn.closed)
    if isinstance(getattr(conn, "open", None), bool):
        return not conn.open
    return False


_EXECUTORS: dict[tuple, ReadOnlyExecutor] = {}
_EXECUTORS_LOCK = threading.Lock()


def executor_for(db: DatabaseConfig) -> ReadOnlyExecutor:
    """The shared executor of a configured database (its connections are per thread)."""
    from nl2sql_pipeline.core.connection import resolve_url, sqlglot_dialect

    url = resolve_url(db)
    allowed = tuple(db.validation.allowed_sources)
    key = (db.name, url.render_as_string(hide_password=False), sqlglot_dialect(db, url),
           db.validation.timeout_s, db.validation.row_cap, db.db_schema, tuple(db.include), tuple(db.exclude), allowed)
    with _EXECUTORS_LOCK:
        executor = _EXECUTORS.get(key)
        if executor is None or executor._closed:
            executor = ReadOnlyExecutor(url, key[2], timeout_s=db.validation.timeout_s, row_cap=db.validation.row_cap,
                                        schema=db.db_schema, include=db.include, exclude=db.exclude,
                                        allowed_sources=allowed)
            _EXECUTORS[key] = executor
        return executor


def close_executors() -> None:
    """Close every cached executor (tests, end of a run)."""
    with _EXECUTORS_LOCK:
        executors = list(_EXECUTORS.values())
        _EXECUTORS.clear()
    for executor in executors:
        executor.close()
