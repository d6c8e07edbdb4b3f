"""A read-only executor for untrusted queries, shared by validation and evaluation.

Every single safeguard has a known escape (stack notes, "Running untrusted SELECTs"), so they
are layered:

1. before the driver, sqlglot must parse exactly one statement, and it must be a query with no
   data-modifying part (no `WITH x AS (DELETE ...)`, `SELECT INTO`, `FOR UPDATE`, file or lock
   functions); anything else is `rejected` with the reason;
2. the engine itself: SQLite read-only URI + no attachments + `query_only` + a progress-handler
   deadline; PostgreSQL a READ ONLY transaction with `SET LOCAL statement_timeout`, rolled back
   after each query (plus a SELECT-only role, see README); MariaDB/MySQL `START TRANSACTION READ
   ONLY` with `max_statement_time` / `max_execution_time`, multi-statements refused by PyMySQL;
3. a row cap on what is fetched (server-side cursors, so a huge result is never transferred).

One DBAPI connection per executor and thread, reused across calls.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any, Literal

import sqlalchemy as sa
import sqlglot
from pydantic import BaseModel
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from nl2sql_pipeline.core import hardness
from nl2sql_pipeline.core.config import DatabaseConfig

ErrorKind = Literal["rejected", "syntax", "timeout", "runtime"]

# Statement kinds that must not appear anywhere in the tree (data-modifying CTEs included).
FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "Command", "Copy",
        "Transaction", "Commit", "Rollback", "Set", "Pragma", "Use", "Attach", "Detach", "Into",
        "Lock", "TruncateTable", "Grant", "Revoke", "LoadData", "Cache", "Uncache", "Refresh",
        "Analyze", "Kill", "Declare", "Execute",
    )
    if hasattr(exp, name)
)

# Functions that write files, read the server's files, take session locks, change settings or
# sequences, or reach other servers: harmless-looking inside a SELECT, so named explicitly.
FORBIDDEN_FUNCTIONS = frozenset(
    """
    load_extension writefile readfile edit fts3_tokenizer
    pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file pg_ls_logdir pg_ls_waldir pg_ls_tmpdir
    lo_import lo_export lo_unlink lo_create lo_creat lo_from_bytea lo_put lo_truncate
    pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile pg_switch_wal
    pg_create_restore_point pg_promote pg_notify set_config nextval setval
    pg_advisory_lock pg_advisory_lock_shared pg_advisory_xact_lock pg_advisory_xact_lock_shared
    pg_try_advisory_lock pg_try_advisory_lock_shared pg_try_advisory_xact_lock
    pg_try_advisory_xact_lock_shared dblink dblink_exec dblink_connect dblink_send_query
    pg_logical_emit_message pg_replication_origin_create query_to_xml
    load_file get_lock release_lock release_all_locks is_free_lock sys_exec sys_eval
    """.split()
)

# sqlglot parses some of those into typed nodes rather than Anonymous: look for those classes too.
_FORBIDDEN_FUNC_CLASSES: tuple[type[exp.Func], ...] = tuple(
    cls for cls in exp.ALL_FUNCTIONS if {n.lower() for n in cls.sql_names()} & FORBIDDEN_FUNCTIONS
)

QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)
_FIRST_WORDS = {"SELECT", "WITH", "VALUES", "(", "TABLE"}


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


class QueryCheck(BaseModel):
    """Layer 1's verdict on a query string: None kind means it may run."""

    kind: Literal["rejected", "syntax"] | None = None
    reason: str | None = None


def _first_word(sql: str, dialect: str) -> str:
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except (TokenError, ValueError):
        return sql.split(None, 1)[0].upper()
    return tokens[0].text.upper() if tokens else ""


_PARSERS = threading.local()


def _parse(text: str, dialect: str) -> list[exp.Expression | None]:
    """sqlglot.parse with this thread's tokenizer and parser for the dialect kept between calls:
    the gate runs on every query, and building them each time was a quarter of its cost."""
    cached = getattr(_PARSERS, "by_dialect", None)
    if cached is None:
        cached = _PARSERS.by_dialect = {}
    if dialect not in cached:
        d = Dialect.get_or_raise(dialect)
        cached[dialect] = (d.tokenizer(), d.parser())
    tokenizer, parser = cached[dialect]
    return parser.parse(tokenizer.tokenize(text), text)


