"""A read-only executor for untrusted queries, shared by validation and evaluation.

Every single safeguard has a known escape, so they are layered (README, "The read-only
guarantee"):

1. the gate (gate, lexer, limits, allowlist, sources): a length cap; the engine's own lexer rules
   must agree with sqlglot's reading of the text; nesting, set-operation and list caps before the
   parse; exactly one query; only allowlisted syntax and functions; only the configured tables;
2. the engine session (sessions): SQLite read-only URI + no attachments + `query_only`;
   PostgreSQL READ ONLY transactions rolled back after each query; MariaDB/MySQL `START
   TRANSACTION READ ONLY`; lexing-relevant settings pinned on every connection, session state
   reset after every query; a SELECT-only role or user (README);
3. deadlines held from outside the engine (executor), row and byte caps while fetching, and
   error messages that carry no data (errors).
"""

from nl2sql_pipeline.core.execution.errors import ErrorKind, classify_error
from nl2sql_pipeline.core.execution.executor import ExecutionResult, ReadOnlyExecutor, close_executors, executor_for
from nl2sql_pipeline.core.execution.gate import QUERY_ROOTS, QueryCheck, parse_query, quick_parse
from nl2sql_pipeline.core.execution.limits import DEFAULT_LIMITS, QueryLimits

__all__ = [
    "DEFAULT_LIMITS",
    "QUERY_ROOTS",
    "ErrorKind",
    "ExecutionResult",
    "QueryCheck",
    "QueryLimits",
    "ReadOnlyExecutor",
    "classify_error",
    "close_executors",
    "executor_for",
    "parse_query",
    "quick_parse",
]
