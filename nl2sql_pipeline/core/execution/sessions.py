"""Engine sessions: one DBAPI connection, pinned settings, a read-only run with caps, hygiene.

Every session pins the settings that change how the engine lexes SQL (the gate's lexer rules
assume them) and refuses to start when it cannot: PostgreSQL `standard_conforming_strings=on`,
UTF-8 client encoding and the configured `search_path`; MariaDB/MySQL a known `sql_mode`
(no `NO_BACKSLASH_ESCAPES`, no `ANSI_QUOTES`) and utf8mb4. After every query the session state
is reset (transaction rolled back, advisory/user locks released, MariaDB's connection reset so
user variables do not survive), so one query cannot influence the next.

Results are counted in bytes while they are fetched (total and per cell): SQLite's own
SQLITE_LIMIT_LENGTH refuses oversized values inside the engine; on the servers rows stream
through server-side cursors and the fetch stops at the cap.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from nl2sql_pipeline.core.execution.authorizer import EngineGate
from nl2sql_pipeline.core.execution.gate import QueryCheck
from nl2sql_pipeline.core.execution.limits import QueryLimits
from nl2sql_pipeline.core.execution.sources import SourcePolicy, matching

MYSQL_SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"


ROW_CAP_MARKER = "nl2sql: a row is over the per-cell byte cap"


class SessionSetupError(RuntimeError):
    """The session could not be put into the state the gate's guarantees assume."""


class ResultTooLarge(RuntimeError):
    """A result went past the byte caps while it was fetched."""


class Session:
    """One DBAPI connection plus the engine's way of running a query read-only with a deadline."""

    engine = ""
    gate: EngineGate | None = None  # the engine's own gate, where one is in use

    def __init__(self, raw: Any, schema: str | None, include: list[str], exclude: list[str],
                 allowed: tuple[str, ...], limits: QueryLimits, open_other: Callable[[], Any] | None = None) -> None:
        self.raw = raw  # SQLAlchemy pool proxy; .driver_connection is the DBAPI connection
        self.conn = raw.driver_connection
        self.limits = limits
        self.open_other = open_other  # a second connection with the same credentials (cancels)
        self.policy = self.setup(schema, include, exclude, allowed)

    def setup(self, schema: str | None, include: list[str], exclude: list[str], allowed: tuple[str, ...]) -> SourcePolicy:
        raise NotImplementedError

    def run(self, sql: str, timeout_s: float, row_cap: int) -> tuple[list[str], list[tuple], bool]:
        raise NotImplementedError

    def stops_itself(self, check: QueryCheck) -> bool:
        """Whether the engine's own deadline checks alone stop this query in time, so it needs
        no watchdog thread (SQLite's progress handler for `linear_calls` queries)."""
        return False

    def cancel(self) -> None:
        """Ask the engine to stop the running statement (called from another thread)."""

    def abort(self) -> None:
        """Cut the connection under a statement that ignored the cancel (another thread)."""
        fileno = getattr(self.conn, "fileno", None)
        try:
            sock = socket.socket(fileno=fileno()) if callable(fileno) else None
        except OSError:
            sock = None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                sock.detach()  # the driver still owns the descriptor

    def close(self) -> None:
        try:
            # invalidate(): closes the DBAPI connection without the pool's reset (a rollback that
            # would fail, loudly, on a connection the deadline cut); every query rolled back anyway.
            self.raw.invalidate()
        except Exception:  # closing a broken connection must not hide the original error
            pass

    def fetch(self, cursor: Any, row_cap: int) -> tuple[list[str], list[tuple], bool]:
        """Up to row_cap rows, counting bytes as they arrive."""
        cell_cap, total_cap = self.limits.max_cell_bytes, self.limits.max_result_bytes
        rows: list[tuple] = []
        total = 0
        batch = min(256, row_cap + 1)
        while len(rows) <= row_cap:
            chunk = cursor.fetchmany(batch)
            if not chunk:
                break
            for row in chunk:
                row = tuple(row)
                size = 0
                for cell in row:
                    n = len(cell) if isinstance(cell, (str, bytes, bytearray, memoryview)) else 8
                    if n > cell_cap:
                        raise ResultTooLarge(f"a value of {n:,} bytes is over the per-cell cap of {cell_cap:,} "
                                             "(QueryLimits.max_cell_bytes)")
                    size += n
                total += size
                if total > total_cap:
                    raise ResultTooLarge(f"the result is over the cap of {total_cap:,} bytes "
                                         "(QueryLimits.max_result_bytes); select fewer or smaller columns")
                rows.append(row)
        columns = [d[0] for d in cursor.description or []]
        return columns, rows[:row_cap], len(rows) > row_cap