def _parse_statements(text: str, dialect: str) -> list[exp.Expression]:
    try:
        return [s for s in _parse(text, dialect) if s is not None and not isinstance(s, exp.Semicolon)]
    except ParseError:
        # Columns named like statement keywords (spider-de's `alter`) defeat sqlglot; the hardness
        # module re-reads them as names. Only for a single statement: any inner `;` stays fatal.
        tokens = sqlglot.tokenize(text, read=dialect)
        if any(t.token_type == TokenType.SEMICOLON for t in tokens):
            raise
        return [hardness.parse_query(text, dialect)]


def parse_query(sql: str, dialect: str) -> tuple[exp.Expression | None, QueryCheck]:
    """Parse `sql` and decide whether it is exactly one side-effect-free query.

    >>> parse_query("SELECT 1; DELETE FROM t", "sqlite")[1].kind
    'rejected'
    """
    text = sql.strip().rstrip(";").strip()
    if not text:
        return None, QueryCheck(kind="syntax", reason="the query is empty")
    if "/*!" in text or "/*M!" in text:
        # MySQL and MariaDB execute the inside of /*! ... */ while sqlglot skips it as a comment.
        return None, _rejected("executable /*! ... */ comments are not allowed")
    try:
        statements = _parse_statements(text, dialect)
    except (ParseError, TokenError, ValueError) as err:
        first = _first_word(text, dialect)
        if first not in _FIRST_WORDS:
            return None, _rejected(f"only queries (SELECT / WITH) may run, not {first}")
        if any(word in text.upper() for word in ("OUTFILE", "DUMPFILE")):
            return None, _rejected("SELECT ... INTO OUTFILE/DUMPFILE writes files")
        return None, QueryCheck(kind="syntax", reason=f"does not parse as {dialect}: {_short(err)}")
    if len(statements) != 1:
        kinds = ", ".join(_first_word(s.sql(dialect=dialect), dialect) for s in statements)
        return None, _rejected(f"exactly one statement may run; got {len(statements)} ({kinds})")
    tree = statements[0]
    body = tree.unnest() if isinstance(tree, exp.Subquery) else tree
    if not isinstance(body, QUERY_ROOTS):
        return None, _rejected(f"only queries (SELECT / WITH) may run, not {_first_word(text, dialect)}")
    problem = _side_effect(tree)
    return (None, _rejected(problem)) if problem else (tree, QueryCheck())


def _rejected(reason: str) -> QueryCheck:
    return QueryCheck(kind="rejected", reason=reason)


_NODE_KIND: dict[type, str] = {}  # node class -> "into" | "lock" | "statement" | "function" | ""


def _node_kind(cls: type) -> str:
    """What a node class means for the side-effect check, decided once per class."""
    kind = _NODE_KIND.get(cls)
    if kind is None:
        kind = (
            "into" if issubclass(cls, exp.Into) else
            "lock" if issubclass(cls, exp.Lock) else
            "statement" if issubclass(cls, FORBIDDEN_NODES) else
            "function" if issubclass(cls, (exp.Anonymous, *_FORBIDDEN_FUNC_CLASSES)) else ""
        )
        _NODE_KIND[cls] = kind
    return kind


def _side_effect(tree: exp.Expression) -> str | None:
    """Why a parsed query could change something (a data-modifying part or function), or None.

    One walk over the tree with one lookup per node: this runs on every query.
    """
    for node in tree.walk():
        kind = _NODE_KIND.get(type(node))
        if kind is None:
            kind = _node_kind(type(node))
        if not kind:
            continue
        if kind == "into":
            return "the query contains SELECT ... INTO, which may change data"
        if kind == "lock":
            return "the query contains FOR UPDATE/SHARE locking, which may change data"
        if kind == "statement":
            return f"the query contains an embedded {node.key.upper()}, which may change data"
        name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        if name in FORBIDDEN_FUNCTIONS:
            return f"function {name}() is not allowed (files, locks, settings or sequences)"
    return None


def _short(err: Exception) -> str:
    text = str(err).replace("\x1b[4m", "").replace("\x1b[0m", "")
    return " ".join(text.split())[:300]


# --- engine-specific sessions -------------------------------------------------------------


