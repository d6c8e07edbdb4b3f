"""An audit trail of every statement the read-only executor runs on a customer's database: one
JSON line per statement in `$NL2SQL_HOME/audit/<run>.jsonl` (time, database, purpose, SQL text
and its hash, outcome, rows, bytes, elapsed), rotated by size.

No secret goes in: the database is its configured name (never the URL), driver messages pass
through the URL masking, and the executor only ever sees SQL. Appends are one `write` under an
exclusive `flock`, so the worker processes of an evaluation share one file safely.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, Field

from nl2sql_pipeline.core.config import nl2sql_home

if TYPE_CHECKING:
    from nl2sql_pipeline.core.execution import ExecutionResult, ReadOnlyExecutor

_LOCK = threading.Lock()


class AuditTarget(BaseModel):
    """Where and why statements are recorded; plain data, so it crosses process boundaries."""

    path: str
    purpose: str  # validation | synthesis | generation | feedback | evaluation | serving | ask
    run_id: str = ""
    max_bytes: int = Field(64 * 1024 * 1024, ge=1024)  # then <file>.1, <file>.2, ... (oldest dropped)
    backups: int = Field(5, ge=0)

    def for_purpose(self, purpose: str) -> AuditTarget:
        return self.model_copy(update={"purpose": purpose})


def audit_path(run_id: str, home: Path | None = None) -> Path:
    return (home or nl2sql_home()) / "audit" / f"{run_id}.jsonl"


def run_audit(run_id: str, purpose: str) -> AuditTarget:
    return AuditTarget(path=str(audit_path(run_id)), purpose=purpose, run_id=run_id)


@lru_cache(maxsize=8)
def _process_started(pid: int) -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")


def session_audit(purpose: str) -> AuditTarget:
    """For a process outside any Dagster run (nl2sql-ask, its HTTP API): one file per process,
    `<purpose>-<start time>-<pid>`."""
    run = f"{purpose}-{_process_started(os.getpid())}-{os.getpid()}"
    return run_audit(run, purpose)


def _result_bytes(rows: list[tuple]) -> int:
    return len(json.dumps(rows, default=str, ensure_ascii=False).encode()) if rows else 0


def audit_line(target: AuditTarget, database: str, sql: str, result: ExecutionResult) -> str:
    from nl2sql_pipeline.core.connection import mask_url_text

    record: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "run": target.run_id, "database": database, "purpose": target.purpose,
        "sql": sql, "sql_sha256": hashlib.sha256(sql.encode()).hexdigest(),
        "outcome": "ok" if result.ok else (result.error_kind or "error"),
        "rows": result.row_count, "truncated": result.truncated, "bytes": _result_bytes(result.rows),
        "elapsed_ms": round(result.elapsed_s * 1000, 2),
    }
    if result.error:
        record["error"] = mask_url_text(result.error)[:300]
    return json.dumps(record, ensure_ascii=False) + "\n"


def _rotate(path: Path, backups: int) -> None:
    if backups == 0:
        path.unlink(missing_ok=True)
        return
    for n in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))


def append(target: AuditTarget, line: str) -> None:
    """Append one line, rotating first when it would take the file past `max_bytes`."""
    path = Path(target.path)
    data = line.encode()
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and size + len(data) > target.max_bytes and os.path.samestat(os.fstat(fd), os.stat(path)):
                _rotate(path, target.backups)
                os.close(fd)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
        finally:
            os.close(fd)


class AuditedExecutor:
    """A ReadOnlyExecutor that records every `execute` (everything else is the executor's own)."""

    def __init__(self, inner: ReadOnlyExecutor, target: AuditTarget, database: str) -> None:
        self._inner, self._target, self._database = inner, target, database

    def execute(self, sql: str, **kwargs: Any) -> ExecutionResult:
        result = self._inner.execute(sql, **kwargs)
        append(self._target, audit_line(self._target, self._database, sql, result))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def audited(executor: ReadOnlyExecutor, target: AuditTarget | None, database: str) -> ReadOnlyExecutor:
    """`executor`, recording to `target` when one is given."""
    if target is None:
        return executor
    return cast("ReadOnlyExecutor", AuditedExecutor(executor, target, database))


def read_audit(path: Path) -> list[dict[str, Any]]:
    """The records of an audit file and its rotated parts, oldest first."""
    parts = sorted(path.parent.glob(f"{path.name}.*"), key=lambda p: -int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0)
    lines = [ln for p in [*parts, path] if p.exists() for ln in p.read_text(encoding="utf-8").splitlines() if ln]
    return [json.loads(ln) for ln in lines]