class SqliteSession(Session):
    engine = "sqlite"

    def setup(self, schema, include, exclude, allowed) -> SourcePolicy:
        self.conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        self.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, self.limits.max_cell_bytes)
        self.conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000)
        self.conn.execute("PRAGMA query_only = 1")
        if self.conn.execute("PRAGMA query_only").fetchone()[0] != 1:
            raise SessionSetupError("SQLite refused PRAGMA query_only = 1")
        self.deadline = 0.0
        names = [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        self.names = frozenset(n.lower() for n in names)
        return SourcePolicy("sqlite", frozenset({"main"}), frozenset(n.lower() for n in matching(names, include, exclude)),
                            allowed=allowed)

    def stops_itself(self, check: QueryCheck) -> bool:
        return check.linear_calls

    def use_engine_gate(self) -> EngineGate:
        """From now on SQLite's authorizer judges every statement (authorizer.py)."""
        self.gate = EngineGate(self.policy, self.names)
        # The parse gate's cap on set operations, where SQLite has the knob (its own parser is
        # safe at any depth it accepts: it reports "parser stack overflow" instead).
        self.conn.setlimit(sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, self.limits.max_set_operations + 1)
        self.conn.set_authorizer(self.gate)
        return self.gate

    def _expired(self) -> int:
        return 1 if time.perf_counter() > self.deadline else 0

    def cancel(self) -> None:
        self.conn.interrupt()

    def abort(self) -> None:
        self.conn.interrupt()

    def run(self, sql: str, timeout_s: float, row_cap: int) -> tuple[list[str], list[tuple], bool]:
        self.deadline = time.perf_counter() + timeout_s
        self.conn.set_progress_handler(self._expired, 1000)
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql)
            return self.fetch(cursor, row_cap)
        finally:
            cursor.close()
            self.conn.set_progress_handler(None, 0)


class PostgresSession(Session):
    engine = "postgres"

    def setup(self, schema, include, exclude, allowed) -> SourcePolicy:
        self.counter = 0
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            # Read-only also outside our transactions, in case a statement manages to end one.
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cur.execute("SET standard_conforming_strings = on")
            cur.execute("SET client_encoding = 'UTF8'")
            if schema:
                cur.execute("SELECT set_config('search_path', quote_ident(%s), false)", (schema,))
            cur.execute("SELECT current_setting('standard_conforming_strings'), current_setting('client_encoding'), "
                        "current_schema(), current_database()")
            scs, encoding, current, database = cur.fetchone()
            if scs != "on" or encoding.upper() != "UTF8":
                raise SessionSetupError(f"PostgreSQL kept standard_conforming_strings={scs}, client_encoding={encoding}")
            schemas = [schema or current or "public"]
            cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')", (schemas,))
            names = [r[0] for r in cur.fetchall()]
            cur.execute("SELECT relname FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace")
            catalog = frozenset(r[0] for r in cur.fetchall())
        self.conn.autocommit = False
        self.conn.readonly = True  # psycopg2 then opens every transaction with BEGIN READ ONLY
        return SourcePolicy("postgres", frozenset(schemas), frozenset(matching(names, include, exclude)),
                            shadowing=catalog, allowed=allowed, case_sensitive=True, extra=frozenset({database}))

    def cancel(self) -> None:
        # pg_cancel_backend from a second connection of the same role (allowed without
        # pg_signal_backend). Not psycopg2's conn.cancel(): it holds the GIL while it waits on
        # the network, so a stalled server would freeze the whole process.
        pid = self.conn.get_backend_pid()
        other = self.open_other()
        try:
            other.driver_connection.autocommit = True
            with other.driver_connection.cursor() as cur:
                cur.execute("SELECT pg_cancel_backend(%s)", (pid,))
        finally:
            other.close()

    def _row_capped(self, sql: str) -> str:
        """The query wrapped so the server refuses a row over the per-cell cap before sending it
        (libpq holds whole rows in memory: four rows of repeat('x', 3e8) took 2.7 GB). The query
        passed the gate as exactly one statement, so the parentheses cannot be escaped; the new
        line ends a trailing `--` comment."""
        cap = int(self.limits.max_cell_bytes)
        # The cast's input depends on the row, so the planner cannot fold (and raise) it early.
        return (f"SELECT * FROM (\n{sql}\n) AS nl2sql_row WHERE CAST(CASE WHEN pg_column_size(nl2sql_row.*) > {cap} "
                f"THEN '{ROW_CAP_MARKER}' ELSE '0' END AS int) = 0")

    def run(self, sql: str, timeout_s: float, row_cap: int) -> tuple[list[str], list[tuple], bool]:
        self.counter += 1
        try:
            with self.conn.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
            # A named (server-side) cursor: only what is fetched crosses the wire.
            cursor = self.conn.cursor(name=f"nl2sql_q{self.counter}")
            try:
                cursor.execute(self._row_capped(sql))
                return self.fetch(cursor, row_cap)
            finally:
                cursor.close()
        finally:
            self.conn.rollback()
            # Session-level advisory locks survive ROLLBACK: release whatever a query took.
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock_all()")
            self.conn.rollback()


