"""Step 1: turn a configured database into a SQLAlchemy engine and probe it.

Connection errors are translated into sentences that name the cause and the fix and never
contain the password.
"""

from __future__ import annotations

import os
import re
import time
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import URL, Engine, make_url

from nl2sql_pipeline.core.config import DatabaseConfig, nl2sql_home
from nl2sql_pipeline.core.errors import ConfigError, DatabaseConnectionError
from nl2sql_pipeline.core.selection import check_selection, missing_schema

# SQLAlchemy backend name -> sqlglot dialect name.
SQLGLOT_DIALECTS = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "tsql",
    "duckdb": "duckdb",
}

DRIVER_EXTRAS = {
    "pymysql": "pip install 'nl2sql-pipeline[mysql]' (PyMySQL)",
    "mysqldb": "pip install 'nl2sql-pipeline[mysql]' and use mysql+pymysql://",
    "pymssql": "pip install 'nl2sql-pipeline[mssql]' (pymssql)",
    "pyodbc": "pip install pyodbc and an ODBC driver (apt-get install tdsodbc unixodbc)",
    "psycopg2": "pip install psycopg2-binary",
    "psycopg": "pip install 'psycopg[binary]'",
}


class ConnectionReport(BaseModel):
    """What step 1 learned about a database; safe to show (no credentials)."""

    database: str
    url: str  # password masked
    backend: str
    dialect: str  # sqlglot dialect
    server_version: str
    database_name: str
    table_count: int
    latency_ms: float
    read_only: bool


def resolve_url(db: DatabaseConfig) -> URL:
    """The SQLAlchemy URL of a configured database (building a demo database on first use)."""
    if db.demo:
        from nl2sql_pipeline.demo import ensure_demo_database

        path = ensure_demo_database(db.demo, nl2sql_home() / "demo")
        return sqlite_url(path, read_only=True)
    if db.url_env:
        raw = os.environ.get(db.url_env)
        if not raw:
            raise ConfigError(
                f"Database {db.name!r}: environment variable {db.url_env} is not set.",
                f"export {db.url_env}='dialect+driver://<user>:<password>@<host>:<port>/<dbname>' before running.",
            )
    else:
        raw = db.url or ""
    try:
        url = make_url(raw)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"Database {db.name!r}: {mask_url_text(raw)!r} is not a SQLAlchemy URL.",
            "write it as dialect+driver://<user>:<password>@<host>:<port>/<dbname>, e.g. postgresql+psycopg2://...",
        ) from None
    if url.get_backend_name() == "sqlite":
        return _checked_sqlite_url(db, url)
    return url


def sqlite_url(path: Path, *, read_only: bool) -> URL:
    """A URI-mode SQLite URL; `mode=ro` refuses writes and never creates a missing file."""
    mode = "ro" if read_only else "rwc"
    return make_url(f"sqlite+pysqlite:///file:{Path(path).resolve()}?mode={mode}&uri=true")


def _checked_sqlite_url(db: DatabaseConfig, url: URL) -> URL:
    database = url.database or ""
    if database in ("", ":memory:"):
        raise ConfigError(
            f"Database {db.name!r}: an in-memory SQLite database has no schema to learn from.",
            "point url at a SQLite file: sqlite:////absolute/path/to/file.sqlite",
        )
    path = Path(database.removeprefix("file:").split("?")[0])
    if not path.exists():
        raise DatabaseConnectionError(
            f"Database {db.name!r}: SQLite file {path} does not exist (it is never created empty).",
            "check the path in url (sqlite:///relative or sqlite:////absolute) or build the file first.",
        )
    return sqlite_url(path, read_only=True)


def mask_url_text(text: str) -> str:
    """Hide `user:password@` credentials anywhere in a string."""
    return re.sub(r"(://[^:/@\s]*):[^@/\s]*@", r"\1:***@", text)


def sqlglot_dialect(db: DatabaseConfig, url: URL) -> str:
    if db.dialect:
        return db.dialect
    return SQLGLOT_DIALECTS.get(url.get_backend_name(), url.get_backend_name())


@lru_cache(maxsize=64)
def _cached_engine(url_text: str) -> Engine:
    url = make_url(url_text)
    kwargs: dict = {"pool_pre_ping": True}
    backend = url.get_backend_name()
    if backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 10}
    elif backend in ("mysql", "mariadb"):
        kwargs["connect_args"] = {"connect_timeout": 10}
    return sa.create_engine(url, **kwargs)


def engine_for(db: DatabaseConfig) -> Engine:
    """One pooled engine per database and process: connections are reused, never one per query."""
    url = resolve_url(db)
    try:
        return _cached_engine(url.render_as_string(hide_password=False))
    except (sa.exc.NoSuchModuleError, ModuleNotFoundError) as err:
        raise _driver_error(db, url, err) from None


def _driver_error(db: DatabaseConfig, url: URL, err: Exception) -> DatabaseConnectionError:
    driver = url.get_driver_name() or url.get_backend_name()
    fix = DRIVER_EXTRAS.get(driver, f"install the DBAPI driver for {url.drivername!r} or fix the URL's driver name")
    return DatabaseConnectionError(
        f"Database {db.name!r}: no driver for {url.drivername!r} ({type(err).__name__}: {err}).", fix
    )


