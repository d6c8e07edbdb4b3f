"""Environments for the read-only guarantee tests: the sales_cn demo on each engine and role, a
planted secret (a file and a table outside the configured schema), and a snapshot of everything
a query must not change (tables, sequences, large objects, roles, locks, server state)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.demo import load_demo
from nl2sql_pipeline_tests.conftest import DATA
from nl2sql_pipeline_tests.servers import MYSQL_URL, PG_URL, require_server, scratch_database, scratch_pg_role

CLASSES = DATA / "validation" / "hostile_classes.sql"
EXCLUDE = ["secret_*"]


@dataclass
class Env:
    """One engine and role to run the corpus on."""

    label: str
    url: str  # what the executor gets
    dialect: str
    admin_url: str  # writable, for setup and snapshots
    secret: str
    secret_file: Path
    secret_schema: str
    out_dir: Path
    extra_admin: list[str] = field(default_factory=list)  # more databases to checksum

    def values(self) -> dict[str, str]:
        return {"secret_file": str(self.secret_file), "secret_schema": self.secret_schema, "out_dir": str(self.out_dir)}


def class_cases(values: dict[str, str]) -> list[tuple[str, frozenset[str] | None]]:
    """(sql, engines on which the gate must refuse it, None for all) of the class corpus.
    A `-- on: postgres mysql` line limits where a refusal is required (elsewhere the text is
    harmless, e.g. `--x` is a comment to SQLite); it must still change and leak nothing."""
    chunks = CLASSES.read_text(encoding="utf-8").split("\n----\n")[1:]
    cases = []
    for chunk in chunks:
        engines = None
        lines = []
        for line in chunk.strip().splitlines():
            if line.startswith("-- on:"):
                engines = frozenset(line.removeprefix("-- on:").split())
            elif not line.startswith("-- ") or lines:
                lines.append(line)
        sql = "\n".join(lines)
        for key, value in values.items():
            sql = sql.replace("{" + key + "}", value)
        sql = re.sub(r"\{U\+([0-9A-F]{4})\}", lambda m: chr(int(m.group(1), 16)), sql)
        if sql.strip():
            cases.append((sql, engines))
    return cases


def _plant(admin_url: str, secret: str) -> None:
    engine = sa.create_engine(admin_url)
    load_demo(engine, "sales_cn")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE secret_customers (customer_id INT, note VARCHAR(100))")
        conn.exec_driver_sql(f"INSERT INTO secret_customers VALUES (1, '{secret}')")
    engine.dispose()


def checksum(url: str) -> dict[str, str]:
    """A hash of every table's sorted rows and the table list, plus the engine's server state."""
    engine = sa.create_engine(url)
    backend = engine.url.get_backend_name()
    try:
        with engine.connect() as conn:
            names = sorted(sa.inspect(conn).get_table_names())
            prep = conn.dialect.identifier_preparer
            sums = {"_tables": ",".join(names)}
            for name in names:
                rows = sorted(repr(tuple(r)) for r in conn.exec_driver_sql(f"SELECT * FROM {prep.quote(name)}"))
                sums[name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            for label, sql in _STATE.get(backend, ()):
                sums[label] = repr([tuple(r) for r in conn.exec_driver_sql(sql)])
    finally:
        engine.dispose()
    return sums


_STATE = {
    "postgresql": (
        # Only roles a statement could have made or changed: other tests share the server.
        ("_roles", "SELECT rolname, rolconfig::text FROM pg_roles WHERE rolsuper OR rolname LIKE '%%evil%%' ORDER BY 1"),
        ("_sequences", "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2"),
        ("_large_objects", "SELECT count(*) FROM pg_largeobject_metadata"),
        ("_slots", "SELECT slot_name FROM pg_replication_slots ORDER BY 1"),
        ("_stats_reset", "SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()"),
        ("_bgwriter_reset", "SELECT stats_reset::text FROM pg_stat_bgwriter"),
        ("_conf_loaded", "SELECT pg_conf_load_time()::text"),
        ("_advisory_locks", "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                            "(SELECT oid FROM pg_database WHERE datname = current_database())"),
        ("_backup", "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'"),
    ),
    "mysql": (
        ("_users", "SELECT user, host FROM mysql.user WHERE Super_priv = 'Y' OR user LIKE '%%evil%%' ORDER BY 1, 2"),
        ("_globals", "SELECT @@global.read_only, @@global.sql_mode, @@global.max_statement_time, @@global.general_log"),
        ("_lock", "SELECT IS_FREE_LOCK('nl2sql_probe')"),
    ),
}


@contextmanager
def _secret_file(secret: str) -> Iterator[tuple[Path, Path]]:
    folder = Path(tempfile.mkdtemp(prefix="nl2sql_guarantee_"))
    folder.chmod(0o777)  # the servers' own users must be able to read the secret and write here
    out = folder / "out"
    out.mkdir()
    out.chmod(0o777)
    path = folder / "secret.txt"
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(0o644)
    try:
        yield path, out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def sqlite_env(tmp_path: Path) -> Iterator[Env]:
    secret = f"SECRET-{uuid.uuid4().hex}"
    path = tmp_path / "db" / "sales_cn.sqlite"
    path.parent.mkdir(parents=True)
    _plant(f"sqlite:///{path}", secret)
    with _secret_file(secret) as (file, out):
        yield Env("sqlite", sqlite_url(path, read_only=True).render_as_string(hide_password=False), "sqlite",
                  f"sqlite:///{path}", secret, file, "secret", out)


def _reader_grants(dbname: str, schema: str, settings: dict[str, str]) -> list[str]:
    """A SELECT-only login role (README's setup) that may also see the secret schema: only the gate stops it."""
    return [
        f"GRANT CONNECT ON DATABASE {dbname} TO {{role}}",
        "GRANT USAGE ON SCHEMA public TO {role}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
        "ALTER ROLE {role} SET default_transaction_read_only = on",
        *(f"ALTER ROLE {{role}} SET {k} = {v}" for k, v in settings.items()),
        f"GRANT USAGE ON SCHEMA {schema} TO {{role}}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {{role}}",
    ]


@contextmanager
def pg_env(kind: str) -> Iterator[Env]:
    """kind: superuser | reader | scs_off (database and role with standard_conforming_strings=off)."""
    server = require_server(PG_URL)
    secret = f"SECRET-{uuid.uuid4().hex}"
    with scratch_database(server) as url, _secret_file(secret) as (file, out):
        _plant(url, secret)
        schema = f"secret_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        dbname = make_url(url).database
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
                conn.exec_driver_sql(f"CREATE TABLE {schema}.customers AS SELECT 1 AS customer_id, '{secret}' AS note")
                conn.exec_driver_sql("CREATE SEQUENCE nl2sql_seq")
                if kind == "scs_off":
                    conn.exec_driver_sql(f"ALTER DATABASE {dbname} SET standard_conforming_strings = off")
            with ExitStack() as stack:
                exec_url = url
                if kind != "superuser":
                    settings = {"standard_conforming_strings": "off"} if kind == "scs_off" else {}
                    grants = _reader_grants(dbname, schema, settings)
                    exec_url = stack.enter_context(scratch_pg_role(url, "nl2sql_reader_", grants))
                yield Env(f"postgres-{kind}", exec_url, "postgres", url, secret, file, schema, out)
        finally:
            with admin.connect() as conn:
                if kind == "scs_off":
                    conn.exec_driver_sql(f"ALTER DATABASE {dbname} RESET standard_conforming_strings")
                conn.exec_driver_sql(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}' "
                    "AND pid <> pg_backend_pid()")
            admin.dispose()