class MysqlSession(Session):
    engine = "mysql"

    def setup(self, schema, include, exclude, allowed) -> SourcePolicy:
        self.conn.autocommit(True)
        with self.conn.cursor() as cur:
            cur.execute("SELECT VERSION(), DATABASE(), @@lower_case_table_names")
            version, database, lower_case = cur.fetchone()
            self.mariadb = "mariadb" in str(version).lower()
            if schema and schema != database:
                cur.execute(f"USE `{schema.replace('`', '``')}`")
                database = schema
            self._pin(cur)
            cur.execute("SELECT @@SESSION.sql_mode, @@character_set_client, @@character_set_connection")
            mode, client, connection = cur.fetchone()
            if set(mode.split(",")) != set(MYSQL_SQL_MODE.split(",")) or client != "utf8mb4" or connection != "utf8mb4":
                raise SessionSetupError(f"the server kept sql_mode={mode!r}, character set {client}/{connection}")
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
            names = [r[0] for r in cur.fetchall()]
        self.database = database
        sensitive = int(lower_case or 0) == 0
        tables = matching(names, include, exclude)
        return SourcePolicy("mysql", frozenset({database if sensitive else str(database).lower()}),
                            frozenset(tables if sensitive else (t.lower() for t in tables)),
                            allowed=allowed, case_sensitive=sensitive)

    def _pin(self, cur: Any) -> None:
        cur.execute(f"SET NAMES utf8mb4, SESSION sql_mode = '{MYSQL_SQL_MODE}'")
        cur.execute("SET SESSION TRANSACTION READ ONLY")

    def cancel(self) -> None:
        thread_id = self.conn.thread_id()
        other = self.open_other()  # KILL QUERY of one's own thread needs no PROCESS privilege
        try:
            with other.driver_connection.cursor() as cur:
                cur.execute(f"KILL QUERY {int(thread_id)}")
        finally:
            other.close()

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
                result = self.fetch(cursor, row_cap)
                if cursor.warning_count:
                    self._raise_interrupted()
                return result
            finally:
                cursor.close()
        finally:
            with self.conn.cursor() as cur:
                cur.execute("ROLLBACK")
                # COM_RESET_CONNECTION drops user variables, locks and temporary state; the
                # settings it resets are pinned again at once.
                self.conn._execute_command(0x1F, b"")
                self.conn._read_ok_packet()
                self._pin(cur)

    def _raise_interrupted(self) -> None:
        """MariaDB may end a statement at max_statement_time with a warning and a partial result."""
        with self.conn.cursor() as cur:
            cur.execute("SHOW WARNINGS")
            for _level, code, message in cur.fetchall():
                if int(code) in (1317, 1969, 3024):
                    raise TimeoutError(f"statement interrupted: {message}")


SESSIONS: dict[str, type[Session]] = {
    "sqlite": SqliteSession,
    "postgresql": PostgresSession,
    "mysql": MysqlSession,
    "mariadb": MysqlSession,
}