def explain_connection_error(db: DatabaseConfig, url: URL, err: Exception) -> DatabaseConnectionError:
    """Turn a driver's message into cause + fix, without the password."""
    text = str(getattr(err, "orig", None) or err)
    if url.password:
        text = text.replace(str(url.password), "***")
    text = mask_url_text(text).strip().splitlines()[0] if text.strip() else type(err).__name__
    where = f"{url.host or 'localhost'}:{url.port or 'default port'}"
    low = text.lower()
    if any(s in low for s in ("password authentication failed", "access denied", "login failed", "no password supplied")):
        cause = "authentication failed"
        fix = (f"check the user name and password in the URL in ${db.url_env}" if db.url_env
               else "check the user name and password of the URL")
    elif "does not exist" in low and "database" in low or "unknown database" in low:
        cause, fix = f"database {url.database!r} does not exist on {where}", "create it or correct the database name in the URL"
    elif any(s in low for s in ("connection refused", "can't connect", "could not connect", "timed out", "timeout")):
        cause, fix = f"cannot reach the server at {where}", "check host and port, and that the server is running and accepts TCP connections"
    elif any(s in low for s in ("could not translate host", "name or service not known", "nodename nor servname", "unknown mysql server host", "temporary failure in name resolution")):
        cause, fix = f"unknown host {url.host!r}", "correct the host name in the URL"
    elif any(s in low for s in ("too many connections", "too many clients", "max_user_connections", "connection limit")):
        cause = f"the server at {where} refused another connection (connection limit reached)"
        fix = "allow the role at least 3 connections (step 2 reads the catalog over three at once), or free some"
    elif "unable to open database file" in low:
        cause, fix = f"cannot open SQLite file {url.database}", "check the file exists and is readable"
    else:
        cause, fix = "the connection failed", "check the URL, the server and the driver"
    return DatabaseConnectionError(f"Database {db.name!r}: {cause} ({text}).", fix)


def _server_facts(conn: sa.Connection, backend: str) -> tuple[str, str, bool]:
    """(server version, database name, read-only) as the server reports them."""
    if backend == "sqlite":
        version = conn.exec_driver_sql("select sqlite_version()").scalar_one()
        return f"SQLite {version}", "main", True  # opened with mode=ro
    if backend == "postgresql":
        version = conn.exec_driver_sql("show server_version").scalar_one()
        name = conn.exec_driver_sql("select current_database()").scalar_one()
        ro_setting = conn.exec_driver_sql("show transaction_read_only").scalar_one() == "on"
        can_write = conn.exec_driver_sql(
            "select coalesce(bool_or(has_table_privilege(c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE')), false) "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.relkind in ('r','p') and n.nspname not in ('pg_catalog','information_schema')"
        ).scalar_one()
        return f"PostgreSQL {version}", name, ro_setting or not can_write
    if backend in ("mysql", "mariadb"):
        version = conn.exec_driver_sql("select version()").scalar_one()
        name = conn.exec_driver_sql("select database()").scalar_one() or ""
        flavour = "MariaDB" if "mariadb" in str(version).lower() else "MySQL"
        # MariaDB (and MySQL < 8) name it tx_read_only; MySQL 8 dropped that name.
        variable = "tx_read_only" if flavour == "MariaDB" else "transaction_read_only"
        ro = conn.exec_driver_sql(f"select @@session.{variable}").scalar_one()
        return f"{flavour} {version}", name, bool(int(ro))
    if backend == "mssql":
        version = conn.exec_driver_sql("select @@version").scalar_one()
        name = conn.exec_driver_sql("select db_name()").scalar_one()
        return str(version).splitlines()[0], name, False
    return backend, str(conn.engine.url.database or ""), False


def probe(db: DatabaseConfig) -> ConnectionReport:
    """Step 1: connect once, measure latency, and report what the server is."""
    engine = engine_for(db)
    url = engine.url
    backend = url.get_backend_name()
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1").scalar_one()
            latency_ms = (time.perf_counter() - started) * 1000
            version, name, read_only = _server_facts(conn, backend)
            try:
                all_names = sa.inspect(conn).get_table_names(schema=db.db_schema)
            except sa.exc.DBAPIError:
                if (missing := missing_schema(db, conn)) is not None:
                    raise missing from None
                raise
            tables = [t for t in all_names if db.includes_table(t)]
            check_selection(db, conn, all_names, tables)  # a schema or patterns selecting nothing fail here
    except sa.exc.DBAPIError as err:
        raise explain_connection_error(db, url, err) from None
    return ConnectionReport(
        database=db.name,
        url=url.render_as_string(hide_password=True),
        backend=backend,
        dialect=sqlglot_dialect(db, url),
        server_version=str(version),
        database_name=str(name),
        table_count=len(tables),
        latency_ms=round(latency_ms, 2),
        read_only=read_only,
    )
