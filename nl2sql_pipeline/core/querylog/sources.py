"""Where the company's SQL comes from: report files, a query log file, the server's statement stats.

Every reader returns statements plus notes; none executes anything but our own fixed catalog reads
(pg_stat_statements, performance_schema) on a read-only session of their own (the untrusted-query
gate refuses system catalogs by design), and a source that is configured but unreadable says why
and how to fix it instead of failing the run.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from sqlglot.errors import SqlglotError

from nl2sql_pipeline.core.connection import mask_url_text
from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.querylog.models import DroppedStatement, LoggedStatement
from nl2sql_pipeline.core.querylog.normalize import split_statements

STATS_ROWS = 5000  # most frequent statements read from the server's statistics


def read_text(path: Path) -> str:
    """UTF-8 (with or without BOM), else GB18030: Chinese Windows tools and Excel save GBK files."""
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ConfigError(f"{path} is neither UTF-8 nor GB18030 text.", "save it as UTF-8.")


def read_sql_dir(folder: Path, dialect: str) -> tuple[list[LoggedStatement], list[DroppedStatement]]:
    """Every `*.sql` below `folder` (sorted), split into statements."""
    if not folder.is_dir():
        raise ConfigError(f"query_log.sql_dir {folder} is not a folder.",
                          "point query_log.sql_dir at a folder of *.sql files (relative to the config file).")
    out: list[LoggedStatement] = []
    dropped: list[DroppedStatement] = []
    for path in sorted(folder.rglob("*.sql")):
        name = path.relative_to(folder.parent).as_posix()
        try:
            out += split_statements(read_text(path), dialect, name)
        except ConfigError as err:
            dropped.append(DroppedStatement(origin=name, reason="file is not text in a known encoding", detail=err.cause))
        except (SqlglotError, ValueError) as err:
            dropped.append(DroppedStatement(origin=name, reason="syntax: file cannot be split into statements",
                                            detail=str(err)[:200]))
    return out, dropped


def _row(record: dict, where: str) -> LoggedStatement:
    sql = record.get("sql")
    if not isinstance(sql, str):
        raise ConfigError(f"{where}: no `sql` text in {sorted(record)}.",
                          "give every line/row a `sql` field (optional: question, count).")
    count = record.get("count") or 1
    try:
        count = int(count)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: count {count!r} is not a whole number.", "write count as a number or leave it out.") from None
    question = record.get("question")
    return LoggedStatement(sql=sql.strip(), question=str(question).strip() or None if question else None,
                           count=max(count, 1), origin=where)


def read_log_file(path: Path) -> list[LoggedStatement]:
    """JSONL (one object per line) or CSV (a header row) with sql[, question, count]."""
    if not path.is_file():
        raise ConfigError(f"query_log.file {path} does not exist.",
                          "point query_log.file at a .jsonl or .csv file (relative to the config file).")
    text = read_text(path)
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "sql" not in reader.fieldnames:
            raise ConfigError(f"{path}: the CSV header {reader.fieldnames} has no `sql` column.",
                              "start the file with a header row such as `sql,question,count`.")
        return [_row(r, f"{path.name}:{i}") for i, r in enumerate(reader, start=2)]
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path.name}:{i} is not JSON ({err.msg}).",
                              "write one JSON object per line (JSONL), or use a .csv file with a header.") from None
        if not isinstance(record, dict):
            raise ConfigError(f"{path.name}:{i} is not a JSON object.", 'write objects like {"sql": "...", "count": 3}.')
        out.append(_row(record, f"{path.name}:{i}"))
    return out


_READ_ONLY_SESSION = {"postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                      "mysql": "SET SESSION TRANSACTION READ ONLY", "mariadb": "SET SESSION TRANSACTION READ ONLY"}


def _catalog_rows(executor: ReadOnlyExecutor, sql: str) -> list[tuple] | str:
    """The rows of one fixed catalog query of ours, or the error's first line."""
    engine = sa.create_engine(executor.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(_READ_ONLY_SESSION[executor.backend])
            return [tuple(r) for r in conn.exec_driver_sql(sql).fetchmany(STATS_ROWS)]
    except sa.exc.SQLAlchemyError as err:
        return mask_url_text(str(getattr(err, "orig", err)).splitlines()[0][:200])
    finally:
        engine.dispose()


def _scalar(executor: ReadOnlyExecutor, sql: str) -> object | None:
    rows = _catalog_rows(executor, sql)
    return rows[0][0] if isinstance(rows, list) and rows else None


def read_pg_stat_statements(executor: ReadOnlyExecutor, min_count: int = 1) -> tuple[list[LoggedStatement], list[str]]:
    """This database's statements from pg_stat_statements, most called first; the pipeline's own
    role is left out (its validation queries would otherwise come back as company SQL)."""
    schema = _scalar(executor, "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                               "WHERE e.extname = 'pg_stat_statements'")
    if schema is None:
        return [], ["pg_stat_statements: the extension is not installed in this database; a superuser runs "
                    "CREATE EXTENSION pg_stat_statements there (it records only with shared_preload_libraries "
                    "= 'pg_stat_statements' in postgresql.conf)"]
    view = f'"{str(schema).replace(chr(34), chr(34) * 2)}".pg_stat_statements'
    rows = _catalog_rows(executor,
        f"SELECT s.query, s.calls FROM {view} AS s WHERE s.dbid = (SELECT oid FROM pg_database WHERE "
        f"datname = current_database()) AND s.userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user) "
        f"AND s.calls >= {int(min_count)} ORDER BY s.calls DESC, s.queryid LIMIT {STATS_ROWS}")
    if isinstance(rows, str):
        return [], [f"pg_stat_statements: cannot be read ({rows}); it needs shared_preload_libraries = "
                    "'pg_stat_statements' and a role with pg_read_all_stats to see other roles' statements"]
    hidden = [r for r in rows if str(r[0]) == "<insufficient privilege>"]
    out = [LoggedStatement(sql=str(q), count=int(calls), origin="pg_stat_statements", placeholders=True)
           for q, calls in rows if q and str(q) != "<insufficient privilege>"]
    notes = [f"pg_stat_statements: {len(out)} statements of other roles in this database"]
    if hidden:
        notes.append(f"pg_stat_statements: {len(hidden)} statements hidden from this role; GRANT pg_read_all_stats TO it")
    return out, notes


_IN_ELLIPSIS = re.compile(r"\(\s*\.\.\.\s*\)")


def digest_statement(text: str, count: int) -> LoggedStatement:
    """A performance_schema digest as a statement: `IN (...)` (a list of unknown length) becomes
    `IN (?, ?)` so it parses and is filled with two real values."""
    return LoggedStatement(sql=_IN_ELLIPSIS.sub("(?, ?)", text.strip()), count=count, origin="performance_schema",
                           placeholders=True)


def read_performance_schema(executor: ReadOnlyExecutor, min_count: int = 1) -> tuple[list[LoggedStatement], list[str]]:
    """Statement digests of the current database (MySQL/MariaDB), most frequent first."""
    enabled = _scalar(executor, "SELECT @@performance_schema")
    if not enabled or str(enabled) in ("0", "OFF"):
        return [], ["performance_schema: off on this server (performance_schema=ON in the server's "
                    "configuration, which takes a restart); no digests read"]
    rows = _catalog_rows(executor,
        "SELECT DIGEST_TEXT, COUNT_STAR FROM performance_schema.events_statements_summary_by_digest "
        f"WHERE SCHEMA_NAME = DATABASE() AND DIGEST_TEXT IS NOT NULL AND COUNT_STAR >= {int(min_count)} "
        f"ORDER BY COUNT_STAR DESC, DIGEST LIMIT {STATS_ROWS}")
    if isinstance(rows, str):
        return [], [f"performance_schema: digests cannot be read ({rows}); GRANT SELECT ON "
                    "performance_schema.* to the pipeline's user"]
    out = [digest_statement(str(text), int(count)) for text, count in rows]
    return out, [f"performance_schema: {len(out)} statement digests of this database"]