@contextmanager
def mysql_env(kind: str) -> Iterator[Env]:
    """kind: root | reader | no_backslash (the session starts in NO_BACKSLASH_ESCAPES,ANSI_QUOTES:
    the executor must pin its own sql_mode; the shared server's global mode is never touched)."""
    server = require_server(MYSQL_URL)
    secret = f"SECRET-{uuid.uuid4().hex}"
    with scratch_database(server) as url, scratch_database(server, prefix="nl2sql_secret") as secret_url, \
            _secret_file(secret) as (file, out):
        _plant(url, secret)
        secret_db = make_url(secret_url).database
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE `{secret_db}`.customers (customer_id INT, note VARCHAR(100))")
            conn.exec_driver_sql(f"INSERT INTO `{secret_db}`.customers VALUES (1, '{secret}')")
        user = None
        exec_url = make_url(url)
        try:
            if kind == "reader":
                user = f"nl2sql_reader_{uuid.uuid4().hex[:8]}"
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"CREATE USER '{user}'@'%%'")
                    conn.exec_driver_sql(f"GRANT SELECT ON `{exec_url.database}`.* TO '{user}'@'%%'")
                exec_url = exec_url.set(username=user, password=None)
            if kind == "no_backslash":
                exec_url = exec_url.update_query_dict(
                    {"init_command": "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES,PIPES_AS_CONCAT'"})
            yield Env(f"mysql-{kind}", exec_url.render_as_string(hide_password=False), "mysql", url, secret, file,
                      secret_db, out, extra_admin=[secret_url])
        finally:
            if user:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"DROP USER '{user}'@'%%'")
            admin.dispose()


def files_in(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


class FreezingProxy:
    """A TCP proxy in front of a real server that can stop passing bytes: a statement that
    hangs where neither the engine's timer nor its cancel request can help (a stalled network,
    a built-in that never reaches an interrupt check). Only the executor's cut can end the wait."""

    def __init__(self, host: str, port: int) -> None:
        import socket
        import threading

        self.target = (host, port)
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst) -> None:  # noqa: ANN001 - sockets
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.frozen.is_set() and not self._stop:
                    time.sleep(0.05)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self.frozen.clear()
        self.listener.close()