class _Session:
    """One DBAPI connection plus the engine's way of running a query read-only with a deadline."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw  # SQLAlchemy pool proxy; .driver_connection is the DBAPI connection
        self.conn = raw.driver_connection

    def run(self, sql: str, timeout_s: float, row_cap: int) -> tuple[list[str], list[tuple], bool]:
        raise NotImplementedError

    def close(self) -> None:
        try:
            self.raw.close()
        except Exception:  # closing a broken connection must not hide the original error
            pass


def _fetch(cursor: Any, row_cap: int) -> tuple[list[str], list[tuple], bool]:
    rows = [tuple(r) for r in cursor.fetchmany(row_cap + 1)]
    columns = [d[0] for d in cursor.description or []]
    return columns, rows[:row_cap], len(rows) > row_cap


class _SqliteSession(_Session):
    def __init__(self, raw: Any) -> None:
        super().__init__(raw)
        self.conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        self.conn.execute("PRAGMA query_only = 1")
        self.deadline = 0.0

    def _expired(self) -> int:
        return 1 if time.perf_counter() > self.deadline else 0

    def run(self, sql: str, timeout_s: float, row_cap: int) -> tuple[list[str], list[tuple], bool]:
        self.deadline = time.perf_counter() + timeout_s
        self.conn.set_progress_handler(self._expired, 1000)
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql)
            return _fetch(cursor, row_cap)
        finally:
            cursor.close()
            self.conn.set_progress_handler(None, 0)


class _PostgresSession(_Session):
    def __init__(self, raw: Any) -> None:
        super().__init__(raw)
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            # Read-only also outside our transactions, in case a statement manages to end one.
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        self.conn.autocommit = False
        self.conn.readonly = True  # psycopg2 then opens every transaction with BEGIN READ ONLY
        self.counter = 0

    def run(self, sql: str, timeout_s: float, row_cap: int) -> tuple[list[str], list[tuple], bool]:
        self.counter += 1
        try:
            with self.conn.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
            # A named (server-side) cursor: only row_cap + 1 rows ever cross the wire.
            cursor = self.conn.cursor(name=f"nl2sql_q{self.counter}")
            try:
                cursor.execute(sql)
                return _fetch(cursor, row_cap)
            finally:
                cursor.close()
        finally:
            self.conn.rollback()


class _MysqlSession(_Session):
    def __init__(self, raw: Any) -> None:
        super().__init__(raw)
        self.conn.autocommit(True)
        with self.conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION READ ONLY")
            cur.execute("SELECT VERSION()")
            self.mariadb = "mariadb" in str(cur.fetchone()[0]).lower()

    def run(self, sql: str, timeout_s: float, row_cap: int) -> tuple[list[str], list[tuple], bool]:
        import pymysql.cursors

        with self.conn.cursor() as cur:
            cur.execute("START TRANSACTION READ ONLY")
            if not self.mariadb:
                cur.execute(f"SET SESSION max_execution_time = {max(1, int(timeout_s * 1000))}")
        if self.mariadb:
            sql = f"SET STATEMENT max_statement_time={max(0.001, timeout_s):.3f} FOR {sql}"
        try:
            cursor = self.conn.cursor(pymysql.cursors.SSCursor)  # unbuffered: rows stream
            try:
                cursor.execute(sql)
                return _fetch(cursor, row_cap)
            finally:
                cursor.close()
        finally:
            with self.conn.cursor() as cur:
                cur.execute("ROLLBACK")


_NATIVE_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
_SESSIONS: dict[str, type[_Session]] = {
    "sqlite": _SqliteSession,
    "postgresql": _PostgresSession,
    "mysql": _MysqlSession,
    "mariadb": _MysqlSession,
}


# --- classifying driver errors ------------------------------------------------------------

_TIMEOUT_MARKERS = ("interrupted", "statement timeout", "canceling statement", "max_statement_time",
                    "maximum statement execution time", "query execution was interrupted")
_READONLY_MARKERS = ("readonly database", "read-only transaction", "read only transaction", "query_only",
                     "permission denied", "command denied", "too many attached databases", "not authorized")
_SYNTAX_MARKERS = ("syntax error", "error in your sql syntax", "syntax_error")


def classify_error(err: Exception) -> tuple[ErrorKind, str]:
    """(kind, message) of a driver error: timeouts and refused writes are told apart from bugs."""
    orig = getattr(err, "orig", None) or err
    lines = str(orig).strip().splitlines()  # PostgreSQL appends LINE/caret context: keep the message
    text = " ".join(lines[0].split())[:500] if lines else type(orig).__name__
    low = text.lower()
    args = getattr(orig, "args", None) or (None,)
    code = getattr(orig, "pgcode", None) or (args[0] if isinstance(args[0], int) else None)  # MySQL errno
    if code in ("57014", 1969, 3024) or any(m in low for m in _TIMEOUT_MARKERS):
        return "timeout", text
    if code in ("25006", "42501", 1792, 1142, 1227) or any(m in low for m in _READONLY_MARKERS):
        return "rejected", f"the database refused: {text}"
    if code in ("42601", 1064) or any(m in low for m in _SYNTAX_MARKERS):
        return "syntax", text
    return "runtime", text


# --- the executor -------------------------------------------------------------------------


class ReadOnlyExecutor:
    """Runs untrusted queries read-only, with a time budget and a row cap; never raises for bad SQL.

    >>> with ReadOnlyExecutor("sqlite:///file:/tmp/x.db?mode=ro&uri=true", "sqlite") as ex:  # doctest: +SKIP
    ...     ex.execute("SELECT 1").rows
    [(1,)]
    """

    def __init__(self, url: URL | str, dialect: str, *, timeout_s: float = 5.0, row_cap: int = 1000) -> None:
        self.url = make_url(url) if isinstance(url, str) else url
        self.dialect = dialect
        self.timeout_s = timeout_s
        self.row_cap = row_cap
        self.backend = self.url.get_backend_name()
        self._native = _NATIVE_DIALECTS.get(self.backend)
        if self.backend not in _SESSIONS:
            raise ValueError(f"no read-only executor for {self.backend!r}; supported: {', '.join(_SESSIONS)}")
        connect_args: dict[str, Any] = {}
        if self.backend == "sqlite":
            connect_args["check_same_thread"] = False  # close() may run on another thread
        elif self.backend in ("postgresql", "mysql", "mariadb"):
            connect_args["connect_timeout"] = 10
        # NullPool: the executor keeps its own per-thread connections; close() really closes.
        self._engine = sa.create_engine(self.url, poolclass=NullPool, connect_args=connect_args)
        self._local = threading.local()
        self._sessions: list[_Session] = []
        self._lock = threading.Lock()
        self._closed = False

    def _session(self) -> _Session:
        session = getattr(self._local, "session", None)
        if session is None:
            if self._closed:
                raise RuntimeError("this ReadOnlyExecutor is closed")
            session = _SESSIONS[self.backend](self._engine.raw_connection())
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _drop_session(self) -> None:
        session = getattr(self._local, "session", None)
        self._local.session = None
        if session is not None:
            session.close()
            with self._lock:
                if session in self._sessions:
                    self._sessions.remove(session)

    def check(self, sql: str) -> QueryCheck:
        """Layer 1 alone: may this string run at all?

        A configured dialect that differs from the engine's (say `mysql` on PostgreSQL) would
        split strings differently (`'a\\' ; DELETE ...`): the engine's own dialect must agree.
        """
        verdict = parse_query(sql, self.dialect)[1]
        if verdict.kind is None and self._native not in (None, self.dialect):
            native = parse_query(sql, self._native)[1]
            if native.kind:
                return _rejected(f"as {self._native}, which the engine speaks: {native.reason}")
        return verdict

    def execute(self, sql: str, *, timeout_s: float | None = None, row_cap: int | None = None) -> ExecutionResult:
        started = time.perf_counter()
        timeout = self.timeout_s if timeout_s is None else timeout_s
        cap = self.row_cap if row_cap is None else row_cap

        def failed(kind: ErrorKind, reason: str) -> ExecutionResult:
            return ExecutionResult(ok=False, elapsed_s=time.perf_counter() - started, error_kind=kind, error=reason)

        verdict = self.check(sql)
        if verdict.kind:
            return failed(verdict.kind, verdict.reason or verdict.kind)
        try:
            session = self._session()
        except Exception as err:
            return failed("runtime", f"cannot connect: {classify_error(err)[1]}")
        try:
            columns, rows, truncated = session.run(sql.strip().rstrip(";"), timeout, cap)
        except Exception as err:
            kind, message = classify_error(err)
            if _connection_lost(session):
                self._drop_session()  # the next call reconnects
            return failed(kind, message)
        return ExecutionResult(
            ok=True,
            columns=columns,
            rows=rows,
            row_count=len(rows),
            truncated=truncated,
            elapsed_s=time.perf_counter() - started,
        )

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
            self._closed = True
        for session in sessions:
            session.close()
        self._local = threading.local()
        self._engine.dispose()

    def __enter__(self) -> ReadOnlyExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connection_lost(session: _Session) -> bool:
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
    key = (db.name, url.render_as_string(hide_password=False), sqlglot_dialect(db, url),
           db.validation.timeout_s, db.validation.row_cap)
    with _EXECUTORS_LOCK:
        executor = _EXECUTORS.get(key)
        if executor is None or executor._closed:
            executor = ReadOnlyExecutor(url, key[2], timeout_s=db.validation.timeout_s, row_cap=db.validation.row_cap)
            _EXECUTORS[key] = executor
        return executor


def close_executors() -> None:
    """Close every cached executor (tests, end of a run)."""
    with _EXECUTORS_LOCK:
        executors = list(_EXECUTORS.values())
        _EXECUTORS.clear()
    for executor in executors:
        executor.close()
