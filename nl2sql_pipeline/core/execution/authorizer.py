"""SQLite's own parser as the gate: an authorizer that allows only what a read-only query does.

SQLite calls the authorizer while it prepares a statement, once for every action the statement
would take, as SQLite itself has read the text: each SELECT, each table and column read (with
its database), each function it resolved by name (the LIKE / GLOB operators included), each
recursive CTE. Anything else (INSERT, CREATE, PRAGMA, ATTACH, a transaction, a virtual table's
set-up) is an action the allowlist lacks, so the statement fails to prepare and never runs.

Since this is the engine's reading, no lexer can disagree with it, and no sqlglot parse is
needed: the evaluation gates its predictions this way on SQLite (`ReadOnlyExecutor(...,
engine_gate=True)`), the sqlglot gate's cost being more than half of an item's. Reads obey the
same `SourcePolicy` (configured tables, include/exclude; a read inside a view must be allowed
itself) and calls the same function allowlist as the sqlglot gate.

`linear_only` also refuses calls that can run long inside one VM instruction, beyond the
progress handler's reach (`allowlist.linear_calls`): a statement refused only for that is run
again on the watched thread with it off.
"""

from __future__ import annotations

import sqlite3

from nl2sql_pipeline.core.execution.allowlist import FUNCTIONS, SQLITE_LINEAR
from nl2sql_pipeline.core.execution.sources import SourcePolicy

NEEDS_WATCH = "a call that the engine's own deadline checks cannot stop"
_OK, _DENY = sqlite3.SQLITE_OK, sqlite3.SQLITE_DENY
_SELECT, _READ, _FUNCTION, _RECURSIVE = sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE
_ACTIONS = {getattr(sqlite3, n): n.removeprefix("SQLITE_") for n in dir(sqlite3)
            if n.startswith("SQLITE_") and n.removeprefix("SQLITE_").split("_")[0] in
            {"CREATE", "DROP", "INSERT", "UPDATE", "DELETE", "PRAGMA", "ATTACH", "DETACH", "TRANSACTION", "SAVEPOINT",
             "ANALYZE", "REINDEX", "ALTER", "COPY"}}
_INTERNAL = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema", "sqlite_sequence",
                       "sqlite_stat1", "sqlite_stat2", "sqlite_stat3", "sqlite_stat4"})
_LIMITS = ("parser stack overflow", "Expression tree is too large", "too many arguments on function")


class EngineGate:
    """The authorizer callback of one SQLite session; `denied` says why the last statement was refused."""

    def __init__(self, policy: SourcePolicy, tables: frozenset[str]) -> None:
        self.policy = policy
        # Every table and view of the database, excluded ones too (lower case): SQLite reports
        # a table read without columns (`count(*)`) for a CTE's name too, and only a real
        # table's row count can leak.
        self.tables = tables | _INTERNAL
        self.functions = FUNCTIONS["sqlite"]
        self.linear_only = False
        self.denied: str | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, database: str | None, inner: str | None) -> int:
        if action == _READ:
            cte = not arg2 and database is None and (arg1 or "").lower() not in self.tables
            reason = None if cte else self.read_problem(arg1 or "", database)
        elif action == _FUNCTION:
            name = (arg2 or "").lower()
            if name not in self.functions:
                reason = f"function {name}() is not allowed (not in the sqlite function allowlist)"
            else:
                reason = NEEDS_WATCH if self.linear_only and name not in SQLITE_LINEAR else None
        elif action == _SELECT:
            return _OK
        elif action == _RECURSIVE:
            reason = NEEDS_WATCH if self.linear_only else None
        elif action == sqlite3.SQLITE_UPDATE and (arg1 or "").lower() == "sqlite_master":
            reason = "table-valued functions and virtual tables (json_each, pragma_*) are not allowed here"
        else:
            word = _ACTIONS.get(action, f"action {action}").split("_")[0]
            reason = f"only queries (SELECT / WITH) may run, not {word}"
        if reason is None:
            return _OK
        if self.denied is None or self.denied == NEEDS_WATCH:  # the first real refusal is the one to report
            self.denied = reason
        return _DENY

    def read_problem(self, table: str, database: str | None) -> str | None:
        schema = "" if database in (None, "main") else database.lower()
        return self.policy._outside(table.lower(), schema, "")  # noqa: SLF001 - the same rules and messages

    def refusal(self, err: BaseException) -> str | None:
        """Why the statement that raised `err` was refused before it ran, or None (an ordinary
        engine error: syntax, an unknown column, a failure while running)."""
        if self.denied is not None and self.denied != NEEDS_WATCH:
            return self.denied
        message = str(err)
        if isinstance(err, sqlite3.ProgrammingError):  # raised by the driver before anything runs
            if "one statement at a time" in message:
                return "exactly one statement may run"
            if "null character" in message:
                return "the query contains a NUL character"
        if not isinstance(err, sqlite3.OperationalError):
            return None
        if "compound SELECT" in message:  # our cap, which SQLite enforces
            return f"the query is beyond the limits: {message} (QueryLimits.max_set_operations)"
        if any(limit in message for limit in _LIMITS):
            return f"the query is beyond SQLite's own limits: {message}"
        return self.unknown_name(message)

    def unknown_name(self, message: str) -> str | None:
        """The refusal for an engine error about a name the policy or allowlist would have refused
        (SQLite resolves names before it asks the authorizer), or None."""
        if message.startswith("no such table: "):
            schema, _, table = message.removeprefix("no such table: ").rpartition(".")
            return self.read_problem(table, schema or None) or f"no such table: {table}"
        if message.startswith("no such function: "):
            name = message.removeprefix("no such function: ").lower()
            return None if name in self.functions else f"function {name}() is not allowed (not in the sqlite function allowlist)"
        return None


_QUERY_WORDS = ("select", "with", "values")
_SPACE = " \t\n\f\r"


def first_word_problem(text: str) -> str | None:
    """SQLite compiles some statements that change nothing to no action at all (`DROP VIEW IF
    EXISTS` of a missing view), so the authorizer never sees them: the statement must also start,
    after SQLite's whitespace and comments, with SELECT, WITH or VALUES."""
    i, n = 0, len(text)
    while i < n:
        if text[i] in _SPACE:
            i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            break
    word = ""
    while i < n and (text[i].isalnum() or text[i] == "_"):
        word += text[i]
        i += 1
    if word.lower() in _QUERY_WORDS:
        return None
    what = word.upper() or (repr(text[i]) if i < n else "an empty statement")
    return f"only queries (SELECT / WITH) may run, not {what}"
